// Verifies the signatures chat platforms put on the webhooks they send us: Twilio, HMAC header schemes, Standard Webhooks.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { parse as parseQuery, stringify as stringifyQuery } from 'node:querystring';

export type Verdict = { ok: true } | { ok: false; reason: string };
export type Headers = Record<string, string | string[] | undefined>;
export type TwilioParams = Record<string, string | string[]>;

export type SignatureScheme = {
  header: string;
  algorithm: 'sha256' | 'sha1';
  encoding: 'hex' | 'base64';
  /** Stripped from the header value before comparing, e.g. `sha256=`. */
  prefix?: string;
  /** What is signed; `{timestamp}` is the timestamp header's raw value as sent. */
  content: '{body}' | '{timestamp}{body}' | '{timestamp}.{body}';
  timestampHeader?: string;
  /** How far the timestamp may be from now (default 300). */
  toleranceSeconds?: number;
};

export const SIGNATURE_PRESETS: Record<'zendesk' | 'intercom' | 'chatwoot', SignatureScheme> = Object.freeze({
  // developer.zendesk.com/documentation/webhooks/verifying: base64(HMACSHA256(TIMESTAMP + BODY)),
  // the timestamp (ISO 8601) in X-Zendesk-Webhook-Signature-Timestamp.
  zendesk: Object.freeze({
    header: 'X-Zendesk-Webhook-Signature', algorithm: 'sha256', encoding: 'base64',
    content: '{timestamp}{body}', timestampHeader: 'X-Zendesk-Webhook-Signature-Timestamp',
  }),
  // Intercom webhooks: `X-Hub-Signature: sha1=<hex HMAC-SHA1(client secret, body)>`, no timestamp.
  intercom: Object.freeze({ header: 'X-Hub-Signature', algorithm: 'sha1', encoding: 'hex', prefix: 'sha1=', content: '{body}' }),
  // Chatwoot webhooks: `X-Chatwoot-Signature: sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`,
  // unix seconds in X-Chatwoot-Timestamp.
  chatwoot: Object.freeze({
    header: 'X-Chatwoot-Signature', algorithm: 'sha256', encoding: 'hex', prefix: 'sha256=',
    content: '{timestamp}.{body}', timestampHeader: 'X-Chatwoot-Timestamp',
  }),
} satisfies Record<string, SignatureScheme>);

/** Constant-time string equality; a length mismatch is a plain `false` (lengths are fixed by the algorithm, not secret). */
function safeEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A header's value, name matched case-insensitively; a repeated header counts by its first value. */
function header(headers: Headers, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  const wanted = name.toLowerCase();
  let value = headers[wanted];
  if (value === undefined) {
    const key = Object.keys(headers).find((k) => k.toLowerCase() === wanted);
    value = key === undefined ? undefined : headers[key];
  }
  if (Array.isArray(value)) value = value[0];
  return typeof value === 'string' ? value : undefined;
}

/** Unix seconds or ISO 8601 with a zone (Zendesk) → ms since the epoch. */
function timestampMs(raw: string): number | undefined {
  if (/^\d{1,12}$/.test(raw)) return Number(raw) * 1000;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(raw)) return undefined;
  const ms = Date.parse(raw);
  return Number.isFinite(ms) ? ms : undefined;
}

function checkFreshness(raw: string, now: number, toleranceSeconds: number): Verdict {
  const ms = timestampMs(raw);
  if (ms === undefined) return { ok: false, reason: 'unparseable timestamp' };
  if (!(Math.abs(now - ms) <= toleranceSeconds * 1000)) {
    return { ok: false, reason: `timestamp outside the ${toleranceSeconds} s tolerance` };
  }
  return { ok: true };
}

/** What an HMAC scheme signs before the body: nothing, or the timestamp as sent (trimmed) and its separator. */
function signedPrefix(scheme: SignatureScheme, timestamp: string): string {
  return scheme.content === '{body}' ? '' : scheme.content === '{timestamp}{body}' ? timestamp : `${timestamp}.`;
}

/**
 * A key of exactly what a verified request's signature covers, when that holds a timestamp: a byte-identical replay
 * within the tolerance has the key of the original (and can be answered as its duplicate), the same body signed at
 * another time has another. Undefined for a scheme that signs the body alone, where a replay and the same message
 * sent again are the same bytes.
 */
export function signedContentKey(scheme: SignatureScheme, headers: Headers, rawBody: string | Buffer): string | undefined {
  if (!scheme.timestampHeader || scheme.content === '{body}') return undefined;
  const timestamp = header(headers, scheme.timestampHeader)?.trim() ?? '';
  return `signed:${createHash('sha256').update(signedPrefix(scheme, timestamp), 'utf8').update(rawBody).digest('base64url')}`;
}

/** Verifies an HMAC header scheme (see SIGNATURE_PRESETS) over the raw body; `now` in ms. */
export function verifySigned(scheme: SignatureScheme, secret: string, headers: Headers, rawBody: string | Buffer, now: number): Verdict {
  if (typeof secret !== 'string' || secret === '') return { ok: false, reason: 'no signing secret configured' };
  if (typeof rawBody !== 'string' && !Buffer.isBuffer(rawBody)) return { ok: false, reason: 'no raw body' };
  let given = header(headers, scheme.header)?.trim();
  if (!given) return { ok: false, reason: `missing ${scheme.header} header` };
  if (scheme.prefix) {
    if (!given.startsWith(scheme.prefix)) return { ok: false, reason: `signature lacks the "${scheme.prefix}" prefix` };
    given = given.slice(scheme.prefix.length);
  }
  let timestamp = '';
  if (scheme.timestampHeader) {
    timestamp = header(headers, scheme.timestampHeader)?.trim() ?? '';
    if (!timestamp) return { ok: false, reason: `missing ${scheme.timestampHeader} header` };
    const fresh = checkFreshness(timestamp, now, scheme.toleranceSeconds ?? 300);
    if (!fresh.ok) return fresh;
  }
  // Over the body's bytes as sent (a string is its UTF-8).
  const expected = createHmac(scheme.algorithm, secret).update(signedPrefix(scheme, timestamp), 'utf8').update(rawBody).digest(scheme.encoding);
  // Hex digits are case-insensitive; base64 is compared exactly.
  if (scheme.encoding === 'hex') given = given.toLowerCase();
  return safeEqual(given, expected) ? { ok: true } : { ok: false, reason: 'signature mismatch' };
}

/**
 * Verifies a Standard Webhooks request (standardwebhooks.com; what src/delivery/signer.ts sends): HMAC-SHA256
 * with the base64-decoded key after `whsec_` over `${webhook-id}.${webhook-timestamp}.${body}`, any of the
 * space-separated `v1,<base64>` entries may match (key rotation), timestamp (unix seconds) within the tolerance
 * (5 minutes unless given); `now` in ms.
 */
export function verifyStandardWebhook(secret: string, headers: Headers, rawBody: string | Buffer, now: number, toleranceSeconds = 300): Verdict {
  const key = typeof secret === 'string' ? Buffer.from(secret.replace(/^whsec_/, ''), 'base64') : Buffer.alloc(0);
  if (key.length === 0) return { ok: false, reason: 'no signing secret configured' };
  if (typeof rawBody !== 'string' && !Buffer.isBuffer(rawBody)) return { ok: false, reason: 'no raw body' };
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id) return { ok: false, reason: 'missing webhook-id header' };
  if (!timestamp) return { ok: false, reason: 'missing webhook-timestamp header' };
  if (!signatures) return { ok: false, reason: 'missing webhook-signature header' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'unparseable timestamp' };
  const fresh = checkFreshness(timestamp, now, toleranceSeconds);
  if (!fresh.ok) return fresh;
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`, 'utf8').update(rawBody).digest('base64');
  const match = signatures.split(' ').some((entry) => {
    const comma = entry.indexOf(',');
    // Other versions (e.g. `v1a,` asymmetric signatures) are skipped, as the spec's libraries do.
    return comma > 0 && entry.slice(0, comma) === 'v1' && safeEqual(entry.slice(comma + 1), expected);
  });
  return match ? { ok: true } : { ok: false, reason: 'no matching signature' };
}

// Twilio (twilio.com/docs/usage/security, and the official `twilio` npm package's webhooks.js, whose rules
// are mirrored here so both agree): HMAC-SHA1(auth token, URL + every POST param name+value sorted by
// name), base64. A repeated parameter contributes its distinct values, sorted, each as name+value.

export function twilioSignature(authToken: string, url: string, params: TwilioParams): string {
  let data = url;
  for (const name of Object.keys(params ?? {}).sort()) {
    const value = params[name];
    const values = Array.isArray(value) ? Array.from(new Set(value)).sort() : [value];
    for (const v of values) data += name + v;
  }
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/** The URL split without normalising it, as the package does (Twilio signs the exact characters requested). */
function splitUrl(url: string) {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)/i.exec(url);
  if (!match) return undefined;
  const [prefix, scheme, authority] = match;
  const at = authority.lastIndexOf('@');
  const hostPort = authority.slice(at + 1);
  const colon = hostPort.indexOf(':', hostPort.lastIndexOf(']') + 1); // after an IPv6 literal's bracket
  return {
    scheme, userInfo: authority.slice(0, at + 1), rest: url.slice(prefix.length),
    host: colon === -1 ? hostPort : hostPort.slice(0, colon), port: colon === -1 ? '' : hostPort.slice(colon),
  };
}

/** The URL without its port, and with its port (the scheme's default added when it has none). */
function withAndWithoutPort(url: string): string[] {
  const p = splitUrl(url);
  if (!p) return [url];
  const port = p.port || (p.scheme.toLowerCase() === 'https://' ? ':443' : ':80');
  return [p.scheme + p.userInfo + p.host + p.rest, p.scheme + p.userInfo + p.host + port + p.rest];
}

/** The package's fallback: the URL as `new URL()` normalises it, also with the legacy-querystring re-encoding. */
function normalisedCandidates(url: string): string[] {
  let normalised: string;
  try {
    normalised = new URL(url).toString();
  } catch {
    return [];
  }
  return withAndWithoutPort(normalised).flatMap((u) => {
    const q = u.indexOf('?');
    return q === -1 || q === u.length - 1 ? [u] : [u, u.slice(0, q) + '?' + stringifyQuery(parseQuery(u.slice(q + 1)))];
  });
}

/**
 * Whether X-Twilio-Signature is valid for this URL and form parameters, trying the URL as received with
 * and without its port (Twilio signs either, depending on the product), then its normalised forms —
 * the same candidates, in the same order, as the package's `validateRequest`.
 */
export function verifyTwilio(authToken: string, url: string, params: TwilioParams, signatureHeader: string | undefined): boolean {
  if (typeof authToken !== 'string' || authToken === '' || typeof url !== 'string') return false;
  if (typeof signatureHeader !== 'string' || signatureHeader === '') return false;
  if (params === null || typeof params !== 'object') return false;
  const matches = (candidates: string[]) =>
    candidates.some((u) => safeEqual(signatureHeader, twilioSignature(authToken, u, params)));
  return matches(withAndWithoutPort(url)) || matches(normalisedCandidates(url));
}

/**
 * Twilio requests with a JSON (non-form) body: the signature covers the URL only (no params), and the URL's
 * `bodySHA256` query parameter carries the hex SHA-256 of the raw body — the package's `validateRequestWithBody`.
 */
export function verifyTwilioBody(authToken: string, url: string, rawBody: string, signatureHeader: string | undefined): boolean {
  if (typeof rawBody !== 'string' || !verifyTwilio(authToken, url, {}, signatureHeader)) return false;
  let bodyHash: string;
  try {
    bodyHash = new URL(url).searchParams.get('bodySHA256') ?? '';
  } catch {
    return false;
  }
  return safeEqual(bodyHash, createHash('sha256').update(rawBody, 'utf8').digest('hex'));
}
