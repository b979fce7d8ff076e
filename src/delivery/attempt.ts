// One try of a delivery: the signed request it sends, and what its answer means (sent, retry when, or failed).
import type { KeyObject } from 'node:crypto';
import type { Random } from '../clock.ts';
import type { AttemptOutcome, ClaimedDelivery, EndpointRecord } from '../store/store.ts';
import { authHeaderName, authKind } from './endpoint-auth.ts';
import type { HttpRequest, HttpResult } from './http-client.ts';
import { redactCredentials, sentCredentials } from './response-redaction.ts';
import { nextAttemptAt, parseRetryAfter, type RetryPolicy } from './retry-schedule.ts';
import { signatureHeader } from './signer.ts';

/** An endpoint ready to send to: its record with the secrets opened and the retry policy settled. */
export interface ResolvedEndpoint {
  record: EndpointRecord;
  keys: KeyObject[];
  authSecret: Record<string, unknown> | null;
  policy: RetryPolicy;
  /** The gateway's own receiver on loopback (HttpRequest.ownLoopback). */
  ownLoopback: boolean;
  loadedAt: number;
}

/**
 * The request of one try: the stored body (form-encoded for form endpoints), Standard Webhooks headers signed now.
 * Made at once unless the endpoint's auth makes its headers asynchronously (a token minted per request).
 */
export function attemptRequest(d: ClaimedDelivery, endpoint: ResolvedEndpoint, payload: string, context: { now: number; userAgent: string; signal: AbortSignal }): HttpRequest | Promise<HttpRequest> {
  const record = endpoint.record;
  const body = record.contentType === 'form' ? formBody(payload) : payload;
  const auth = authKind(record.authKind)?.headers(record.authPublic, endpoint.authSecret, { now: context.now, body });
  return auth instanceof Promise ? auth.then((headers) => signedRequest(d, endpoint, body, headers, context)) : signedRequest(d, endpoint, body, auth, context);
}

function signedRequest(d: ClaimedDelivery, endpoint: ResolvedEndpoint, body: string, auth: Record<string, string> | undefined, context: { now: number; userAgent: string; signal: AbortSignal }): HttpRequest {
  const record = endpoint.record;
  const timestamp = Math.floor(context.now / 1000);
  const headers: Record<string, string> = {
    ...record.customHeaders,
    ...auth,
    'content-type': record.contentType === 'form' ? 'application/x-www-form-urlencoded' : 'application/json',
    'user-agent': context.userAgent,
    'webhook-id': d.messageId,
    'webhook-timestamp': String(timestamp),
  };
  if (record.signing && endpoint.keys.length > 0) headers['webhook-signature'] = signatureHeader(endpoint.keys, d.messageId, timestamp, body);
  const request: HttpRequest = { url: record.url, headers, body, timeoutMs: record.timeoutSeconds * 1000, pool: record.id, signal: context.signal };
  if (endpoint.ownLoopback) request.ownLoopback = true;
  return request;
}

/**
 * What an answer means: only 2xx is success; a one-shot resend schedules nothing; else the retry policy decides.
 * The body is kept without the auth credentials of the request sent (`sent`), which an echoing receiver returns.
 */
export function attemptOutcome(d: ClaimedDelivery, endpoint: ResolvedEndpoint, result: HttpResult, context: { attemptId: string; attemptedAt: number; now: number; workerId: string; random: Random; sent: HttpRequest | null }): AttemptOutcome {
  const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
  let next: AttemptOutcome['next'];
  if (ok) next = { status: 'sent' };
  else if (d.oneShot) next = { status: 'failed' };
  else {
    const throttled = result.errorKind === 'timeout' || result.statusCode === 429;
    const retryAfter = result.statusCode === 429 || result.statusCode === 503 ? parseRetryAfter(result.headers['retry-after'], context.now) : null;
    const at = nextAttemptAt(endpoint.policy, d.attempts + 1, context.now, { throttled, retryAfterSeconds: retryAfter }, context.random);
    next = at === null ? { status: 'failed' } : { status: 'pending', nextAttemptAt: at };
  }
  const httpError = result.statusCode !== null && !ok;
  const authHeader = authHeaderName(endpoint.record.authKind, endpoint.record.authPublic);
  const credentials = authHeader && context.sent ? sentCredentials(context.sent.headers[authHeader]) : [];
  return {
    workerId: context.workerId,
    succeeded: ok,
    next,
    attempt: {
      id: context.attemptId,
      deliveryId: d.id,
      messageId: d.messageId,
      endpointId: d.endpointId,
      attemptedAt: context.attemptedAt,
      statusCode: result.statusCode,
      durationMs: Math.round(result.durationMs * 100) / 100,
      errorKind: httpError ? 'http_status' : result.errorKind,
      error: httpError ? httpErrorText(result.statusCode!) : result.error,
      responseBody: redactCredentials(result.body, credentials),
      expired: false,
    },
  };
}

function formBody(payload: string): string {
  const data = JSON.parse(payload) as Record<string, unknown>;
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(data)) {
    if (value === undefined || value === null) continue;
    form.append(key, typeof value === 'string' ? value : JSON.stringify(value));
  }
  return form.toString();
}

function httpErrorText(status: number): string {
  if (status >= 300 && status < 400) return `HTTP ${status} (redirects are not followed)`;
  return `HTTP ${status}`;
}
