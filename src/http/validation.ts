// Request validation: bodies are validated strictly (no type coercion, unknown fields refused); query
// strings and path parameters are strings on the wire, so they are coerced to the schema's types.
import { isUtf8 } from 'node:buffer';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import sjson from 'secure-json-parse';
import { BotgateError } from '../errors.ts';
import { withoutTrailing } from '../text-end.ts';

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
  // The API's own routes take no query parameter they do not declare: a typo (`?limt=5`) is 400 BG_ERR_UNKNOWN_FIELD
  // everywhere, not only where a route has parameters. Inbound webhook routes (platforms append their own) are left alone.
  // Likewise a route that takes no body (an action such as /enable, a DELETE) refuses one that says something: a field
  // is 400 BG_ERR_UNKNOWN_FIELD as on routes with bodies, anything but an object 400; no body, null or {} is none.
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/') || INBOUND_WEBHOOKS.some((prefix) => route.url.startsWith(prefix))) return;
    const schema = route.schema as Record<string, unknown> | undefined;
    if (schema && !schema.querystring) schema.querystring = { type: 'object', properties: {}, additionalProperties: false };
    if (!schema?.body && [route.method].flat().some((m) => BODY_METHODS.has(m))) {
      route.preValidation = [...[route.preValidation ?? []].flat(), refuseBody];
    }
    // So every such route can answer 400 (an unknown query parameter, a body where none is taken, a path parameter out
    // of range): the OpenAPI document says so for each, also where the route's own schema names no 400.
    const response = schema?.response as Record<string, unknown> | undefined;
    if (response && !response[400] && !response['400']) response[400] = { $ref: 'ErrorBody' };
  });
  const strict = makeAjv(false);
  const coercing = makeAjv(true);
  app.setValidatorCompiler(({ schema, httpPart }) => {
    if (httpPart !== 'body') return coercing.compile(schema);
    const validate = unionTold(strict, schema as Record<string, unknown>);
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

/** Where platforms post (they append query parameters of their own); /api/webhook/config and /messages are the API's. */
const INBOUND_WEBHOOKS = ['/api/webhook/incoming', '/api/webhook/twilio'];
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The preValidation of a route that takes no body (GET and HEAD bodies are never read). */
async function refuseBody(request: FastifyRequest): Promise<void> {
  const body = request.body;
  if (body === undefined || body === null) return;
  if (typeof body !== 'object' || Array.isArray(body)) throw new BotgateError('BG_ERR_VALIDATION', 'body: this route takes no body; send none (or {})');
  const [field] = Object.keys(body);
  if (field !== undefined) throw new BotgateError('BG_ERR_UNKNOWN_FIELD', `body has an unknown field ${JSON.stringify(field)}: this route takes no body`);
}

type Validate = ((data: unknown) => boolean) & { errors?: ReturnType<Ajv['compile']>['errors'] };

/**
 * A body that is one of several forms (anyOf: one event or {events: [...]}): refused with the reasons of the form it
 * means, the one declaring every field it has ("body.events.1 must have event_type"), not those of the first form.
 */
function unionTold(ajv: Ajv, schema: Record<string, unknown>): Validate {
  const whole = ajv.compile(schema) as Validate;
  if (!Array.isArray(schema.anyOf)) return whole;
  const forms = (schema.anyOf as Record<string, unknown>[]).map((form) => ({ fields: Object.keys((form.properties ?? {}) as object), validate: ajv.compile(form) as Validate }));
  const told = ((data: unknown): boolean => {
    told.errors = null;
    if (whole(data)) return true;
    const keys = data && typeof data === 'object' && !Array.isArray(data) ? Object.keys(data) : [];
    const meant = keys.length ? forms.find((f) => keys.every((k) => f.fields.includes(k))) : undefined;
    if (meant && !meant.validate(data)) told.errors = meant.validate.errors;
    else told.errors = whole.errors;
    return false;
  }) as Validate;
  return told;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Where a body may hold keys named __proto__ (a message's payload, sent as given): paths, `*` for any item. */
    jsonAnyKeysUnder?: string[][];
  }
}

/**
 * JSON bodies: an empty body counts as no body (action routes such as /enable are often POSTed with a JSON
 * content type and nothing else); prototype poisoning keys are refused (secure-json-parse) except where the route
 * takes any keys (jsonAnyKeysUnder).
 */
export function installJsonParser(app: FastifyInstance, options: JsonOptions = {}): void {
  // Every route reads JSON (or its own form parser): a text/plain body is 415, not a 400 about its shape.
  if (app.hasContentTypeParser('text/plain')) app.removeContentTypeParser('text/plain');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      // Bytes that are not UTF-8 would decode to U+FFFD: two ids differing in them would become one.
      if (!isUtf8(body as Buffer)) throw new BotgateError('BG_ERR_VALIDATION', 'The body is not valid UTF-8');
      const anyKeysUnder = request.routeOptions.config?.jsonAnyKeysUnder;
      done(null, parseJsonBody((body as Buffer).toString('utf8'), anyKeysUnder ? { ...options, anyKeysUnder } : options));
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
export interface JsonOptions {
  /**
   * A number a double cannot hold as written: `refuse` (400, the default: the API stores and sends what it was
   * given), or `text` (it becomes the string of its digits: what chat platforms send is taken, and a long id stays
   * that id rather than a rounded one another id rounds to as well).
   */
  lossyNumbers?: 'refuse' | 'text';
  /**
   * Where keys named `__proto__` (or a `constructor` holding `prototype`) are plain data, kept and sent as given (a
   * message's payload, only ever serialised again): paths of keys, `*` for any array item. Elsewhere they are 400.
   */
  anyKeysUnder?: string[][];
}

export function parseJsonBody(text: string, options: JsonOptions = {}): unknown {
  if (text.trim() === '') return undefined;
  // Each level takes two characters at least: a short body cannot be too deep.
  if (text.length > 2 * MAX_JSON_DEPTH && nestedDeeper(text, MAX_JSON_DEPTH)) {
    throw new BotgateError('BG_ERR_VALIDATION', `The body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`);
  }
  let value: unknown;
  try {
    value = sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    if (!FORBIDDEN_KEY.test((error as Error).message)) throw new BotgateError('BG_ERR_INVALID_JSON', `The body is not valid JSON: ${(error as Error).message}`);
    // Valid JSON with a key that could set a prototype: JSON.parse makes it an own property, harmless where the value
    // is only serialised again (a payload); anywhere else it is refused, named.
    value = JSON.parse(withoutBom(text));
    const path = prototypeKey(value, options.anyKeysUnder ?? [], []);
    if (path) throw new BotgateError('BG_ERR_VALIDATION', `body.${path}: a key that could set an object's prototype is not taken here (only a message's payload may hold one)`);
  }
  if (text.includes('\\u0000') && holdsNul(value)) throw new BotgateError('BG_ERR_VALIDATION', 'Text may not contain the NUL character (U+0000)');
  // A number JSON text can say but a double cannot hold would be stored and sent changed: refused, or for what chat
  // platforms send kept as its digits (JsonOptions). Only read when the text has a long number (a second parse that
  // sees each number's own text).
  if (BIG_NUMBER.test(text)) {
    const reviver = options.lossyNumbers === 'text' ? lossyNumberAsText : refuseLossyNumber;
    // Without a byte order mark, which the first parse allowed (JSON.parse does not).
    const exact = JSON.parse(withoutBom(text), reviver as (key: string, value: unknown) => unknown) as unknown;
    if (options.lossyNumbers === 'text') value = exact;
  }
  // A surrogate can only arrive escaped (\uD800–\uDFFF): UTF-8 bytes (checked by the parser) decode to well-formed text.
  if (SURROGATE_ESCAPE.test(text) && someString(value, (t) => !t.isWellFormed())) throw new BotgateError('BG_ERR_VALIDATION', 'Text may not contain an unpaired UTF-16 surrogate (\\uD800–\\uDFFF)');
  return value;
}

const FORBIDDEN_KEY = /forbidden (prototype|constructor) property/;

const withoutBom = (text: string) => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);

/**
 * The path of the first key named `__proto__`, or `constructor` holding `prototype` (what secure-json-parse refuses),
 * outside the subtrees `free` names; null when none.
 */
function prototypeKey(value: unknown, free: string[][], path: string[]): string | null {
  if (!value || typeof value !== 'object') return null;
  if (free.some((p) => p.length <= path.length && p.every((segment, i) => segment === '*' || segment === path[i]))) return null;
  if (!Array.isArray(value)) {
    const node = value as Record<string, unknown>;
    if (Object.hasOwn(node, '__proto__')) return [...path, '__proto__'].join('.');
    const ctor = node.constructor;
    if (Object.hasOwn(node, 'constructor') && ctor && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype')) return [...path, 'constructor'].join('.');
  }
  for (const [key, child] of Object.entries(value)) {
    const found = prototypeKey(child, free, [...path, key]);
    if (found) return found;
  }
  return null;
}

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/**
 * A JSON number that may not fit a double: 16 or more digits (or dots), or a two-digit exponent, right after what
 * opens a value (`:`, `[`, `,`). Digit runs inside strings (phone numbers, card numbers) do not trigger the second
 * parse, which costs about eight first ones.
 */
const BIG_NUMBER = /[:[,]\s*-?(?:[\d.]{16}|[\d.]+[eE][+-]?\d{2})/;

function lossyNumberAsText(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number' || context?.source === undefined) return value;
  return Number.isFinite(value) && exactly(context.source, value) ? value : context.source;
}

function refuseLossyNumber(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number') return value;
  const source = context?.source ?? String(value);
  if (!Number.isFinite(value) || !exactly(source, value)) {
    throw new BotgateError('BG_ERR_VALIDATION', `The number ${source.slice(0, 40)} cannot be kept exactly (JSON numbers are doubles here): send it as a string`);
  }
  return value;
}

/**
 * Whether the number will be sent as the same number its text says: the double's shortest form (what is stored
 * and sent) names the same decimal. 12345678901234567890 reads as 12345678901234567000, 1e-400 as 0,
 * 0.12345678901234567891 as 0.12345678901234568: refused; 1e20, 1.5e300 and 0.1 are kept.
 */
function exactly(source: string, value: number): boolean {
  const a = decimal(source);
  return a === null || a === decimal(String(value));
}

/** A decimal number's canonical form, `sign digits e exponent` with no leading or trailing zeros; null if not one. */
function decimal(text: string): string | null {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) return null;
  const [, sign, whole, fraction = '', exponent = '0'] = m;
  const all = (whole + fraction).replace(/^0+/, '');
  if (all === '') return '0';
  // The value is 0.digits × 10^exp: the exponent moves by the whole part's significant digits, or back by the
  // fraction's leading zeros when there are none.
  const wholeDigits = whole.replace(/^0+/, '').length;
  const exp = Number(exponent) + (wholeDigits > 0 ? wholeDigits : all.length - fraction.length);
  // Not /0+$/: that is quadratic in a run of zeros (text-end.ts).
  return `${sign}${withoutTrailing(all, (c) => c === '0')}e${exp}`;
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
