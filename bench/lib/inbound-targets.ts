// The inbound benchmark's targets, each run alone under wrk: bare node:http R and R2, botgate's sync and async channels,
// and the floors FS and FA (the least such a channel costs here) as references.
// Its helpers (a fresh gateway per run, counts at the receiver, waiting for a drain) serve bench/platform.ts too.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { startGateway, type Gateway } from './gateway.ts';
import { createKoreChannel, koreRequest } from './kore.ts';
import { deadline, defer, forkHelper, sleep, type Deadline, type Helper } from './procs.ts';
import { cpuSeconds, sampleRss } from './sampler.ts';
import { runWrk, writeKoreScript, type KoreScript, type WrkResult } from './wrk.ts';

export interface InboundContext {
  durationS: number;
  warmupS: number;
  threads: number;
  connections: number;
  users: number;
  text: string;
  /** Budget of each target's set-up, warm-up and measured run (ms). */
  stepMs: number;
  /** How long the relay / async targets may take to deliver everything after wrk stops (ms). */
  drainMs: number;
  /** Where the Lua scripts go (a temp dir removed at the end). */
  scriptDir: string;
  receiver: Helper;
  receiverUrl: string;
  cpuProfDir?: string;
  gatewayEnv: Record<string, string>;
  progress(line: string): void;
}

export interface InboundResult {
  key: 'raw' | 'sync' | 'floor-sync' | 'relay' | 'async' | 'floor-async';
  label: string;
  wrk: WrkResult;
  /** Relay / async: acknowledged requests ÷ (wrk start → the receiver has every expected delivery). */
  e2eRate: number | null;
  /** Relay / async: wrk's end → the receiver has every expected delivery (ms). */
  drainMs: number | null;
  peakRssMb: number | null;
  /** Async: deliveries one request makes (replies and endOfTask). */
  perRequest?: number;
  /** CPU of the server process during the measured run (wrk's duration), % of one core. */
  cpuPct: number | null;
  notes: string[];
}

export const DEMO_BOT = 'demo';

export const wrkRun = (ctx: InboundContext, url: string, script: string, durationS: number, dl: Deadline) =>
  runWrk({ url, script, threads: ctx.threads, connections: ctx.connections, durationS }, dl);

const script = (ctx: InboundContext, name: string, s: Omit<KoreScript, 'text' | 'users'>) =>
  writeKoreScript(ctx.scriptDir, { ...s, text: ctx.text, users: ctx.users }, name);

export function wrkNotes(w: WrkResult): string[] {
  const notes: string[] = [];
  if (w.non2xx > 0) {
    const by = Object.entries(w.non2xxByStatus).map(([status, n]) => `${status}: ${n}`).join(', ');
    notes.push(`${w.non2xx} non-2xx answers (not counted${by ? `; ${by}` : ''}${w.firstNon2xx ? `; the first: ${w.firstNon2xx}` : ''})`);
  }
  const e = w.socketErrors;
  if (e.connect + e.read + e.write + e.timeout > 0) notes.push(`socket errors: connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout}`);
  return notes;
}

/** A warm-up run (not measured) when asked for one. */
export async function warmUp(ctx: InboundContext, url: string, file: string, dl: Deadline): Promise<WrkResult | null> {
  if (ctx.warmupS <= 0) return null;
  ctx.progress(`warm-up ${ctx.warmupS} s`);
  return wrkRun(ctx, url, file, ctx.warmupS, dl);
}

export interface CountStats {
  counted: number;
  withText: number;
  duplicates: number;
  stray: number;
  requests: number;
}

export async function receiverCount(ctx: InboundContext, dl: Deadline): Promise<CountStats> {
  ctx.receiver.send({ cmd: 'stats' });
  return ctx.receiver.next<CountStats>('stats', dl);
}

/** Starts a fresh count at the receiver (n: the count that reports "reached", none yet). */
export async function startCount(ctx: InboundContext, dl: Deadline): Promise<void> {
  ctx.receiver.discard('reached');
  ctx.receiver.send({ cmd: 'count' });
  await ctx.receiver.next('counting', dl);
}

/** Waits until the receiver's count stays the same for `quietMs` (late deliveries of a warm-up or a probe). */
export async function settle(ctx: InboundContext, quietMs: number, dl: Deadline): Promise<CountStats> {
  let last = await receiverCount(ctx, dl);
  let since = Date.now();
  while (Date.now() - since < quietMs) {
    if (dl.left() <= 0) throw new Error(`${dl.label}: the receiver's count did not settle (at ${last.counted})`);
    await sleep(100);
    const now = await receiverCount(ctx, dl);
    if (now.counted !== last.counted) since = Date.now();
    last = now;
  }
  return last;
}

/** Waits for `n` deliveries at the receiver, bounded by the drain budget; a timeout says how far it got. */
export async function drained(ctx: InboundContext, n: number, what: string): Promise<number> {
  const dl = deadline(`${what} drain`, ctx.drainMs);
  ctx.receiver.send({ cmd: 'expect-count', n });
  await ctx.receiver.next('expecting', dl);
  try {
    return (await ctx.receiver.next<{ at: number }>('reached', dl)).at;
  } catch (error) {
    const got = await receiverCount(ctx, deadline('receiver stats', 5000)).then((s) => s.counted, () => NaN);
    throw new Error(`${what}: gave up after ${+(ctx.drainMs / 1000).toFixed(1)} s waiting for the receiver: it has ${got} of ${n} deliveries (${(error as Error).message})`);
  }
}

/** R: a bare node:http server answering each POST with a fixed JSON. */
export async function runRaw(ctx: InboundContext): Promise<InboundResult> {
  const dl = deadline('raw', ctx.stepMs);
  const server = forkHelper('raw server', './raw-server.ts', ['answer']);
  try {
    const { port } = await server.next<{ port: number }>('listening', dl);
    const url = `http://127.0.0.1:${port}`;
    const file = script(ctx, 'raw', { path: `/chatbot/hooks/${DEMO_BOT}`, authorization: 'bearer raw-target-token-of-a-similar-length' });
    const { w, cpuPct } = await measureAnswered(ctx, { url, file, pid: server.proc.pid ?? 0 }, dl);
    return { key: 'raw', label: 'R  node:http answers', wrk: w, e2eRate: null, drainMs: null, peakRssMb: null, cpuPct, notes: wrkNotes(w) };
  } finally {
    await server.stop();
  }
}

/** R2: a bare node:http server acknowledging at once and relaying each body to the receiver (undici Pool). */
export async function runRelay(ctx: InboundContext): Promise<InboundResult> {
  const dl = deadline('relay', ctx.stepMs);
  const server = forkHelper('relay server', './raw-server.ts', ['relay', ctx.receiverUrl, String(ctx.connections)]);
  try {
    const { port } = await server.next<{ port: number }>('listening', dl);
    const url = `http://127.0.0.1:${port}`;
    const file = script(ctx, 'relay', { path: `/chatbot/hooks/${DEMO_BOT}`, authorization: 'bearer raw-target-token-of-a-similar-length' });
    const { w, cpuPct, e2eRate, drainMs } = await measureRelayed(ctx, { url, file, pid: server.proc.pid ?? 0, perRequest: 1, what: 'relay' }, dl);
    server.send({ cmd: 'stats' });
    const relay = await server.next<{ relayErrors: number; firstError: string | null }>('stats', dl);
    const notes = wrkNotes(w);
    if (relay.relayErrors > 0) notes.push(`${relay.relayErrors} relays failed (first: ${relay.firstError})`);
    return {
      key: 'relay', label: 'R2 node:http ack + undici relay', wrk: w, e2eRate, drainMs, peakRssMb: null, cpuPct, notes,
    };
  } finally {
    await server.stop();
  }
}

/** An answering target's measured run: a warm-up, then wrk; CPU is the server process's during wrk. */
async function measureAnswered(ctx: InboundContext, args: { url: string; file: string; pid: number }, dl: Deadline) {
  await warmUp(ctx, args.url, args.file, dl);
  const cpu0 = cpuSeconds(args.pid);
  const w = await wrkRun(ctx, args.url, args.file, ctx.durationS, dl);
  return { w, cpuPct: (100 * (cpuSeconds(args.pid) - cpu0) * 1000) / w.durationMs };
}

/**
 * A relaying target's measured run: a warm-up drained at the receiver, then wrk, then the drain of every expected
 * delivery (`perRequest` per acknowledged request); CPU is the server process's during wrk.
 */
async function measureRelayed(ctx: InboundContext, args: { url: string; file: string; pid: number; perRequest: number; what: string }, dl: Deadline) {
  const { url, file, pid, perRequest, what } = args;
  await startCount(ctx, dl);
  const warm = await warmUp(ctx, url, file, dl);
  if (warm) await drained(ctx, warm.ok2xx * perRequest, `${what} warm-up`);
  await settle(ctx, 500, dl);
  await startCount(ctx, dl);
  const cpu0 = cpuSeconds(pid);
  const w = await wrkRun(ctx, url, file, ctx.durationS, dl);
  const cpuPct = (100 * (cpuSeconds(pid) - cpu0) * 1000) / w.durationMs;
  const expected = w.ok2xx * perRequest;
  ctx.progress(`acknowledged ${w.ok2xx} in ${(w.durationMs / 1000).toFixed(1)} s; waiting for ${expected} deliveries`);
  const reachedAt = await drained(ctx, expected, what);
  return { w, cpuPct, expected, e2eRate: (w.ok2xx * 1000) / (reachedAt - w.startedAt), drainMs: Math.max(0, reachedAt - w.finishedAt) };
}

export interface GatewayRun {
  gateway: Gateway;
  rss: ReturnType<typeof sampleRss>;
}

/**
 * Waits for the demo bot: /readyz answers 200 once the gateway listens, but the demo is provisioned after that
 * (src/main.ts: listen(), then start() provisions), so a channel created at once may find no bot yet.
 */
async function demoBot(gateway: Gateway, dl: Deadline): Promise<void> {
  for (;;) {
    const res = await dl.race(gateway.api('GET', `/api/bots/${DEMO_BOT}`), `GET /api/bots/${DEMO_BOT}`);
    if (res.status === 200) return;
    if (res.status !== 404) throw new Error(`GET /api/bots/${DEMO_BOT} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
    if (dl.left() <= 0) throw new Error(`the gateway is ready but has no demo bot "${DEMO_BOT}" (is the demo disabled?)`);
    await sleep(50);
  }
}

/** A fresh gateway (its own data dir, the demo bot provisioned), with its RSS sampled; stopped by the returned fn. */
export async function withGateway<T>(ctx: InboundContext, key: string, dl: Deadline, body: (g: GatewayRun) => Promise<T>): Promise<T> {
  const dataDir = mkdtempSync(join(tmpdir(), `botgate-bench-${key}-`));
  const removeDir = defer(() => rmSync(dataDir, { recursive: true, force: true }));
  let gateway: Gateway | null = null;
  let rss: ReturnType<typeof sampleRss> | null = null;
  try {
    gateway = await startGateway({ dataDir, env: ctx.gatewayEnv, cpuProfDir: ctx.cpuProfDir }, dl);
    rss = sampleRss(gateway.pid);
    await demoBot(gateway, dl);
    return await body({ gateway, rss });
  } catch (error) {
    const tail = gateway?.logTail(15);
    if (tail) (error as Error).message += `\n--- gateway log (last lines) ---\n${tail}`;
    throw error;
  } finally {
    rss?.stop();
    // A graceful stop writes the CPU profile when asked for one; else the gateway is killed (nothing to keep).
    if (gateway) await (ctx.cpuProfDir ? gateway.stop() : gateway.kill());
    await removeDir.run();
  }
}

/** botgate sync channel: each request is stored, its turn run and the reply stored before the answer. */
export async function runSync(ctx: InboundContext): Promise<InboundResult> {
  const dl = deadline('sync', ctx.stepMs);
  return withGateway(ctx, 'sync', dl, async ({ gateway, rss }) => {
    const channel = await createKoreChannel(gateway, DEMO_BOT, { mode: 'sync' }, dl);
    const probe = await koreRequest(gateway.base, channel.path, channel.authorization, ctx.text, 'probe-user', dl);
    if (probe.status !== 200) throw new Error(`the probe request answered ${probe.status}: ${probe.body.slice(0, 300)}`);
    ctx.progress(`channel ${channel.path}; "${ctx.text}" → ${probe.body}`);
    const file = script(ctx, 'sync', { path: channel.path, authorization: channel.authorization });
    const { w, cpuPct } = await measureAnswered(ctx, { url: gateway.base, file, pid: gateway.pid }, dl);
    const notes = [...wrkNotes(w), `the sync answer: ${probe.body}`];
    return { key: 'sync', label: 'botgate sync channel (SQLite)', wrk: w, e2eRate: null, drainMs: null, peakRssMb: rss.peakMb(), cpuPct, notes };
  });
}

/** botgate async channel: 200 once stored; the turn runs and its replies go to POST_URL (the receiver). */
export async function runAsync(ctx: InboundContext): Promise<InboundResult> {
  const dl = deadline('async', ctx.stepMs);
  return withGateway(ctx, 'async', dl, async ({ gateway, rss }) => {
    const channel = await createKoreChannel(gateway, DEMO_BOT, { mode: 'async', post_url: ctx.receiverUrl, access_token: 'bench-access-token' }, dl);
    // One probe request: how many deliveries (replies, endOfTask) one message makes.
    await startCount(ctx, dl);
    const probe = await koreRequest(gateway.base, channel.path, channel.authorization, ctx.text, 'probe-user', dl);
    if (probe.status !== 200) throw new Error(`the probe request answered ${probe.status}: ${probe.body.slice(0, 300)}`);
    const until = Date.now() + 10_000;
    while ((await receiverCount(ctx, dl)).counted === 0) {
      if (Date.now() > until) throw new Error('the probe request was acknowledged but nothing reached POST_URL within 10 s');
      await sleep(50);
    }
    const probed = await settle(ctx, 1000, dl);
    const perRequest = probed.counted;
    ctx.progress(`channel ${channel.path}; "${ctx.text}" → ${perRequest} deliveries to POST_URL (${probed.withText} with a text)`);
    const file = script(ctx, 'async', { path: channel.path, authorization: channel.authorization });
    const { w, cpuPct, expected, e2eRate, drainMs } = await measureRelayed(ctx, { url: gateway.base, file, pid: gateway.pid, perRequest, what: 'async' }, dl);
    const stats = await receiverCount(ctx, dl);
    const notes = [...wrkNotes(w), `${perRequest} deliveries per request (${probed.withText} with a text); e2e counts ${expected}`];
    if (stats.duplicates > 0) notes.push(`${stats.duplicates} duplicate deliveries (same webhook-id)`);
    return {
      key: 'async', label: 'botgate async channel (SQLite)', perRequest, wrk: w, e2eRate, drainMs, peakRssMb: rss.peakMb(), cpuPct, notes,
    };
  });
}

/** A floor's server (bench/lib/floor-inbound.ts) and a JWT it accepts: HS256 over a fresh secret, the Kore claims. */
async function floorServer(args: { mode: 'sync' | 'async'; receiverUrl?: string; perRequest?: number }, dl: Deadline) {
  const secret = randomBytes(24).toString('hex');
  const extra = args.mode === 'async' ? [args.receiverUrl!, String(args.perRequest)] : [];
  const server = forkHelper(`floor ${args.mode} server`, './floor-inbound.ts', [args.mode, secret, ...extra]);
  const jwt = await new SignJWT({ appId: 'floor' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject('bench').setIssuedAt()
    .setExpirationTime('1h').sign(new TextEncoder().encode(secret));
  const { port } = await server.next<{ port: number }>('listening', dl);
  return { server, url: `http://127.0.0.1:${port}`, authorization: `bearer ${jwt}` };
}

/** Floor FS: what the sync channel must do (JWT, conversation, message in and reply stored, then answered) and no more. */
export async function runFloorSync(ctx: InboundContext): Promise<InboundResult> {
  const dl = deadline('floor-sync', ctx.stepMs);
  const { server, url, authorization } = await floorServer({ mode: 'sync' }, dl);
  const rss = sampleRss(server.proc.pid ?? 0);
  try {
    const file = script(ctx, 'floor-sync', { path: `/chatbot/hooks/${DEMO_BOT}`, authorization });
    const { w, cpuPct } = await measureAnswered(ctx, { url, file, pid: server.proc.pid ?? 0 }, dl);
    return { key: 'floor-sync', label: 'FS floor: JWT, store, answer', wrk: w, e2eRate: null, drainMs: null, peakRssMb: rss.peakMb(), cpuPct, notes: wrkNotes(w) };
  } finally {
    rss.stop();
    await server.stop();
  }
}

/**
 * Floor FA: what the async channel must do (JWT, conversation, message in, replies and their deliveries stored, then
 * acknowledged; each delivery signed, sent in order per conversation and recorded) and no more, with as many
 * deliveries per request as botgate's async run made.
 */
export async function runFloorAsync(ctx: InboundContext, perRequest: number): Promise<InboundResult> {
  const dl = deadline('floor-async', ctx.stepMs);
  const { server, url, authorization } = await floorServer({ mode: 'async', receiverUrl: ctx.receiverUrl, perRequest }, dl);
  const rss = sampleRss(server.proc.pid ?? 0);
  try {
    const file = script(ctx, 'floor-async', { path: `/chatbot/hooks/${DEMO_BOT}`, authorization });
    const { w, cpuPct, expected, e2eRate, drainMs } = await measureRelayed(ctx, { url, file, pid: server.proc.pid ?? 0, perRequest, what: 'floor-async' }, dl);
    const stats = await receiverCount(ctx, dl);
    const notes = [...wrkNotes(w), `${perRequest} deliveries per request; e2e counts ${expected}`];
    if (stats.duplicates > 0) notes.push(`${stats.duplicates} duplicate deliveries (same webhook-id)`);
    return {
      key: 'floor-async', label: 'FA floor: JWT, store, ack, sign, send, record', perRequest, wrk: w, e2eRate, drainMs, peakRssMb: rss.peakMb(), cpuPct, notes,
    };
  } finally {
    rss.stop();
    await server.stop();
  }
}
