// How an endpoint authenticates to its receiver. Each kind splits its settings into a public part (shown by
// the API) and a secret part (sealed at rest, never shown again) and turns them into request headers.
// Headers are made for every attempt, so a kind that mints a token (kore_jwt) sends a fresh one each time.
import { SignJWT } from 'jose';

export interface AuthContext {
  now: number;
  body: string;
}

export interface AuthKind {
  /** Validates settings from the API; throws a message naming the field when they are wrong. */
  parse(input: Record<string, unknown>): { public: Record<string, unknown>; secret: Record<string, unknown> | null };
  headers(pub: Record<string, unknown>, secret: Record<string, unknown> | null, context: AuthContext): Record<string, string> | Promise<Record<string, string>>;
}

export class AuthSettingsError extends Error {
  override name = 'AuthSettingsError';
}

function requireString(input: Record<string, unknown>, field: string): string {
  const value = input[field];
  if (typeof value !== 'string' || value.length === 0) throw new AuthSettingsError(`auth.${field} is required`);
  return value;
}

function onlyFields(input: Record<string, unknown>, allowed: string[]): void {
  for (const key of Object.keys(input)) {
    if (key !== 'kind' && !allowed.includes(key)) throw new AuthSettingsError(`auth.${key} is not a setting of auth kind ${String(input.kind)}`);
  }
}

export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Headers an endpoint may not set itself: botgate's own, which every try writes over (the body's type and length, the
 * host, the user agent, and webhook-*: Standard Webhooks' signature headers and any a receiver could take for one), and
 * those the HTTP client refuses to send (hop-by-hop: every try would fail before it starts).
 */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'content-type', 'content-length', 'host', 'user-agent', 'transfer-encoding', 'connection',
  'keep-alive', 'upgrade', 'expect', 'te', 'trailer', 'proxy-connection',
]);

/** Whether an endpoint may not set this header (lower case) itself: see RESERVED_HEADERS. */
export function isReservedHeader(lower: string): boolean {
  return RESERVED_HEADERS.has(lower) || lower.startsWith('webhook-');
}

/** What HTTP can carry in a header value: tab, visible ASCII and Latin-1, no line breaks or NUL (RFC 9110). */
const HEADER_VALUE_BAD = /[^\t\x20-\x7e\x80-\xff]/;

/** What is wrong with a header value that could not be sent (a line break, a character beyond Latin-1), naming the field; null when nothing. */
export function headerValueProblem(field: string, value: string): string | null {
  return HEADER_VALUE_BAD.test(value) ? `${field} holds a character a header cannot carry (a line break, a control character, or one beyond Latin-1)` : null;
}

/** Throws (AuthSettingsError) when a header value could not be sent. */
function checkHeaderValue(field: string, value: string): string {
  const problem = headerValueProblem(field, value);
  if (problem) throw new AuthSettingsError(problem);
  return value;
}

/**
 * What is wrong with a header name of an endpoint's settings (custom_headers, an auth kind's header), naming the field;
 * null when nothing: one botgate writes itself (or that cannot be sent), or __proto__, a valid token but, set on the
 * request's headers, their prototype: the header would silently not be sent.
 */
export function headerNameProblem(field: string, name: string): string | null {
  const lower = name.toLowerCase();
  if (isReservedHeader(lower)) return `${field}: ${name} is set by botgate (or cannot be sent)`;
  if (lower === '__proto__') return `${field}: __proto__ is not taken as a header name`;
  return null;
}

function checkAuthHeaderName(field: string, name: string): void {
  const problem = headerNameProblem(field, name);
  if (problem) throw new AuthSettingsError(problem);
}

/** Kore.ai's notify API wants a short-lived token; minted per attempt, so retries never carry a stale one. */
const KORE_TOKEN_TTL_SECONDS = 300;
/** Claims kore_jwt sets itself; `claims` may not override them. */
const KORE_SET_CLAIMS = ['appId', 'iat', 'exp'];

function parseKoreJwt(input: Record<string, unknown>) {
  onlyFields(input, ['client_id', 'client_secret', 'header', 'claims']);
  const clientId = requireString(input, 'client_id');
  const clientSecret = requireString(input, 'client_secret');
  const header = input.header ?? 'auth';
  if (typeof header !== 'string' || !HEADER_NAME.test(header)) throw new AuthSettingsError('auth.header is not a valid header name');
  checkAuthHeaderName('auth.header', header);
  const claims = input.claims;
  if (claims !== undefined) {
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new AuthSettingsError('auth.claims must be an object');
    const set = KORE_SET_CLAIMS.find((name) => Object.hasOwn(claims, name));
    if (set) throw new AuthSettingsError(`auth.claims.${set} is set by botgate`);
  }
  return {
    public: { client_id: clientId, header: header.toLowerCase(), ...(claims === undefined ? {} : { claims }) },
    secret: { client_secret: clientSecret },
  };
}

/** A Kore.ai app's JWT (HS256 with the client secret, appId = client id), issued at the attempt's time. */
async function koreJwtHeaders(pub: Record<string, unknown>, secret: Record<string, unknown> | null, context: AuthContext) {
  const iat = Math.floor(context.now / 1000);
  const claims = { sub: 'botgate', ...(pub.claims as Record<string, unknown> | undefined), appId: String(pub.client_id) };
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(iat)
    .setExpirationTime(iat + KORE_TOKEN_TTL_SECONDS)
    .sign(new TextEncoder().encode(String(secret?.client_secret)));
  return { [String(pub.header)]: token };
}

const kinds = new Map<string, AuthKind>([
  ['none', {
    parse: (input) => (onlyFields(input, []), { public: {}, secret: null }),
    headers: () => ({}),
  }],
  ['bearer', {
    parse: (input) => (onlyFields(input, ['token']), { public: {}, secret: { token: checkHeaderValue('auth.token', requireString(input, 'token')) } }),
    headers: (_pub, secret) => ({ authorization: `Bearer ${String(secret?.token)}` }),
  }],
  ['basic', {
    parse: (input) => {
      onlyFields(input, ['username', 'password']);
      const username = requireString(input, 'username');
      if (username.includes(':')) throw new AuthSettingsError('auth.username must not contain ":"');
      return { public: { username }, secret: { password: requireString(input, 'password') } };
    },
    headers: (pub, secret) => ({
      authorization: 'Basic ' + Buffer.from(`${String(pub.username)}:${String(secret?.password)}`).toString('base64'),
    }),
  }],
  ['header', {
    parse: (input) => {
      onlyFields(input, ['name', 'value']);
      const name = requireString(input, 'name');
      if (!HEADER_NAME.test(name)) throw new AuthSettingsError('auth.name is not a valid header name');
      checkAuthHeaderName('auth.name', name);
      return { public: { name }, secret: { value: checkHeaderValue('auth.value', requireString(input, 'value')) } };
    },
    headers: (pub, secret) => ({ [String(pub.name).toLowerCase()]: String(secret?.value) }),
  }],
  ['kore_jwt', { parse: parseKoreJwt, headers: koreJwtHeaders }],
]);

/** The header an auth kind sets (lower case), where it is one of botgate's own kinds; null for none. */
export function authHeaderName(kind: string, pub: Record<string, unknown>): string | null {
  if (kind === 'bearer' || kind === 'basic') return 'authorization';
  if (kind === 'header') return String(pub.name).toLowerCase();
  if (kind === 'kore_jwt') return String(pub.header).toLowerCase();
  return null;
}

export function authKind(name: string): AuthKind | undefined {
  return kinds.get(name);
}

export function authKindNames(): string[] {
  return [...kinds.keys()];
}

export function registerAuthKind(name: string, kind: AuthKind): void {
  kinds.set(name, kind);
}
