// Platform benchmark: the generic platform webhook under wrk (the bot answers, each reply also delivered to a loopback
// receiver) end to end vs R2, the inbound benchmark's relay baseline (bare node:http acknowledging + relaying).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startFlags } from './lib/gateway.ts';
import { fmt } from './lib/inbound-report.ts';
import { runRelay, type InboundContext, type InboundResult } from './lib/inbound-targets.ts';
import { RATE_LIMIT_PER_MINUTE, runPlatform, type PlatformResult } from './lib/platform-targets.ts';
import { deadline, defer, forkHelper, killAll, runCleanups, type Helper } from './lib/procs.ts';
import { WRK } from './lib/wrk.ts';
import { num, table } from './lib/report.ts';

const TARGETS = ['relay', 'platform'] as const;
type Target = (typeof TARGETS)[number];

const HELP = `usage: node bench/platform.ts [options]     (npm run bench:platform -- [options])

Drives requests with wrk -t1 -c50 (10,000 rotating users), one target after another on loopback:
  relay     R2 of the inbound benchmark: a bare node:http server acknowledging at once and relaying each body to
            the receiver (undici Pool)
  platform  botgate's generic platform webhook (SQLite, the demo bot): POST /api/webhook/incoming with a platform
            config's inbound token, {"user_id":"u<N>","message":…,"conversation_id":"c<N>"}; answered with the bot's
            reply, which is also delivered to the config's outgoing_webhook_url (the receiver); the config's rate
            limit raised to ${RATE_LIMIT_PER_MINUTE} a minute
Both count end to end: 2xx answers whose deliveries reached the receiver ÷ (wrk start → the last of them arrived).

options:
  --duration S        seconds of each measured wrk run (default 20)
  --warmup S          seconds of an unmeasured wrk run before each (default 2; 0: none)
  --only a,b,…        run only these targets (${TARGETS.join(',')})
  --text T            the message text (default "what is my balance": an intent whose flow ends at once)
  --drain-timeout S   how long each target may take to deliver everything after wrk stops (default 60)
  --cpu-prof DIR      write the gateway's V8 CPU profile into DIR (experiments; slows the gateway)
  --gateway-env K=V   extra BOTGATE_* setting for the gateway (repeatable; experiments)
  -h, --help          this text

The last line is: RESULT platform_vs_relay=… platform_p99_ms=…`;

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
      'drain-timeout': { type: 'string', default: '60' },
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

type Outcome = InboundResult | PlatformResult | { key: string; label: string; error: string };
const ok = (o: Outcome | undefined): o is InboundResult | PlatformResult => !!o && !('error' in o);


function summarize(outcomes: Outcome[]): string {
  const by = new Map(outcomes.map((o) => [o.key, o]));
  const R2 = by.get('relay');
  const P = by.get('platform');
  const e2eR2 = ok(R2) ? (R2.e2eRate ?? NaN) : NaN;
  const lines: string[] = [];
  const rows = [['target', '2xx req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'non-2xx', 'sock err', 'e2e req/s', '×R2', 'drain s', 'peak RSS MB', 'CPU %']];
  for (const o of outcomes) {
    if (!ok(o)) {
      rows.push([o.label, 'n/a', ...Array<string>(rows[0].length - 2).fill('')]);
      continue;
    }
    const w = o.wrk;
    const e = w.socketErrors;
    rows.push([
      o.label, num(w.okRate, 0), num(w.p50, 2), num(w.p90, 2), num(w.p99, 2), num(w.maxMs, 1), String(w.non2xx), String(e.connect + e.read + e.write + e.timeout),
      num(o.e2eRate, 0), o.e2eRate === null ? '-' : num(o.e2eRate / e2eR2, 2), o.drainMs === null ? '-' : num(o.drainMs / 1000, 2), num(o.peakRssMb, 1), num(o.cpuPct, 0),
    ]);
  }
  lines.push(table(rows), '');
  for (const o of outcomes) {
    if (!ok(o)) lines.push(`${o.label}: unavailable — ${o.error}`);
    else if (o.notes.length) lines.push(`${o.label}: ${o.notes.join('; ')}`);
  }
  if (ok(P) && 'gatewayLog' in P) {
    lines.push(`${P.label}: the answer to one request: ${P.answer}`);
    const log = P.gatewayLog;
    lines.push(log.lines === 0 ? `${P.label}: the gateway logged no warnings or errors under load` : `${P.label}: the gateway logged ${log.lines} lines under load (warnings, errors), e.g.:`);
    for (const l of log.sample) lines.push(`  ${l}`);
  }
  lines.push(
    '2xx req/s = 2xx answers ÷ wrk duration (the sync rate); p50…max = wrk\'s latency per request (all answers). For R2 the answer is',
    'an acknowledgement, for botgate the bot\'s reply. e2e req/s = 2xx answers ÷ (wrk start → the receiver has every expected delivery);',
    'drain = wrk end → that. CPU % = the server process during the measured run, % of one core. RSS = the gateway process (VmHWM and samples).',
  );

  const values: Record<string, number> = {
    platform_vs_relay: ok(P) ? (P.e2eRate ?? NaN) / e2eR2 : NaN,
    platform_p99_ms: ok(P) ? P.wrk.p99 : NaN,
  };
  const goals: [string, string, (x: number) => boolean][] = [
    ['platform_vs_relay', '≥ 0.5', (x) => x >= 0.5],
    ['platform_p99_ms', '≤ 15', (x) => x <= 15],
  ];
  lines.push('', 'targets:');
  for (const [name, goal, met] of goals) {
    const x = values[name];
    lines.push(`  ${name.padEnd(18)} ${goal.padEnd(6)} ${fmt(x, name).padStart(8)}   ${Number.isNaN(x) ? 'not measured' : met(x) ? 'met' : 'UNMET'}`);
  }
  if (ok(P)) lines.push(`  gateway peak RSS ${fmt(P.peakRssMb ?? NaN)} MB, sync rate ${num(P.wrk.okRate, 0)} 2xx/s, p50 ${fmt(P.wrk.p50)} ms, ${P.wrk.non2xx} non-2xx (no targets)`);
  lines.push('', `RESULT ${Object.entries(values).map(([k, v]) => `${k}=${fmt(v, k)}`).join(' ')}`);
  return lines.join('\n');
}

const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

async function main(): Promise<number> {
  const opts = options();
  const wrk = spawnSync(WRK, ['--version'], { encoding: 'utf8' });
  if (wrk.error) throw new Error(`cannot run ${WRK} (${wrk.error.message}): install wrk, or name it in BENCH_WRK`);
  console.log(`botgate platform benchmark: wrk -t1 -c50 -d${opts.durationS}s (warm-up ${opts.warmupS} s), 10000 users, text "${opts.text}", ${cpus().length} cores, node ${process.version}, load average ${load()}`);
  console.log(`wrk: ${(wrk.stdout || wrk.stderr).split('\n')[0].trim()}; gateway flags: ${startFlags().join(' ') || 'none'}`);
  const extra = Object.entries(opts.gatewayEnv).map(([k, v]) => `${k}=${v}`);
  if (extra.length) console.log(`gateway settings changed for this run: ${extra.join(' ')}`);

  const scriptDir = mkdtempSync(join(tmpdir(), 'botgate-bench-wrk-'));
  const removeScripts = defer(() => rmSync(scriptDir, { recursive: true, force: true }));
  const receiver: Helper = forkHelper('receiver', './receiver.ts', ['ok']);
  const outcomes: Outcome[] = [];
  try {
    const { port } = await receiver.next<{ port: number }>('listening', deadline('receiver', 10_000));
    const ctx: InboundContext = {
      durationS: opts.durationS, warmupS: opts.warmupS, threads: 1, connections: 50, users: 10_000, text: opts.text,
      stepMs: (opts.durationS + opts.warmupS) * 1000 + 2 * opts.drainMs + 30_000, drainMs: opts.drainMs, scriptDir, receiver,
      receiverUrl: `http://127.0.0.1:${port}/hook`, cpuProfDir: opts.cpuProfDir, gatewayEnv: opts.gatewayEnv, progress: (l) => log(`  ${l}`),
    };
    const measure = async (key: Target, label: string, run: () => Promise<InboundResult | PlatformResult>) => {
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
        outcomes.push({ key, label, error: oneLine.length > 600 ? `${oneLine.slice(0, 600)}…` : oneLine });
      }
    };
    await measure('relay', 'R2 node:http ack + undici relay', () => runRelay(ctx));
    await measure('platform', 'botgate platform webhook (SQLite)', () => runPlatform(ctx));
  } finally {
    await receiver.stop();
    killAll();
    await removeScripts.run();
    await runCleanups();
  }
  console.log(`load average at the end: ${load()}\n`);
  console.log(summarize(outcomes));
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
