// Request validation: bodies are validated strictly (no type coercion, unknown fields refused); query
// strings and path parameters are strings on the wire, so they are coerced to the schema's types.
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import sjson from 'secure-json-parse';
import { BotgateError } from '../errors.ts';

/** Marks a body schema whose body may be absent (see optionalBody in schemas.ts). */
export const OPTIONAL_BODY = 'x-optional-body';

function makeAjv(coerce: boolean) {
  const ajv = new Ajv({ coerceTypes: coerce ? 'array' : false, useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv;
}

export function installValidation(app: FastifyInstance): void {
  const strict = makeAjv(false);
  const coercing = makeAjv(true);
  app.setValidatorCompiler(({ schema, httpPart }) => {
    if (httpPart !== 'body') return coercing.compile(schema);
    const validate = strict.compile(schema);
    if (!(schema as Record<string, unknown>)[OPTIONAL_BODY]) return validate;
    // An optional body may be left out entirely.
    return (data: unknown) => (data === undefined || data === null ? true : validate(data));
  });
}

/**
 * JSON bodies: an empty body counts as no body (action routes such as /enable are often POSTed with a JSON
 * content type and nothing else); prototype poisoning keys are refused (secure-json-parse).
 */
export function installJsonParser(app: FastifyInstance): void {
  // Every route reads JSON (or its own form parser): a text/plain body is 415, not a 400 about its shape.
  app.removeContentTypeParser('text/plain');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch (error) {
      done(new BotgateError('BG_ERR_INVALID_JSON', `The body is not valid JSON: ${(error as Error).message}`), undefined);
    }
  });
}
