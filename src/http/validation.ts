// Request validation: bodies are validated strictly (no type coercion, unknown fields refused); query
// strings and path parameters are strings on the wire, so they are coerced to the schema's types.
import { isUtf8 } from 'node:buffer';
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
  // RFC 3339 allows a leap second (23:59:60) that Date.parse cannot read (NaN): a time we could not use is refused.
  const rfc3339 = (ajv.formats as Record<string, unknown>)['date-time'];
  const base = typeof rfc3339 === 'function' ? (rfc3339 as (s: string) => boolean) : (rfc3339 as { validate: (s: string) => boolean }).validate;
  ajv.addFormat('date-time', { type: 'string', validate: (text: string) => base(text) && Number.isFinite(Date.parse(text)) });
  return ajv;
}

export function installValidation(app: FastifyInstance): void {
  const strict = makeAjv(false);
  const coercing = makeAjv(true);
  app.setValidatorCompiler(({ schema, httpPart }) => {
    if (httpPart !== 'body') return coercing.compile(schema);
    const validate = strict.compile(schema);
    if (!(schema as Record<string, unknown>)[OPTIONAL_BODY]) return validate;
    // An optional body may be left out entirely. Fastify reads a failure's reasons from the function's `errors`
    // (no errors there counts as valid), so the wrapper carries the inner validator's.
    const optional = (data: unknown): boolean => {
      if (data === undefined || data === null) {
        optional.errors = null;
        return true;
      }
      const ok = validate(data);
      optional.errors = validate.errors;
      return ok;
    };
    optional.errors = null as typeof validate.errors;
    return optional;
  });
}

/**
 * JSON bodies: an empty body counts as no body (action routes such as /enable are often POSTed with a JSON
 * content type and nothing else); prototype poisoning keys are refused (secure-json-parse).
 */
export function installJsonParser(app: FastifyInstance, options: { exactNumbers?: boolean } = {}): void {
  // Every route reads JSON (or its own form parser): a text/plain body is 415, not a 400 about its shape.
  if (app.hasContentTypeParser('text/plain')) app.removeContentTypeParser('text/plain');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      // Bytes that are not UTF-8 would decode to U+FFFD: two ids differing in them would become one.
      if (!isUtf8(body as Buffer)) throw new BotgateError('BG_ERR_VALIDATION', 'The body is not valid UTF-8');
      done(null, parseJsonBody((body as Buffer).toString('utf8'), options));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}

/** Nesting deeper than this is refused (deep enough for any webhook; far from where JSON.stringify overflows the stack). */
export const MAX_JSON_DEPTH = 100;

/**
 * A JSON request body (every parser of ours): empty is none; prototype-poisoning keys, nesting deeper than
 * MAX_JSON_DEPTH, strings holding NUL (U+0000, which PostgreSQL cannot store in text, so it would fail deep in a
 * write) or an unpaired UTF-16 surrogate (stored, it turns into U+FFFD: two ids would become one) are refused with a 400.
 */
export function parseJsonBody(text: string, options: { exactNumbers?: boolean } = {}): unknown {
  if (text.trim() === '') return undefined;
  // Each level takes two characters at least: a short body cannot be too deep.
  if (text.length > 2 * MAX_JSON_DEPTH && nestedDeeper(text, MAX_JSON_DEPTH)) {
    throw new BotgateError('BG_ERR_VALIDATION', `The body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`);
  }
  let value: unknown;
  try {
    value = sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    throw new BotgateError('BG_ERR_INVALID_JSON', `The body is not valid JSON: ${(error as Error).message}`);
  }
  if (text.includes('\\u0000') && holdsNul(value)) throw new BotgateError('BG_ERR_VALIDATION', 'Text may not contain the NUL character (U+0000)');
  // A number JSON text can say but a double cannot hold would be stored and sent changed: refused. Only read when the
  // text has a long digit run or a large exponent (a second parse that sees each number's own text). Not for what
  // chat platforms send (`exactNumbers: false`): their message is taken as it parses rather than lost.
  if (options.exactNumbers !== false && BIG_NUMBER.test(text)) JSON.parse(text, refuseLossyNumber as (key: string, value: unknown) => unknown);
  // A surrogate can only arrive escaped (\uD800–\uDFFF): UTF-8 bytes (checked by the parser) decode to well-formed text.
  if (SURROGATE_ESCAPE.test(text) && someString(value, (t) => !t.isWellFormed())) throw new BotgateError('BG_ERR_VALIDATION', 'Text may not contain an unpaired UTF-16 surrogate (\\uD800–\\uDFFF)');
  return value;
}

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

const BIG_NUMBER = /\d{16}|[eE]\+?\d{3}/;

function refuseLossyNumber(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number') return value;
  const source = context?.source ?? String(value);
  if (!Number.isFinite(value)) throw new BotgateError('BG_ERR_VALIDATION', `The number ${source.slice(0, 40)} is too large to be kept: send it as a string`);
  // An integer past 2^53 comes out as another one (12345678901234567890 as 12345678901234567000).
  if (/^-?\d+$/.test(source) && BigInt(source) !== BigInt(value)) {
    throw new BotgateError('BG_ERR_VALIDATION', `The integer ${source.slice(0, 40)} is beyond 2^53 and would be changed (JSON numbers are doubles here): send it as a string`);
  }
  return value;
}

/** Whether JSON text opens more than max objects/arrays inside each other (brackets within strings do not count). */
function nestedDeeper(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

/** Whether a string anywhere in this value (keys too) holds NUL. */
export function holdsNul(value: unknown): boolean {
  return someString(value, (t) => t.includes('\u0000'));
}

/** Whether a string anywhere in this value (keys too) meets the test. */
function someString(value: unknown, test: (text: string) => boolean): boolean {
  if (typeof value === 'string') return test(value);
  if (Array.isArray(value)) return value.some((v) => someString(v, test));
  if (value && typeof value === 'object') return Object.entries(value).some(([k, v]) => test(k) || someString(v, test));
  return false;
}
