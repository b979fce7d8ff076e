// Proactive notification benchmark: the quality half is a seeded 28-day simulation driving the real notification
// engine (injected clock) against an oracle and the legacy BotOptimizer; the speed half measures decisions.
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { createEnginePolicy, type EnginePolicy } from './lib/proactive-engine.ts';
import { createNaive, createOracle } from './lib/proactive-policies.ts';
import { simulate, type Metrics } from './lib/proactive-simulation.ts';
import { buildScenario, SCENARIO, SEND_COST, TYPES, type Scenario } from './lib/proactive-world.ts';
import { speed as runSpeed } from './lib/proactive-speed.ts';
import { num, table } from './lib/report.ts';

const HELP = `usage: node bench/proactive.ts     (npm run bench:proactive)

Quality: ${SCENARIO.days} simulated days of users in UTC−8…UTC+3 receiving ${TYPES.map((t) => t.name).join(', ')} events; each
policy decides them minute by minute and the simulated users click, tire and opt out:
  oracle   knows every true click probability and the best variant, under the engine's guardrails
  engine   src/notify/engine.ts on an in-memory SQLite store, clock and random injected
  naive    the legacy BotOptimizer rule: priority × clicks/shown ≥ 0.5, nothing else
Speed: the gateway on SQLite as npm start runs it: decisions per second through the batch API (batches of 1,000)
and the latency of single POST /api/events under wrk -t1 -c50 for 15 s, after a 3 s warm-up run on other users (wrk must be installed).

environment:
  BENCH_SEED    the scenario's seed (default 20260202)
  BENCH_USERS   the number of users (default 2000; fewer for a quick run)
  BENCH_SKIP_SPEED=1  only the simulation
  experiments: BENCH_CPU_PROF=DIR (the gateway's CPU profile); and, as in every bench: BENCH_NODE_FLAGS="--flag …"
  (added to npm start's), BENCH_KEEP_LOG=FILE (the gateways' output appended there, e.g. with --trace-gc)

The last line is: RESULT regret=… duplicates=… quiet_hour_sends=… critical_suppressed=… best_variant_share=… silent_types=…
decisions_per_s=… event_p99_ms=…`;

const READING = [
  'how the scenario is read:',
  '  click: the delay is drawn first (Exp, mean 1 h), then the click with p = min(1, base × variant multiplier × e^(−0.25 × the',
  '    user\'s sends in the 24 h before this one) × 0.3 if the click would land in the user\'s 22:00–08:00); base is the logit-normal',
  '    user×type probability (centre = the type\'s mean, user sd 0.8, user×type sd 0.5), variant multipliers 0.7/1.0/1.35 in a seeded order',
  '  opt-out: a non-critical send to a user who has not opted out, with p = 0.001 + 0.004 × max(0, sends in the 24 h before − 2)',
  '    + 0.005 if sent in the user\'s 22:00–08:00; it mutes every non-critical type for good (the engine hears it as preferences.muted)',
  '  re-sends: 20% of events arrive again 1–10 min later with the same occurred_at; half of all events carry an idempotency key',
  '    (a re-send repeats it), half none (the engine must match on user, type, params.event_id, occurred_at)',
  '  U counts an event\'s value once however often it was sent; clicks arriving after day 28 still count, as the sends were in it',
  '  the same send of the same event draws the same random numbers under every policy (common random numbers)',
  `  the engine is told value 1.0/0.6/0.2 and cost ${SEND_COST.toFixed(3)} per non-critical send (0.01 + 2 × 0.001, a daytime send at low volume)`,
  '  the naive policy does not send non-critical messages to opted-out users either: the channel enforces an unsubscribe',
  '  critical_suppressed: payment_failed events never sent (no user opts out of it explicitly, and every original is a new event,',
  '    so none may be skipped); best_variant_share: week-4 sends of every type with the type\'s highest multiplier; duplicates: sends',
  '    carrying an event already sent',
];

interface Run {
  metrics: Metrics | null;
  error?: string;
}


const lastWeek = (m: Metrics, type: number) => m.types[type].sendsByWeek[m.types[type].sendsByWeek.length - 1];

/** Non-critical types the oracle sends in the last week that the policy does not send at all then. */
function silentTypes(m: Metrics, oracle: Metrics): string[] {
  return TYPES.flatMap((t, i) => (!t.critical && lastWeek(oracle, i) > 0 && lastWeek(m, i) === 0 ? [t.name] : []));
}

// ---- speed half: the gateway as `npm start` runs it (bench/lib/proactive-speed.ts) ----------------------------
async function speed(): Promise<{ decisionsPerS: number; eventP99Ms: number; lines: string[] }> {
  if (process.env.BENCH_SKIP_SPEED === '1') return { decisionsPerS: NaN, eventP99Ms: NaN, lines: ['speed: skipped (BENCH_SKIP_SPEED=1)'] };
  try {
    const r = await runSpeed();
    const reasons = Object.entries(r.reasons).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, n]) => `${k} ${n}`).join(', ');
    return {
      decisionsPerS: r.decisionsPerS, eventP99Ms: r.eventP99Ms,
      lines: [
        `speed (SQLite, the gateway as npm start runs it; every type sent to a loopback endpoint; users in ${r.zone}, where it is midday):`,
        `  batch API: ${r.decisionsPerS} decisions/s (batches of 1,000, 2 in flight; per batch p50 ${r.batchP50Ms.toFixed(1)} ms, p99 ${r.batchP99Ms.toFixed(1)} ms)`,
        `    decisions by reason: ${reasons}`,
        `  single POST /api/events, wrk -t1 -c50 (15 s, after 3 s of warm-up on other users): ${r.eventRate} req/s, p50 ${r.eventP50Ms.toFixed(2)} ms, p99 ${r.eventP99Ms.toFixed(2)} ms, non-2xx ${r.non2xx}`,
        `  gateway peak RSS ${r.rssMb.toFixed(1)} MB`,
      ],
    };
  } catch (error) {
    return { decisionsPerS: NaN, eventP99Ms: NaN, lines: [`speed: FAILED — ${(error as Error).stack ?? error}`] };
  }
}
// --------------------------------------------------------------------------------------------------------------

function summarize(scn: Scenario, oracle: Metrics, runs: Metrics[], engine: Run, policy: EnginePolicy | null, fast: { decisionsPerS: number; eventP99Ms: number; lines: string[] }): string {
  const lines: string[] = [];
  const uOracle = oracle.utility;
  const days = oracle.days;
  const rows = [['policy', 'U', 'regret', 'clicks/user/day', ...TYPES.map((t) => `sends ${t.name}`), 'duplicates', 'quiet-hour sends', 'critical suppressed', 'opt-outs', 'best variant (wk 4)', 'silent types', 'wall s']];
  for (const m of runs) {
    rows.push([
      m.policy, num(m.utility, 1), num(1 - m.utility / uOracle, 3), num(m.clicks / m.users / days, 4), ...m.types.map((t) => String(t.sends)),
      String(m.duplicates), String(m.quietHourSends), String(m.criticalSuppressed), String(m.optOuts), num(m.bestVariantShare, 3),
      String(silentTypes(m, oracle).length), num(m.wallMs / 1000, 1),
    ]);
  }
  if (!engine.metrics) rows.push(['engine', 'n/a', ...Array<string>(rows[0].length - 2).fill('')]);
  lines.push(table(rows), '');
  if (engine.error) lines.push(`engine: unavailable — ${engine.error}`, '');

  const typeRows = [['policy / type', 'sends', 'wk-4 sends', 'clicked', 'value', 'E[net]', 'wasted sends', 'wasted E[net]', 'variant loss', 'best variant wk 1/2/3/4']];
  for (const m of runs) {
    m.types.forEach((t, i) => {
      const share = t.sendsByWeek.map((s, w) => (s ? num(t.bestByWeek[w] / s, 2) : '-')).join('/');
      typeRows.push([`${m.policy} / ${TYPES[i].name}`, String(t.sends), String(lastWeek(m, i)), String(t.clicks), num(t.value, 1), num(t.expectedNet, 1), String(t.wasted), num(t.wastedNet, 1), num(t.variantLoss, 1), share]);
    });
  }
  lines.push(table(typeRows));
  lines.push(
    'E[net] = Σ over sends of value × expected click probability − the send\'s cost (0.01 + 2 × its opt-out probability); wasted = non-critical',
    'sends the oracle\'s rule would not make (value × p with the best variant < that cost); variant loss = value × (p best variant − p used).',
    '',
  );
  const weekRows = [['U by week of send', ...oracle.utilityByWeek.map((_, w) => `week ${w + 1}`)]];
  for (const m of runs) weekRows.push([m.policy, ...m.utilityByWeek.map((u, w) => `${num(u, 1)} (${num(1 - u / oracle.utilityByWeek[w], 3)})`)]);
  lines.push(table(weekRows), '(regret of the week in brackets)', '');
  if (policy) {
    lines.push('engine decisions by type, decision/reason (runDue drops as dropped/…):');
    for (const [k, n] of [...policy.reasons].sort(([a], [b]) => (a < b ? -1 : 1))) lines.push(`  ${k.padEnd(40)} ${n}`);
    lines.push(`  dedup: ${policy.dedup.originalsSkipped} originals skipped as duplicates, ${policy.dedup.resendsMissed} re-sends not recognised`, '');
  }
  for (const m of runs) {
    const silent = silentTypes(m, oracle);
    if (silent.length) lines.push(`${m.policy}: silent in week 4: ${silent.join(', ')}`);
    if (m.sendsToOptedOut) lines.push(`${m.policy}: ${m.sendsToOptedOut} non-critical sends to users who had opted out`);
  }
  lines.push(...READING);

  const e = engine.metrics;
  const values: [string, number, string, (x: number) => boolean][] = [
    ['regret', e ? 1 - e.utility / uOracle : NaN, '≤ 0.05', (x) => x <= 0.05],
    ['duplicates', e ? e.duplicates : NaN, '= 0', (x) => x === 0],
    ['quiet_hour_sends', e ? e.quietHourSends : NaN, '= 0', (x) => x === 0],
    ['critical_suppressed', e ? e.criticalSuppressed : NaN, '= 0', (x) => x === 0],
    ['best_variant_share', e ? e.bestVariantShare : NaN, '≥ 0.95', (x) => x >= 0.95],
    ['silent_types', e ? silentTypes(e, oracle).length : NaN, '= 0', (x) => x === 0],
    ['decisions_per_s', fast.decisionsPerS, '≥ 20000', (x) => x >= 20_000],
    ['event_p99_ms', fast.eventP99Ms, '≤ 10', (x) => x <= 10],
  ];
  lines.push('', ...fast.lines);
  lines.push('', 'targets (the engine):');
  for (const [name, x, goal, met] of values) {
    lines.push(`  ${name.padEnd(20)} ${goal.padEnd(8)} ${fmt(x, name).padStart(8)}   ${Number.isNaN(x) ? 'not measured' : met(x) ? 'met' : 'UNMET'}`);
  }
  lines.push(`  (oracle U ${num(uOracle, 1)} over ${scn.users.length} users)`);
  lines.push('', `RESULT ${values.map(([k, v]) => `${k}=${fmt(v, k)}`).join(' ')}`);
  return lines.join('\n');
}

function fmt(x: number, name: string): string {
  if (Number.isNaN(x)) return 'nan';
  if (['duplicates', 'quiet_hour_sends', 'critical_suppressed', 'silent_types', 'decisions_per_s'].includes(name)) return x.toFixed(0);
  return x.toFixed(name === 'event_p99_ms' ? 2 : 3);
}

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  const x = Number(text);
  if (!Number.isInteger(x) || x <= 0) throw new Error(`${name} must be a positive integer, got ${text}`);
  return x;
}

async function main(): Promise<number> {
  // Not strict: bench/all.ts passes every script the same arguments (other scripts' options are ignored here).
  const { values } = parseArgs({ options: { help: { type: 'boolean', short: 'h', default: false } }, strict: false });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const seed = positiveInt('BENCH_SEED', process.env.BENCH_SEED, 20260202);
  const users = positiveInt('BENCH_USERS', process.env.BENCH_USERS, 2000);
  const scn = buildScenario(seed, users);
  const perType = TYPES.map((t, i) => `${scn.events.filter((e) => e.type === i).length} ${t.name}`).join(', ');
  console.log(`botgate proactive benchmark: seed ${seed}, ${users} users, ${SCENARIO.days} days, ${scn.events.length} events (${perType}) + ${scn.deliveries.length - scn.events.length} re-sends, ${cpus().length} cores, node ${process.version}`);
  console.log(`true variant multipliers: ${TYPES.map((t, i) => `${t.name} ${Object.entries(scn.multiplier[i]).map(([v, x]) => `${v}=${x}`).join(' ')}`).join('; ')}\n`);

  const oracle = await simulate(scn, createOracle(scn), log);
  const naive = await simulate(scn, createNaive(scn), log);
  const engine: Run = { metrics: null };
  let policy: EnginePolicy | null = null;
  try {
    policy = await createEnginePolicy(scn);
    engine.metrics = await simulate(scn, policy, log);
  } catch (error) {
    engine.error = (error as Error).stack ?? String(error);
    log(`engine: FAILED — ${engine.error}`);
  }
  const fast = await speed();
  const runs = [oracle, ...(engine.metrics ? [engine.metrics] : []), naive];
  console.log(summarize(scn, oracle, runs, engine, policy, fast));
  return engine.metrics ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  },
);
