// Delivery benchmark: botgate (SQLite, PostgreSQL) vs a plain POST loop and BullMQ, plus dead-endpoint isolation,
// and a floor F (the least a durable delivery costs here) as a reference.
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { deadline, forkHelper, killAll, runCleanups, type Helper } from './lib/procs.ts';
import { coldLine, combineRounds, floorLine, LEGEND, pairs, summarize, verdict, type Outcome } from './lib/report.ts';
import { checkPostgres, ensureRedis } from './lib/services.ts';
import { runBotgate, runFloor, runFloorIsolation, runIsolation, runLimit, runQueue, type BenchContext, type TargetResult } from './lib/targets.ts';

const TARGETS = ['limit', 'queue', 'floor', 'sqlite', 'pg', 'isolation', 'floor-isolation'] as const;
type Target = (typeof TARGETS)[number];

const HELP = `usage: node bench/delivery.ts [options]     (npm run bench:delivery -- [options])

Measures, one after another on loopback:
  limit      baseline L: plain undici POSTs to the receiver, 100 in flight
  queue      baseline Q: BullMQ on Redis 127.0.0.1:6379, addBulk + a worker of concurrency 100
  floor      reference F: the same publish to a bare server that only stores (node:sqlite), signs, sends and
             records (bench/lib/floor-delivery.ts): the least a durable delivery costs on this machine
  sqlite     botgate on SQLite: 50 clients publish batches of 100, one endpoint
  pg         botgate on PostgreSQL (BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/test), a fresh schema
  isolation  botgate on SQLite with a second endpoint that never answers (healthy throughput drop)
  floor-isolation  reference: the floor F with such a second endpoint (every message stored and sent to both)

options:
  --messages N        messages per target (default 20000)
  --warmup N          first an unmeasured pass of N messages through each target's own processes, so the measured
                      pass finds the hot paths JIT-compiled and the heaps grown, every baseline's too (default 0:
                      every target measured from a fresh start); the cold figures of that pass are printed as well
  --rounds N          rounds of every target, one after another (default 3); the RESULT line gives the median of
                      each figure over the rounds and the largest RSS of any
  --only a,b,…        run only these targets (${TARGETS.join(',')})
  --timeout S         time budget of each target in seconds (default 300)
  --cpu-prof DIR      write the gateway's V8 CPU profiles into DIR (experiments; slows the gateway)
  --gateway-env K=V   extra BOTGATE_* setting for every gateway started (repeatable; experiments)
  -h, --help          this text

Before the targets a line gives floor_vs_limit, floor_vs_queue, sqlite_vs_floor and floor_drop_pct (the floor's
healthy drop next to a dead endpoint), medians over the rounds.
The last line is: RESULT sqlite_vs_queue=… sqlite_vs_limit=… pg_vs_queue=… healthy_drop_pct=… p99_ms=… rss_mb=…`;

function options() {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '20000' },
      warmup: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      only: { type: 'string' },
      timeout: { type: 'string', default: '300' },
      'cpu-prof': { type: 'string' },
      'gateway-env': { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const n = Number(values.messages);
  const timeout = Number(values.timeout);
  const rounds = Number(values.rounds);
  const warmup = Number(values.warmup ?? 0);
  if (!Number.isInteger(warmup) || warmup < 0) throw new Error('--warmup must be a whole number of messages');
  if (!Number.isInteger(n) || n < 1) throw new Error('--messages must be a positive integer');
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  if (!(timeout > 0)) throw new Error('--timeout must be a positive number of seconds');
  const only = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : [...TARGETS];
  for (const t of only) if (!(TARGETS as readonly string[]).includes(t)) throw new Error(`--only: unknown target ${t} (known: ${TARGETS.join(', ')})`);
  const gatewayEnv: Record<string, string> = {};
  for (const pair of values['gateway-env']) {
    const eq = pair.indexOf('=');
    if (eq < 1 || !pair.startsWith('BOTGATE_')) throw new Error(`--gateway-env wants BOTGATE_KEY=value, got ${pair}`);
    gatewayEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { n, warmup, rounds, stepMs: timeout * 1000, only: new Set(only as Target[]), cpuProfDir: values['cpu-prof'], gatewayEnv };
}

const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

async function main(): Promise<number> {
  const opts = options();
  const pgUrl = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  console.log(`botgate delivery benchmark: ${opts.n} messages per target${opts.warmup ? ` after a warm-up pass of ${opts.warmup}` : ''}, ${cpus().length} cores, node ${process.version}, load average ${load()}`);
  const extra = Object.entries(opts.gatewayEnv).map(([k, v]) => `${k}=${v}`);
  if (extra.length) console.log(`gateway settings changed for this run: ${extra.join(' ')}`);

  const receiver: Helper = forkHelper('receiver', './receiver.ts', ['ok']);
  const rounds: Outcome[][] = [];
  let redis: { stop(): Promise<void> } | null = null;
  try {
    const { port } = await receiver.next<{ port: number }>('listening', deadline('receiver', 10_000));
    const ctx: BenchContext = { n: opts.n, warmup: opts.warmup, stepMs: opts.stepMs, receiver, receiverUrl: `http://127.0.0.1:${port}/hook`, cpuProfDir: opts.cpuProfDir, gatewayEnv: opts.gatewayEnv, progress: (l) => log(`  ${l}`) };
    for (let round = 1; round <= opts.rounds; round++) {
      if (opts.rounds > 1) log(`round ${round} of ${opts.rounds}`);
      const outcomes: Outcome[] = [];
      rounds.push(outcomes);
      const measure = async (key: Target, label: string, run: () => Promise<TargetResult>) => {
        if (!opts.only.has(key)) return;
        log(`${label}: running (load average ${load()})`);
        try {
          const result = await run();
          log(`${label}: ${result.msgsPerSec.toFixed(0)} msg/s in ${(result.totalMs / 1000).toFixed(2)} s`);
          outcomes.push(result);
        } catch (error) {
          const message = (error as Error).message ?? String(error);
          log(`${label}: FAILED — ${message}`);
          const oneLine = message.split('\n').map((l) => l.trim()).filter(Boolean).join(' | ');
          outcomes.push({ key, label, error: oneLine.length > 400 ? `${oneLine.slice(0, 400)}…` : oneLine });
        }
      };

      await measure('limit', 'L  undici → receiver', () => runLimit(ctx));
      await measure('queue', 'Q  BullMQ (Redis)', async () => {
        redis ??= await ensureRedis();
        return runQueue(ctx);
      });
      await measure('floor', 'F  floor: store, sign, send, record', () => runFloor(ctx));
      await measure('sqlite', 'botgate SQLite', () => runBotgate(ctx, { key: 'sqlite', label: 'botgate SQLite' }));
      if (opts.only.has('pg')) {
        const reason = await checkPostgres(pgUrl);
        if (reason) {
          log(`botgate PostgreSQL: skipped, PostgreSQL does not answer at ${pgUrl}: ${reason}`);
          outcomes.push({ key: 'pg', label: 'botgate PostgreSQL', error: `skipped: PostgreSQL does not answer (${reason})` });
        } else {
          const schema = `bench_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
          await measure('pg', 'botgate PostgreSQL', () => runBotgate(ctx, { key: 'pg', label: 'botgate PostgreSQL', postgres: { url: pgUrl, schema } }));
        }
      }
      await measure('isolation', 'botgate SQLite + dead endpoint', () => runIsolation(ctx));
      await measure('floor-isolation', 'F  floor + dead endpoint', () => runFloorIsolation(ctx));
    }
  } finally {
    await receiver.stop();
    await (redis as { stop(): Promise<void> } | null)?.stop();
    killAll();
    await runCleanups();
  }
  console.log(`load average at the end: ${load()}`);
  const figures: Record<string, number>[] = [];
  const references: Record<string, number>[] = [];
  const colds: Record<string, number>[] = [];
  for (const [i, outcomes] of rounds.entries()) {
    const summary = summarize(outcomes, opts.n);
    figures.push(summary.values);
    references.push(summary.floor);
    colds.push(summary.cold);
    console.log(`\n${opts.rounds > 1 ? `round ${i + 1} of ${opts.rounds}` : 'results'}:\n${summary.text}`);
  }
  console.log(`\n${LEGEND}`);
  if (opts.rounds > 1) {
    console.log(`\nper round:\n${figures.map((f, i) => `  round ${i + 1}: ${pairs(f)}`).join('\n')}`);
    console.log('combined: the median of each figure over the rounds; rss_mb the largest of any round.');
  }
  console.log(`\n${floorLine(combineRounds(references))}`);
  if (opts.warmup > 0) console.log(coldLine(combineRounds(colds)));
  console.log(`\n${verdict(combineRounds(figures))}`);
  return rounds.flat().some((o) => 'error' in o && !o.error.startsWith('skipped')) ? 1 : 0;
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${signal}: stopping every child process and cleaning up`);
    killAll();
    void runCleanups().finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).message ?? error}\n`);
    killAll();
    void runCleanups().finally(() => process.exit(1));
  },
);
