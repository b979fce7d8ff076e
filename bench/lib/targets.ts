// The measured targets, each run alone: baselines L and Q, botgate on SQLite / PostgreSQL, and the isolation run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type Gateway } from './gateway.ts';
import { deadline, defer, forkHelper, sleep, type Deadline, type Helper } from './procs.ts';
import { cpuSeconds, sampleRss, threadCpuLine, threadCpuSeconds } from './sampler.ts';
import { dropSchema } from './services.ts';

export interface BenchContext {
  n: number;
  /** Messages of the unmeasured pass each target runs first in the same processes (0: none; measured cold). */
  warmup: number;
  /** Budget of each target, in ms. */
  stepMs: number;
  receiver: Helper;
  receiverUrl: string;
  /** Directory for gateway CPU profiles (experiments), or undefined. */
  cpuProfDir?: string;
  /** Extra BOTGATE_* settings for every gateway (experiments). */
  gatewayEnv: Record<string, string>;
  progress(line: string): void;
}

export interface TargetResult {
  key: string;
  label: string;
  /** First send/enqueue/publish → all delivered (and, for botgate, recorded as sent). */
  totalMs: number;
  msgsPerSec: number;
  /** msg/s of the warm-up pass (the processes fresh: JIT and heap not yet settled), or null without one. */
  coldMsgsPerSec: number | null;
  /** First publish → the receiver has every message (the healthy endpoint's throughput basis). */
  receivedMs: number;
  /** Messages acknowledged per second by the API / queue during the publish phase alone. */
  publishPerSec: number | null;
  p50: number;
  p99: number;
  peakRssMb: number | null;
  /** CPU the main process (gateway, queue worker) used during the measured window, as % of one core. */
  cpuPct: number | null;
  notes: string[];
}

interface Reached {
  at: number;
}
interface ReceiverStats {
  distinct: number;
  requests: number;
  duplicates: number;
  stray: number;
  connections: number;
  latencies: number[];
}

const PUBLISH_CLIENTS = 50;
const PUBLISH_BATCH = 100;
const DIRECT_CONCURRENCY = 100;
const QUEUE_CONCURRENCY = 100;
const QUEUE_CHUNK = 1000;

const runId = (key: string) => `${key}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

async function expect(ctx: BenchContext, run: string, n: number, dl: Deadline): Promise<void> {
  ctx.receiver.discard('reached');
  ctx.receiver.send({ cmd: 'expect', run, n });
  await ctx.receiver.next('expecting', dl);
}

/** Waits until the receiver has every message; a timeout says how far it got. */
async function delivered(ctx: BenchContext, n: number, dl: Deadline): Promise<Reached> {
  try {
    return await ctx.receiver.next<Reached>('reached', dl);
  } catch (error) {
    const got = await receiverStats(ctx, deadline('receiver stats', 5000)).then((s) => s.distinct, () => NaN);
    (error as Error).message += ` (the receiver has ${got} of ${n})`;
    throw error;
  }
}

async function receiverStats(ctx: BenchContext, dl: Deadline): Promise<ReceiverStats & { p50: number; p99: number }> {
  ctx.receiver.send({ cmd: 'stats' });
  const stats = await ctx.receiver.next<ReceiverStats>('stats', dl);
  const sorted = Float64Array.from(stats.latencies).sort();
  const arr = Array.from(sorted);
  return { ...stats, p50: percentile(arr, 50), p99: percentile(arr, 99) };
}

function receiverNotes(stats: ReceiverStats): string[] {
  const notes: string[] = [];
  if (stats.duplicates > 0) notes.push(`${stats.duplicates} duplicate deliveries`);
  if (stats.stray > 0) notes.push(`${stats.stray} requests from another run`);
  return notes;
}

type Pass = Omit<TargetResult, 'coldMsgsPerSec'>;

/**
 * A target's measurement: with a warm-up, one unmeasured pass of ctx.warmup messages first, through the same
 * processes (a long-running service is measured warm: its JIT has compiled the hot paths and its heap has grown to
 * its working size; every target gets the same), then the measured pass of ctx.n. The warm-up's rate is kept as
 * the cold figure. Peak RSS covers both passes.
 */
async function warmThenMeasure(ctx: BenchContext, pass: (n: number) => Promise<Pass>): Promise<TargetResult> {
  let cold: number | null = null;
  if (ctx.warmup > 0) {
    cold = (await pass(ctx.warmup)).msgsPerSec;
    ctx.progress(`warm-up: ${ctx.warmup} messages at ${cold.toFixed(0)} msg/s (not measured)`);
  }
  return { ...(await pass(ctx.n)), coldMsgsPerSec: cold };
}

/** Baseline L: N plain JSON POSTs straight to the receiver, 100 in flight. */
export async function runLimit(ctx: BenchContext): Promise<TargetResult> {
  const dl = deadline('limit', ctx.stepMs);
  const load = forkHelper('load generator', './load.ts');
  try {
    await load.next('ready', dl);
    return await warmThenMeasure(ctx, async (n) => {
      const run = runId('L');
      await expect(ctx, run, n, dl);
      load.send({ cmd: 'direct', url: ctx.receiverUrl, run, n, concurrency: DIRECT_CONCURRENCY });
      const done = await load.next<{ startedAt: number; finishedAt: number; errors: number; firstError: string | null }>('done', dl);
      if (done.errors > 0) throw new Error(`${done.errors} POSTs failed; first: ${done.firstError}`);
      const reached = await delivered(ctx, n, dl);
      const stats = await receiverStats(ctx, dl);
      const totalMs = Math.max(done.finishedAt, reached.at) - done.startedAt;
      return {
        key: 'limit', label: 'L  undici → receiver', totalMs, msgsPerSec: (n * 1000) / totalMs, receivedMs: reached.at - done.startedAt,
        publishPerSec: null, p50: stats.p50, p99: stats.p99, peakRssMb: null, cpuPct: null, notes: receiverNotes(stats),
      };
    });
  } finally {
    await load.stop();
  }
}

/** Baseline Q: BullMQ on Redis, jobs enqueued with addBulk, one worker of concurrency 100 POSTing them. */
export async function runQueue(ctx: BenchContext): Promise<TargetResult> {
  const dl = deadline('queue', ctx.stepMs);
  const queueName = 'botgate-bench-delivery';
  const producer = forkHelper('BullMQ producer', './queue.ts', ['producer', queueName]);
  let worker: Helper | null = null;
  let rss: ReturnType<typeof sampleRss> | null = null;
  try {
    await producer.next('ready', dl);
    producer.send({ cmd: 'flush' });
    await producer.next('flushed', dl);
    const queueWorker = (worker = forkHelper('BullMQ worker', './queue.ts', ['worker', queueName]));
    queueWorker.send({ cmd: 'start', url: ctx.receiverUrl, concurrency: QUEUE_CONCURRENCY });
    await queueWorker.next('ready', dl);
    const pid = queueWorker.proc.pid ?? 0;
    const sampler = (rss = sampleRss(pid));
    return await warmThenMeasure(ctx, async (n) => {
      const run = runId('Q');
      queueWorker.send({ cmd: 'goal', n });
      await queueWorker.next('goal-set', dl);
      await expect(ctx, run, n, dl);
      const cpu0 = cpuSeconds(pid);
      producer.send({ cmd: 'enqueue', run, n, chunk: QUEUE_CHUNK });
      const enqueued = await producer.next<{ startedAt: number; finishedAt: number }>('enqueued', dl);
      const done = await queueWorker.next<{ at: number; failed: number; firstError: string | null }>('done', dl);
      const reached = await delivered(ctx, n, dl);
      const cpu1 = cpuSeconds(pid);
      const stats = await receiverStats(ctx, dl);
      const totalMs = Math.max(done.at, reached.at) - enqueued.startedAt;
      const notes = receiverNotes(stats);
      if (done.failed > 0) notes.push(`${done.failed} jobs failed (${done.firstError})`);
      notes.push('RSS/CPU: the worker process (Redis not included)');
      return {
        key: 'queue', label: 'Q  BullMQ (Redis)', totalMs, msgsPerSec: (n * 1000) / totalMs, receivedMs: reached.at - enqueued.startedAt,
        publishPerSec: (n * 1000) / Math.max(1, enqueued.finishedAt - enqueued.startedAt),
        p50: stats.p50, p99: stats.p99, peakRssMb: sampler.peakMb(), cpuPct: (100 * (cpu1 - cpu0) * 1000) / totalMs, notes,
      };
    });
  } finally {
    rss?.stop();
    if (worker) {
      worker.send({ cmd: 'stop' });
      await worker.next('stopped', deadline('queue worker stop', 10_000)).catch(() => {});
      await worker.stop();
    }
    producer.send({ cmd: 'flush' });
    await producer.next('flushed', deadline('queue flush', 10_000)).catch(() => {});
    await producer.stop();
  }
}

export interface BotgateOptions {
  key: 'sqlite' | 'pg' | 'isolation';
  label: string;
  /** PostgreSQL URL and schema, or none for SQLite. */
  postgres?: { url: string; schema: string };
  /** Adds a second endpoint pointing at this never-answering receiver. */
  dead?: { url: string; receiver: Helper };
}

/** botgate: publish N messages through POST /api/messages/batch (50 clients × batches of 100) and time the delivery. */
export async function runBotgate(ctx: BenchContext, options: BotgateOptions): Promise<TargetResult> {
  const dl = deadline(options.key, ctx.stepMs);
  const dataDir = mkdtempSync(join(tmpdir(), 'botgate-bench-'));
  const removeDir = defer(() => rmSync(dataDir, { recursive: true, force: true }));
  const pgSchema = options.postgres;
  const dropPg = pgSchema ? defer(() => dropSchema(pgSchema.url, pgSchema.schema)) : null;
  const publisher = forkHelper('publisher', './load.ts');
  let gateway: Gateway | null = null;
  let rss: ReturnType<typeof sampleRss> | null = null;
  try {
    const env: Record<string, string> = { ...ctx.gatewayEnv };
    if (pgSchema) Object.assign(env, { BOTGATE_DATABASE_URL: pgSchema.url, BOTGATE_DATABASE_SCHEMA: pgSchema.schema });
    const started = (gateway = await startGateway({ dataDir, env, cpuProfDir: ctx.cpuProfDir }, dl));
    const sampler = (rss = sampleRss(gateway.pid));
    await dl.race(gateway.createEndpoint({ name: 'bench receiver', url: ctx.receiverUrl }), 'creating the endpoint');
    if (options.dead) await dl.race(gateway.createEndpoint({ name: 'bench dead receiver', url: options.dead.url, timeout_seconds: 5 }), 'creating the dead endpoint');
    await publisher.next('ready', dl);
    const result = await warmThenMeasure(ctx, (n) => publishAndMeasure(ctx, publisher, {
      key: options.key, label: options.label, base: started.base, token: started.token, pid: started.pid, rss: sampler,
      // Recorded, too: the store counts every delivery as sent (not polled earlier, to leave the gateway its CPU).
      recorded: options.dead ? undefined : () => dl.race(started.sentCount(), 'GET /metrics'),
    }, n, dl));
    if (options.dead) result.notes.push(`total = until the healthy endpoint has all; the dead one got ${await deadConnections(options.dead.receiver)} connections`);
    return result;
  } catch (error) {
    if (gateway) {
      const tail = gateway.logTail(15);
      if (tail) (error as Error).message += `\n--- gateway log (last lines) ---\n${tail}`;
    }
    throw error;
  } finally {
    rss?.stop();
    await publisher.stop();
    // Graceful stop writes a CPU profile when asked for one; the isolation run is killed (the dead endpoint's
    // in-flight tries would hold the shutdown for their timeout).
    if (gateway) await (options.dead || !ctx.cpuProfDir ? gateway.kill() : gateway.stop());
    await dropPg?.run();
    await removeDir.run();
  }
}

/**
 * Floor F: the same publish (50 clients × batches of 100) to bench/lib/floor-delivery.ts, the least a durable signed
 * delivery costs here (stored, signed, sent, recorded; nothing else). A reference for botgate's figures, not a target.
 */
export async function runFloor(ctx: BenchContext, deadUrl?: string): Promise<TargetResult> {
  const key = deadUrl ? 'floor-isolation' : 'floor';
  const dl = deadline(key, ctx.stepMs);
  const floor = forkHelper('floor', './floor-delivery.ts', deadUrl ? [ctx.receiverUrl, deadUrl] : [ctx.receiverUrl]);
  const publisher = forkHelper('publisher', './load.ts');
  const rss = sampleRss(floor.proc.pid!);
  try {
    const { port } = await floor.next<{ port: number }>('listening', dl);
    await publisher.next('ready', dl);
    return await warmThenMeasure(ctx, (n) => publishAndMeasure(ctx, publisher, {
      key, label: deadUrl ? 'F  floor + dead endpoint' : 'F  floor: store, sign, send, record', base: `http://127.0.0.1:${port}`, token: 'none',
      pid: floor.proc.pid!, rss,
      recorded: async () => {
        floor.send({ cmd: 'stats' });
        return (await floor.next<{ recorded: number }>('stats', dl)).recorded;
      },
    }, n, dl));
  } finally {
    rss.stop();
    await publisher.stop();
    await floor.stop();
  }
}

/**
 * The publish of n messages (50 clients × batches of 100 through the publisher helper, ready) to a server at
 * `base`, timed from the first publish until the receiver has every message and, with `recorded`, until it counts
 * every one recorded as sent (its count grown by n). CPU and RSS are the server process's.
 */
async function publishAndMeasure(
  ctx: BenchContext, publisher: Helper,
  args: { key: string; label: string; base: string; token: string; pid: number; rss: ReturnType<typeof sampleRss>; recorded?: () => Promise<number> },
  n: number, dl: Deadline,
): Promise<Pass> {
  const run = runId(args.key);
  const before = args.recorded ? await args.recorded() : 0;
  await expect(ctx, run, n, dl);
  const cpu0 = cpuSeconds(args.pid);
  const threads0 = threadCpuSeconds(args.pid);
  publisher.send({ cmd: 'publish', base: args.base, token: args.token, run, n, clients: PUBLISH_CLIENTS, batchSize: PUBLISH_BATCH });
  const pub = await publisher.next<{ startedAt: number; finishedAt: number; acked: number; errors: number; firstError: string | null }>('done', dl);
  if (pub.errors > 0) throw new Error(`${pub.errors} batch publishes failed; first: ${pub.firstError}`);
  const publishMs = pub.finishedAt - pub.startedAt;
  ctx.progress(`published ${pub.acked} in ${(publishMs / 1000).toFixed(2)} s; waiting for delivery`);
  const reached = await delivered(ctx, n, dl);
  let recordedAt = reached.at;
  while (args.recorded) {
    const sent = (await args.recorded()) - before;
    recordedAt = Date.now();
    if (sent >= n) break;
    if (dl.left() <= 0) throw new Error(`the receiver has all ${n} messages but only ${sent} are recorded as sent`);
    await sleep(25);
  }
  const cpu1 = cpuSeconds(args.pid);
  const threads = threadCpuLine(threads0, threadCpuSeconds(args.pid), Date.now() - pub.startedAt);
  const stats = await receiverStats(ctx, dl);
  const totalMs = recordedAt - pub.startedAt;
  const notes = receiverNotes(stats);
  if (threads) notes.push(`CPU by thread: ${threads}`);
  return {
    key: args.key, label: args.label, totalMs, msgsPerSec: (n * 1000) / totalMs, receivedMs: reached.at - pub.startedAt,
    publishPerSec: (pub.acked * 1000) / Math.max(1, publishMs), p50: stats.p50, p99: stats.p99, peakRssMb: args.rss.peakMb(),
    cpuPct: (100 * (cpu1 - cpu0) * 1000) / totalMs, notes,
  };
}

async function deadConnections(dead: Helper): Promise<number> {
  dead.send({ cmd: 'stats' });
  return (await dead.next<ReceiverStats>('stats', deadline('dead receiver stats', 5000))).connections;
}

/** Scenario 2: the same publish, every message to the healthy receiver and to one that never answers. */
export async function runIsolation(ctx: BenchContext): Promise<TargetResult> {
  return withDeadReceiver((url, receiver) => runBotgate(ctx, { key: 'isolation', label: 'botgate SQLite + dead endpoint', dead: { url, receiver } }));
}

/** Scenario 2 on the floor: every message also stored and sent to a receiver that never answers. */
export async function runFloorIsolation(ctx: BenchContext): Promise<TargetResult> {
  return withDeadReceiver((url) => runFloor(ctx, url));
}

async function withDeadReceiver(body: (url: string, receiver: Helper) => Promise<TargetResult>): Promise<TargetResult> {
  const dead = forkHelper('dead receiver', './receiver.ts', ['dead']);
  try {
    const { port } = await dead.next<{ port: number }>('listening', deadline('dead receiver', 10_000));
    return await body(`http://127.0.0.1:${port}/hook`, dead);
  } finally {
    await dead.stop();
  }
}
