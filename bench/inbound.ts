// Inbound benchmark: Kore.ai webhook requests under wrk — botgate's sync and async channels vs bare node:http R and R2.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { intentAccuracy } from '../src/conversation/intent-accuracy.ts';
import { startFlags } from './lib/gateway.ts';
import { summarizeInbound, type InboundOutcome } from './lib/inbound-report.ts';
import { runAsync, runFloorAsync, runFloorSync, runRaw, runRelay, runSync, type InboundContext, type InboundResult } from './lib/inbound-targets.ts';
import { deadline, defer, forkHelper, killAll, runCleanups, type Helper } from './lib/procs.ts';
import { WRK } from './lib/wrk.ts';

const TARGETS = ['raw', 'sync', 'floor-sync', 'relay', 'async', 'floor-async'] as const;
type Target = (typeof TARGETS)[number];
const REPO = fileURLToPath(new URL('../', import.meta.url));

const HELP = `usage: node bench/inbound.ts [options]     (npm run bench:inbound -- [options])

Drives Kore.ai webhook requests with wrk -t1 -c50 (10,000 rotating users, one JWT), one target after another on loopback:
  raw    R:  a bare node:http server answering each POST with a fixed JSON
  sync   botgate's sync channel (SQLite, the demo bot): stored, turn run, reply stored, then answered
  relay  R2: a bare node:http server acknowledging at once and relaying each body to a receiver (undici Pool)
  async  botgate's async channel: acknowledged once stored; the replies go to the receiver (POST_URL)
  floor-sync, floor-async   references FS and FA: a bare server doing only what the channel must (JWT, the
         conversation and its messages stored in node:sqlite; async: the deliveries signed, sent in order, recorded),
         bench/lib/floor-inbound.ts: the least such a channel costs on this machine

options:
  --duration S        seconds of each measured wrk run (default 20)
  --warmup S          seconds of an unmeasured wrk run before each (default 2; 0: none)
  --only a,b,…        run only these targets (${TARGETS.join(',')})
  --text T            the message text (default "what is my balance": an intent whose flow ends at once)
  --drain-timeout S   how long relay/async may take to deliver everything after wrk stops (default 120)
  --cpu-prof DIR      write the gateway's V8 CPU profiles into DIR (experiments; slows the gateway)
  --gateway-env K=V   extra BOTGATE_* setting for every gateway started (repeatable; experiments)
  -h, --help          this text

Before the targets a line gives floor_sync_vs_raw, floor_async_vs_relay, sync_vs_floor and async_vs_floor.
The last line is: RESULT sync_vs_raw=… sync_p99_ms=… async_vs_relay=… rss_mb=… intent_accuracy=…`;

function positive(name: string, text: string, zeroOk = false): number {
  const x = Number(text);
  if (!Number.isFinite(x) || x < 0 || (!zeroOk && x === 0)) throw new Error(`--${name} must be a ${zeroOk ? 'non-negative' : 'positive'} number of seconds`);
  return x;
}

function options() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '2' },
      only: { type: 'string' },
      text: { type: 'string', default: 'what is my balance' },
      'drain-timeout': { type: 'string', default: '120' },
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
  const only = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : [...TARGETS];
  for (const t of only) if (!(TARGETS as readonly string[]).includes(t)) throw new Error(`--only: unknown target ${t} (known: ${TARGETS.join(', ')})`);
  const gatewayEnv: Record<string, string> = {};
  for (const pair of values['gateway-env']) {
    const eq = pair.indexOf('=');
    if (eq < 1 || !pair.startsWith('BOTGATE_')) throw new Error(`--gateway-env wants BOTGATE_KEY=value, got ${pair}`);
    gatewayEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return {
    durationS: Math.round(positive('duration', values.duration)),
    warmupS: Math.round(positive('warmup', values.warmup, true)),
    drainMs: positive('drain-timeout', values['drain-timeout']) * 1000,
    text: values.text,
    only: new Set(only as Target[]),
    cpuProfDir: values['cpu-prof'],
    gatewayEnv,
  };
}

const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

async function main(): Promise<number> {
  const opts = options();
  const wrk = spawnSync(WRK, ['--version'], { encoding: 'utf8' });
  if (wrk.error) throw new Error(`cannot run ${WRK} (${wrk.error.message}): install wrk, or name it in BENCH_WRK`);
  const accuracy = await intentAccuracy(join(REPO, 'bots/demo/bot.yaml'), join(REPO, 'test/conversation/intent-heldout-v2.yaml'));
  console.log(`botgate inbound benchmark: wrk -t1 -c50 -d${opts.durationS}s (warm-up ${opts.warmupS} s), 10000 users, text "${opts.text}", ${cpus().length} cores, node ${process.version}, load average ${load()}`);
  console.log(`wrk: ${(wrk.stdout || wrk.stderr).split('\n')[0].trim()}; gateway flags: ${startFlags().join(' ') || 'none'}`);
  console.log(`intent accuracy of bots/demo/bot.yaml on test/conversation/intent-heldout-v2.yaml: ${accuracy.correct}/${accuracy.total} = ${accuracy.accuracy.toFixed(3)}`);
  const extra = Object.entries(opts.gatewayEnv).map(([k, v]) => `${k}=${v}`);
  if (extra.length) console.log(`gateway settings changed for this run: ${extra.join(' ')}`);

  const scriptDir = mkdtempSync(join(tmpdir(), 'botgate-bench-wrk-'));
  const removeScripts = defer(() => rmSync(scriptDir, { recursive: true, force: true }));
  const receiver: Helper = forkHelper('receiver', './receiver.ts', ['ok']);
  const outcomes: InboundOutcome[] = [];
  try {
    const { port } = await receiver.next<{ port: number }>('listening', deadline('receiver', 10_000));
    const ctx: InboundContext = {
      durationS: opts.durationS, warmupS: opts.warmupS, threads: 1, connections: 50, users: 10_000, text: opts.text,
      stepMs: (opts.durationS + opts.warmupS) * 1000 + 120_000, drainMs: opts.drainMs, scriptDir, receiver,
      receiverUrl: `http://127.0.0.1:${port}/hook`, cpuProfDir: opts.cpuProfDir, gatewayEnv: opts.gatewayEnv, progress: (l) => log(`  ${l}`),
    };
    const measure = async (key: Target, label: string, run: () => Promise<InboundResult>) => {
      if (!opts.only.has(key)) return;
      log(`${label}: running (load average ${load()})`);
      try {
        const r = await run();
        log(`${label}: ${r.wrk.okRate.toFixed(0)} 2xx/s, p99 ${r.wrk.p99.toFixed(2)} ms${r.e2eRate === null ? '' : `, end to end ${r.e2eRate.toFixed(0)} req/s`}`);
        outcomes.push(r);
      } catch (error) {
        const message = (error as Error).message ?? String(error);
        log(`${label}: FAILED — ${message}`);
        const oneLine = message.split('\n').map((l) => l.trim()).filter(Boolean).join(' | ');
        outcomes.push({ key, label, error: oneLine.length > 400 ? `${oneLine.slice(0, 400)}…` : oneLine });
      }
    };
    await measure('raw', 'R  node:http answers', () => runRaw(ctx));
    await measure('sync', 'botgate sync channel (SQLite)', () => runSync(ctx));
    await measure('floor-sync', 'FS floor: JWT, store, answer', () => runFloorSync(ctx));
    await measure('relay', 'R2 node:http ack + undici relay', () => runRelay(ctx));
    await measure('async', 'botgate async channel (SQLite)', () => runAsync(ctx));
    // As many deliveries per request as botgate's async run made (the default text: a reply and endOfTask).
    const measured = outcomes.find((o) => o.key === 'async' && !('error' in o)) as InboundResult | undefined;
    await measure('floor-async', 'FA floor: JWT, store, ack, sign, send, record', () => runFloorAsync(ctx, measured?.perRequest ?? 2));
  } finally {
    await receiver.stop();
    killAll();
    await removeScripts.run();
    await runCleanups();
  }
  console.log(`load average at the end: ${load()}\n`);
  console.log(summarizeInbound(outcomes, accuracy.accuracy).text);
  return outcomes.some((o) => 'error' in o) ? 1 : 0;
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
