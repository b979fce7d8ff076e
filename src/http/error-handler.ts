// Turns every failure into a coded 4xx/5xx in the body shape of the route's surface; unknown failures are
// logged with their cause and answered as a plain 500 that leaks nothing.
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import FindMyWay from 'find-my-way';
import { BotgateError } from '../errors.ts';
import { errorFormat, surfaceOf } from './error-bodies.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which surface's error body shape the route answers with (api, kore, platform, twilio). */
    errorFormat?: string;
  }
}

interface AjvIssue {
  keyword: string;
  instancePath: string;
  schemaPath?: string;
  message?: string;
  params: Record<string, unknown>;
}

export function toBotgateError(error: FastifyError | BotgateError | Error): BotgateError {
  if (error instanceof BotgateError) return error;
  const e = error as FastifyError & { validation?: AjvIssue[]; validationContext?: string };
  if (e.validation) return fromValidation(e.validation, e.validationContext ?? 'body');
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new BotgateError('BG_ERR_PAYLOAD_TOO_LARGE');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new BotgateError('BG_ERR_UNSUPPORTED_MEDIA_TYPE', 'Unsupported Content-Type; send application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new BotgateError('BG_ERR_INVALID_JSON');
  }
  const taken = uniqueViolation(error);
  if (taken) return new BotgateError('BG_ERR_CONFLICT', `That ${taken.column} is taken (${taken.table})`, { cause: error });
  if (error instanceof SyntaxError || (e.statusCode === 400 && /JSON/i.test(e.message))) return new BotgateError('BG_ERR_INVALID_JSON');
  if (e.statusCode === 413) return new BotgateError('BG_ERR_PAYLOAD_TOO_LARGE');
  if (e.statusCode === 415) return new BotgateError('BG_ERR_UNSUPPORTED_MEDIA_TYPE');
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) return new BotgateError('BG_ERR_VALIDATION', e.message);
  return new BotgateError('BG_ERR_INTERNAL', undefined, { cause: error });
}

/**
 * A unique constraint the store refused (two writers racing for a name, or a check that missed one): a conflict
 * with what exists, not a server failure. SQLite: SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY; PostgreSQL: 23505.
 */
function uniqueViolation(error: Error): { table: string; column: string } | null {
  const e = error as Error & { errcode?: number; code?: string; table?: string; detail?: string };
  if (e.errcode === 2067 || e.errcode === 1555) {
    const m = /constraint failed: (\w+)\.(\w+)/.exec(e.message);
    return m ? { table: m[1], column: m[2] } : { table: 'record', column: 'key' };
  }
  if (e.code === '23505') {
    const m = /^Key \(([^)]+)\)/.exec(e.detail ?? '');
    return { table: e.table ?? 'record', column: m ? m[1] : 'key' };
  }
  return null;
}

function fromValidation(issues: AjvIssue[], where: string): BotgateError {
  const issue = issues[0];
  const path = `${where}${issue.instancePath.replaceAll('/', '.')}`;
  if (issue.keyword === 'additionalProperties') {
    return new BotgateError('BG_ERR_UNKNOWN_FIELD', `${path} has an unknown field ${JSON.stringify(issue.params.additionalProperty)}`);
  }
  if (issue.keyword === 'required') return new BotgateError('BG_ERR_VALIDATION', `${path} must have ${JSON.stringify(issue.params.missingProperty)}`);
  const allowed = allowedValues(issues);
  if (allowed) return new BotgateError('BG_ERR_VALIDATION', `${path} must be one of ${allowed.map(String).join(', ')}`);
  return new BotgateError('BG_ERR_VALIDATION', `${path} ${issue.message ?? 'is invalid'}`);
}

/**
 * The values a value failing a list of choices may take: an enum's, or those of a union of literals (an anyOf whose
 * every form is a const; Ajv reports each as "must be equal to constant", which names none of them). Null otherwise.
 */
function allowedValues(issues: AjvIssue[]): unknown[] | null {
  const [issue] = issues;
  if (issue.keyword === 'enum' && Array.isArray(issue.params.allowedValues)) return issue.params.allowedValues;
  const union = issue.keyword === 'const' ? /^(.*\/anyOf)\/\d+\/const$/.exec(issue.schemaPath ?? '') : null;
  if (!union) return null;
  const forms = issues.filter((i) => (i.schemaPath ?? '').startsWith(`${union[1]}/`));
  if (!forms.every((i) => i.keyword === 'const' && i.instancePath === issue.instancePath)) return null;
  return forms.map((i) => i.params.allowedValue);
}

export function installErrorHandling(app: FastifyInstance, routerOptions: { maxParamLength: number }): void {
  // Every route's method and path, as Fastify's router has them: a path served under other methods answers 405
  // with an Allow header instead of 404. Installed before the routes, so onRoute sees each of them.
  const paths = FindMyWay({ maxParamLength: routerOptions.maxParamLength });
  const declared = new Set<string>();
  const methods = new Set<string>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      const key = `${method} ${route.url}`;
      if (declared.has(key)) continue;
      declared.add(key);
      methods.add(method);
      paths.on(method as never, route.url, () => {});
    }
  });
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply) => {
    const coded = toBotgateError(error);
    if (coded.statusCode >= 500) request.log.error({ err: error }, 'request failed');
    // Only a unique violation turned into a 409 (a 400 renamed by withFieldNames carries a cause too).
    else if (coded.code === 'BG_ERR_CONFLICT' && coded.cause) request.log.warn({ err: error }, 'the store refused a write as a conflict');
    for (const [name, value] of Object.entries(coded.headers)) reply.header(name, value);
    reply.code(coded.statusCode).send(errorFormat(request.routeOptions.config?.errorFormat)(coded, reply));
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const allowed = [...methods].filter((m) => paths.find(m as never, path) !== null).sort();
    const coded = allowed.length
      ? new BotgateError('BG_ERR_METHOD_NOT_ALLOWED', `${path} does not take ${request.method}; it takes ${allowed.join(', ')}`)
      : new BotgateError('BG_ERR_ROUTE_NOT_FOUND', `No route ${request.method} ${path}`);
    if (allowed.length) reply.header('allow', allowed.join(', '));
    reply.code(coded.statusCode).send(errorFormat(surfaceOf(request.url))(coded, reply));
  });
}
