// Outgoing HTTP for deliveries: pooled undici connections, a per-try deadline, no redirects followed, at
// most N bytes of the response kept, and the SSRF guard applied after DNS resolution.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import { Agent, request } from 'undici';
import { BlockedAddressError, createAddressGuard, stripBrackets, type AddressGuard } from './address-guard.ts';

export interface HttpClientOptions {
  allowPrivate: readonly string[];
  maxResponseBytes: number;
  /** Pooled connections per origin. */
  connectionsPerOrigin: number;
}

export interface HttpRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Aborts the try (shutdown); reported as kind 'aborted'. */
  signal?: AbortSignal;
}

export interface HttpResult {
  statusCode: number | null;
  headers: Record<string, string | string[] | undefined>;
  /** The first maxResponseBytes of the body. */
  body: string | null;
  durationMs: number;
  /** null on any HTTP answer; else timeout, connection_refused, connection_reset, dns, blocked, tls, aborted, invalid_url, network. */
  errorKind: string | null;
  error: string | null;
}

export interface HttpClient {
  send(req: HttpRequest): Promise<HttpResult>;
  close(): Promise<void>;
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const guard = createAddressGuard(options.allowPrivate);
  const agent = new Agent({
    connections: options.connectionsPerOrigin,
    pipelining: 1,
    keepAliveTimeout: 10_000,
    connect: { lookup: guardedLookup(guard) as never, timeout: 10_000 },
  });

  return {
    async send(req) {
      const started = performance.now();
      const elapsed = () => performance.now() - started;
      let url: URL;
      try {
        url = new URL(req.url);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`unsupported protocol ${url.protocol}`);
        const host = stripBrackets(url.hostname);
        if (isIP(host) && !guard.hostAllowed(host)) guard.check(host, host);
      } catch (error) {
        return failure(error instanceof BlockedAddressError ? 'blocked' : 'invalid_url', error, elapsed());
      }
      const deadline = AbortSignal.timeout(req.timeoutMs);
      const signal = req.signal ? AbortSignal.any([deadline, req.signal]) : deadline;
      let response;
      try {
        response = await request(url, { dispatcher: agent, method: 'POST', headers: req.headers, body: req.body, signal });
      } catch (error) {
        const kind = deadline.aborted ? 'timeout' : req.signal?.aborted ? 'aborted' : errorKind(error);
        return failure(kind, error, elapsed());
      }
      const body = await readCapped(response.body, options.maxResponseBytes);
      return { statusCode: response.statusCode, headers: response.headers, body, durationMs: elapsed(), errorKind: null, error: null };
    },
    close: () => agent.close(),
  };
}

/** Reads at most `max` bytes; a body that is larger, slow past the deadline or broken is cut off there. */
async function readCapped(body: AsyncIterable<Buffer> & { destroy(): unknown }, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= max) {
        body.destroy();
        break;
      }
    }
  } catch {
    // The status line already decided the outcome; keep what arrived.
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

function failure(kind: string, error: unknown, durationMs: number): HttpResult {
  const message = error instanceof Error ? error.message : String(error);
  return { statusCode: null, headers: {}, body: null, durationMs, errorKind: kind, error: kind === 'timeout' ? 'timed out' : message };
}

function errorKind(error: unknown): string {
  const e = error as { code?: string; cause?: { code?: string }; name?: string };
  if (error instanceof BlockedAddressError || e.cause instanceof BlockedAddressError) return 'blocked';
  const code = e.code ?? e.cause?.code ?? '';
  if (code === 'ECONNREFUSED') return 'connection_refused';
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') return 'connection_reset';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') return 'dns';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT') return 'timeout';
  if (code.startsWith('ERR_TLS') || code.startsWith('CERT_') || code.includes('SSL') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE') return 'tls';
  return 'network';
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A dns.lookup that refuses non-public answers, so the check covers what the socket really connects to. */
function guardedLookup(guard: AddressGuard) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const list = addresses as LookupAddress[];
      if (!guard.hostAllowed(hostname)) {
        try {
          for (const a of list) guard.check(a.address, hostname);
        } catch (blocked) {
          return callback(blocked as NodeJS.ErrnoException, []);
        }
      }
      if (options.all) return callback(null, list);
      const first = list[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}
