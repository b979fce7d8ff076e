// Outgoing HTTP for deliveries: pooled undici connections, a per-try deadline, no redirects followed, at
// most N bytes of the response kept, and the SSRF guard applied after DNS resolution.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import type { Dispatcher } from 'undici';
// undici's Agent module alone: undici's index also loads fetch, WebSocket, caches and mocks, ~3.6 MB of heap the
// gateway never uses (resident memory is a target: bench:delivery). The lockfile pins undici; the tests send through it.
import Agent from 'undici/lib/dispatcher/agent.js';
import { BlockedAddressError, createAddressGuard, stripBrackets, type AddressGuard } from './address-guard.ts';

export interface HttpClientOptions {
  allowPrivate: readonly string[];
  /** What ownLoopback tries may reach besides loopback: the address the gateway listens on, when it is another. */
  ownHosts?: readonly string[];
  maxResponseBytes: number;
  /** Pooled connections per pool (an endpoint's pool, or an origin's when a request names none). */
  connectionsPerOrigin: number;
}

/** Connection pools kept at most; past it the least recently used is closed (a deleted endpoint's, say). */
const MAX_POOLS = 1000;
/** The connect timeout of tries that name no pool (an endpoint's pool connects within its own timeout). */
const DEFAULT_CONNECT_MS = 10_000;
/** How often tries past their deadline are cut: undici's own timers tick coarsely (about 0.5 s) for long ones. */
const SWEEP_MS = 100;
/** How long close() lets a pool finish what it has (tries are aborted or done by then) before destroying it. */
const CLOSE_GRACE_MS = 1000;

export interface HttpRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /**
   * The connection pool to use (the endpoint's id): endpoints never wait for each other's connections, even on one
   * host, so a hanging endpoint cannot hold a healthy one's tries in a queue. Without it, one pool per origin.
   */
  pool?: string;
  /** Aborts the try (shutdown); reported as kind 'aborted'. */
  signal?: AbortSignal;
  /**
   * The try goes to the gateway's own receiver on loopback (the bundled demo's orders endpoint): 127.0.0.1 and ::1
   * (and ownHosts) are allowed for it alone. Every other try reaches only public addresses and delivery.allow_private.
   */
  ownLoopback?: boolean;
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
  // Two guards: every endpoint's, and the one of tries to the gateway's own loopback receiver (ownLoopback).
  const guards = [createAddressGuard(options.allowPrivate), createAddressGuard([...options.allowPrivate, '127.0.0.1', '::1', ...(options.ownHosts ?? [])])] as const;
  const lookups = guards.map((g) => guardedLookup(g) as never);
  // Connecting counts against the try's deadline: an endpoint's pool connects within its timeout.
  const newAgent = (connectMs: number, own: boolean) =>
    new Agent({ connections: options.connectionsPerOrigin, pipelining: 1, keepAliveTimeout: 10_000, connect: { lookup: lookups[Number(own)], timeout: connectMs } });
  const shared: Agent[] = [newAgent(DEFAULT_CONNECT_MS, false)]; // [1], for ownLoopback tries, made when first needed
  const pools = new Map<string, { agent: Agent; connectMs: number; own: boolean }>(); // in order of last use
  let latest: string | undefined; // the pool last used, already last in `pools`
  function agentFor(pool: string | undefined, timeoutMs: number, own: boolean): Agent {
    if (pool === undefined) return (shared[Number(own)] ??= newAgent(DEFAULT_CONNECT_MS, own));
    let found = pools.get(pool);
    if (found && pool === latest && found.connectMs === timeoutMs && found.own === own) return found.agent;
    latest = pool;
    if (found) pools.delete(pool);
    if (found && (found.connectMs !== timeoutMs || found.own !== own)) {
      void found.agent.close(); // the endpoint's timeout (or URL) changed; its in-flight tries finish
      found = undefined;
    }
    if (!found) {
      found = { agent: newAgent(timeoutMs, own), connectMs: timeoutMs, own };
      if (pools.size >= MAX_POOLS) {
        const [oldest, old] = pools.entries().next().value!;
        pools.delete(oldest);
        void old.agent.close(); // lets its in-flight tries finish
      }
    }
    pools.set(pool, found);
    return found.agent;
  }
  const targets = new Map<string, Target>();
  const active = new Map<Dispatcher.DispatchController, number>(); // → the try's deadline
  // Tries handed to a pool that have not started: a request the client refuses while others wait may leave them
  // queued for good (undici calls back neither start nor error), so they too end by their deadline, and their slot
  // comes back.
  const waiting = new Set<Try>();
  let sweeper: NodeJS.Timeout | null = null;
  function sweep(): void {
    const now = performance.now();
    for (const [c, deadline] of active) {
      if (now > deadline) c.abort(Object.assign(new Error('past the deadline'), { code: 'UND_ERR_HEADERS_TIMEOUT' }));
    }
    // A little after the deadline: a try the pool starts late aborts itself at its start (onRequestStart).
    for (const w of waiting) {
      if (now > w.deadline + SWEEP_MS) w.finish(Object.assign(new Error('never got a connection before its deadline'), { code: 'UND_ERR_CONNECT_TIMEOUT' }));
    }
  }
  const watched = new WeakSet<AbortSignal>();
  let stopping = false;

  function target(text: string, own: boolean): Target {
    const key = own ? `own ${text}` : text;
    let found = targets.get(key);
    if (!found) {
      try {
        const url = new URL(text);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`unsupported protocol ${url.protocol}`);
        const host = stripBrackets(url.hostname);
        const guard = guards[Number(own)];
        if (isIP(host) && !guard.hostAllowed(host)) guard.check(host, host);
        found = { origin: url.origin, path: url.pathname + url.search };
      } catch (error) {
        found = { error: error as Error, kind: error instanceof BlockedAddressError ? 'blocked' : 'invalid_url' };
      }
      if (targets.size > 10_000) targets.clear();
      targets.set(key, found);
    }
    return found;
  }

  /** One try in flight: undici's dispatch handler (one object, not a closure per callback). */
  class Try implements Dispatcher.DispatchHandler {
    req: HttpRequest;
    started: number;
    deadline: number;
    resolve: (result: HttpResult) => void;
    statusCode: number | null = null;
    headers: HttpResult['headers'] = {};
    chunks: Buffer[] = [];
    size = 0;
    controller: Dispatcher.DispatchController | null = null;
    done = false;

    constructor(req: HttpRequest, started: number, deadline: number, resolve: (result: HttpResult) => void) {
      this.req = req;
      this.started = started;
      this.deadline = deadline;
      this.resolve = resolve;
    }

    finish(error: Error | null): void {
      if (this.done) return;
      this.done = true;
      waiting.delete(this);
      if (this.controller) active.delete(this.controller);
      const durationMs = performance.now() - this.started;
      // Once the status line arrived it decides; a body cut off (too large, past the deadline, broken) is kept as far as it came.
      if (this.statusCode !== null) {
        // NUL cannot be stored in text (PostgreSQL refuses it): a receiver's binary answer is kept readable.
        const body = Buffer.concat(this.chunks, this.size).subarray(0, options.maxResponseBytes).toString('utf8').replaceAll('\u0000', '\uFFFD');
        this.resolve({ statusCode: this.statusCode, headers: this.headers, body, durationMs, errorKind: null, error: null });
      } else {
        this.resolve(failure(error instanceof AbortedError ? 'aborted' : errorKind(error), error, durationMs));
      }
    }

    onRequestStart(c: Dispatcher.DispatchController): void {
      this.controller = c;
      waiting.delete(this);
      if (this.done) return c.abort(new AbortedError()); // given up on while it waited (past its deadline, shutdown)
      // A try that waited for a connection (more tries than the pool's connections) is never sent after
      // the shutdown began or past its deadline: its signature and its lease were meant for then.
      if (stopping) return c.abort(new AbortedError());
      // Nor with so little of its time left that it could only time out at the receiver (sent, then cut: a
      // duplicate for nothing): at least a quarter of its timeout, or 100 ms.
      const timeoutMs = this.req.timeoutMs;
      if (performance.now() > this.deadline - Math.min(100, timeoutMs / 4)) {
        return c.abort(Object.assign(new Error(`waited ${timeoutMs} ms for a connection`), { code: 'UND_ERR_CONNECT_TIMEOUT' }));
      }
      active.set(c, this.deadline);
    }

    onResponseStart(_c: Dispatcher.DispatchController, status: number, responseHeaders: HttpResult['headers']): void {
      if (status < 200) return; // 1xx: the real answer follows
      this.statusCode = status;
      this.headers = responseHeaders;
    }

    onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
      const max = options.maxResponseBytes;
      if (this.size < max) {
        this.chunks.push(chunk);
        this.size += chunk.length;
      }
      if (this.size >= max || performance.now() > this.deadline) {
        this.finish(null);
        c.abort(new CutOffError());
      }
    }

    onResponseEnd(): void {
      this.finish(null);
    }

    onResponseError(_c: Dispatcher.DispatchController, error: Error): void {
      this.finish(error);
    }
  }

  return {
    send(req) {
      const started = performance.now();
      const own = req.ownLoopback === true;
      const to = target(req.url, own);
      if ('error' in to) return Promise.resolve(failure(to.kind, to.error, performance.now() - started));
      if (req.signal && !watched.has(req.signal)) {
        watched.add(req.signal);
        req.signal.addEventListener('abort', () => {
          stopping = true;
          active.forEach((_deadline, c) => c.abort(new AbortedError()));
          for (const w of waiting) w.finish(new AbortedError());
        }, { once: true });
      }
      if (req.signal?.aborted) return Promise.resolve(failure('aborted', new AbortedError(), 0));
      const deadline = started + req.timeoutMs;
      sweeper ??= setInterval(sweep, SWEEP_MS).unref();
      return new Promise((resolve) => {
        const attempt = new Try(req, started, deadline, resolve);
        // The pool's connect timeout bounds connecting; one sweep for all tries (cheaper than an AbortSignal per
        // request) cuts a try past its deadline within SWEEP_MS, waiting for the answer or reading its body.
        waiting.add(attempt);
        agentFor(req.pool, req.timeoutMs, own).dispatch(
          { origin: to.origin, path: to.path, method: 'POST', headers: req.headers, body: req.body, headersTimeout: req.timeoutMs, bodyTimeout: req.timeoutMs },
          attempt,
        );
      });
    },
    async close() {
      if (sweeper) clearInterval(sweeper);
      for (const w of waiting) w.finish(new AbortedError());
      // A pool whose queue holds a try it will never start never finishes closing: destroyed after a grace.
      await Promise.all([...shared, ...[...pools.values()].map((p) => p.agent)].map((a) => {
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<void>((resolve) => (timer = setTimeout(() => void a.destroy().then(resolve, resolve), CLOSE_GRACE_MS)));
        return Promise.race([a.close().finally(() => clearTimeout(timer)), grace]);
      }));
    },
  };
}

type Target = { origin: string; path: string } | { error: Error; kind: string };

/** The shutdown signal fired: the try is given back, not counted. */
class AbortedError extends Error {
  override name = 'AbortedError';
}

/** We stopped reading a body (large enough, or past the deadline); the answer already counts. */
class CutOffError extends Error {
  override name = 'CutOffError';
}

function failure(kind: string, error: unknown, durationMs: number): HttpResult {
  const message = error instanceof Error ? error.message : String(error);
  return { statusCode: null, headers: {}, body: null, durationMs, errorKind: kind, error: kind === 'timeout' ? `timed out after ${Math.round(durationMs)} ms` : message };
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
