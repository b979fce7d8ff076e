// Prints the benchmark's results: one table row per target, the targets met or not, and the RESULT line.
import type { TargetResult } from './targets.ts';

export type Outcome = TargetResult | { key: string; label: string; error: string };

const ok = (o: Outcome | undefined): o is TargetResult => !!o && !('error' in o);

/** A number for a table cell: '-' when there is none. */
export function num(x: number | null | undefined, digits: number): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

/** Rows as aligned columns: the first left-aligned, the rest right-aligned. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n');
}

/** What the table's columns mean (printed once, after the tables). */
export const LEGEND = [
  'msg/s = messages ÷ (first publish/send/enqueue → all delivered; for botgate also recorded as sent in the store), of the',
  'measured pass; cold msg/s = the same of the warm-up pass each target ran first in the same processes (--warmup).',
  'p50/p99 = publish→delivered latency per message (payload sent_at → receiver). CPU % = main process, % of one core.',
  'rss_mb = the largest gateway peak RSS of the botgate runs; p99_ms = botgate SQLite\'s.',
].join('\n');

export interface Summary {
  values: Record<string, number>;
  /** The floor F against the baselines and botgate SQLite against it (not in the RESULT line: F is a reference). */
  floor: Record<string, number>;
  /** The RESULT ratios of the warm-up passes (processes fresh), when there were any: a reference. */
  cold: Record<string, number>;
  text: string;
}

export function summarize(outcomes: Outcome[], n: number): Summary {
  const by = new Map(outcomes.map((o) => [o.key, o]));
  const L = by.get('limit');
  const Q = by.get('queue');
  const rateL = ok(L) ? L.msgsPerSec : NaN;
  const rateQ = ok(Q) ? Q.msgsPerSec : NaN;
  const lines: string[] = [];

  const rows = [['target', 'total s', 'msg/s', '×L', '×Q', 'cold msg/s', 'publish msg/s', 'p50 ms', 'p99 ms', 'peak RSS MB', 'CPU %']];
  for (const o of outcomes) {
    if (!ok(o)) {
      rows.push([o.label, 'n/a', '', '', '', '', '', '', '', '', '']);
      continue;
    }
    rows.push([
      o.label, num(o.totalMs / 1000, 2), num(o.msgsPerSec, 0), num(o.msgsPerSec / rateL, 2), num(o.msgsPerSec / rateQ, 2),
      num(o.coldMsgsPerSec, 0), num(o.publishPerSec, 0), num(o.p50, 0), num(o.p99, 0), num(o.peakRssMb, 1), num(o.cpuPct, 0),
    ]);
  }
  lines.push(table(rows), '');
  for (const o of outcomes) {
    if (!ok(o)) lines.push(`${o.label}: unavailable — ${o.error}`);
    else if (o.notes.length) lines.push(`${o.label}: ${o.notes.join('; ')}`);
  }

  const S = by.get('sqlite');
  const P = by.get('pg');
  const I = by.get('isolation');
  const tp1 = ok(S) ? (n * 1000) / S.receivedMs : NaN;
  const tp2 = ok(I) ? (n * 1000) / I.receivedMs : NaN;
  if (ok(I)) lines.push(`isolation: healthy endpoint ${num(tp1, 0)} msg/s alone, ${num(tp2, 0)} msg/s next to a dead endpoint (first publish → receiver has all)`);
  if (tp2 > tp1 * 1.1) lines.push('isolation: note — the healthy endpoint went faster next to a dead endpoint than alone; the drop is negative');

  const values: Record<string, number> = {
    sqlite_vs_queue: ok(S) ? S.msgsPerSec / rateQ : NaN,
    sqlite_vs_limit: ok(S) ? S.msgsPerSec / rateL : NaN,
    pg_vs_queue: ok(P) ? P.msgsPerSec / rateQ : NaN,
    healthy_drop_pct: dropPct(n, S, I),
    p99_ms: ok(S) ? S.p99 : NaN,
    // The largest gateway peak of the botgate runs (SQLite, PostgreSQL, next to a dead endpoint): the target is the gateway's.
    rss_mb: [S, P, I].some(ok) ? Math.max(...[S, P, I].filter(ok).map((o) => o.peakRssMb ?? NaN)) : NaN,
  };
  const F = by.get('floor');
  const rateF = ok(F) ? F.msgsPerSec : NaN;
  const FI = by.get('floor-isolation');
  const floor = { floor_vs_limit: rateF / rateL, floor_vs_queue: rateF / rateQ, sqlite_vs_floor: ok(S) ? S.msgsPerSec / rateF : NaN, floor_drop_pct: dropPct(n, F, FI) };
  const coldRate = (o: Outcome | undefined) => (ok(o) && o.coldMsgsPerSec !== null ? o.coldMsgsPerSec : NaN);
  const cold = {
    sqlite_vs_queue: coldRate(S) / coldRate(Q), sqlite_vs_limit: coldRate(S) / coldRate(L), pg_vs_queue: coldRate(P) / coldRate(Q),
    floor_vs_limit: coldRate(F) / coldRate(L),
  };
  return { values, floor, cold, text: lines.join('\n') };
}

/** How much slower (%) the healthy endpoint received everything next to a dead endpoint than alone. */
function dropPct(n: number, alone: Outcome | undefined, besideDead: Outcome | undefined): number {
  const rate = (o: Outcome | undefined) => (ok(o) ? (n * 1000) / o.receivedMs : NaN);
  return (1 - rate(besideDead) / rate(alone)) * 100;
}

const GOALS: [string, string, (x: number) => boolean][] = [
  ['sqlite_vs_queue', '≥ 1.5', (x) => x >= 1.5],
  ['sqlite_vs_limit', '≥ 0.5', (x) => x >= 0.5],
  ['pg_vs_queue', '≥ 1.0', (x) => x >= 1.0],
  ['healthy_drop_pct', '< 10', (x) => x < 10],
  ['rss_mb', '≤ 200', (x) => x <= 200],
];

/** The floor's ratios: how far the hardware lets any durable delivery go, and how near botgate comes. */
export function floorLine(floor: Record<string, number>): string {
  return `floor (reference, not a target): ${pairs(floor)}`;
}

/** The ratios of the warm-up passes: what a gateway started a second ago does (not the RESULT). */
export function coldLine(cold: Record<string, number>): string {
  return `cold, the warm-up passes (reference, not the RESULT): ${pairs(cold)}`;
}

/** The figures as one line of key=value pairs (the RESULT line's body). */
export function pairs(values: Record<string, number>): string {
  return Object.entries(values).map(([k, v]) => `${k}=${fmt(v)}`).join(' ');
}

/** The targets, met or not, and the RESULT line (the last line). */
export function verdict(values: Record<string, number>): string {
  const lines = ['targets:'];
  for (const [name, goal, met] of GOALS) {
    const x = values[name];
    lines.push(`  ${name.padEnd(17)} ${goal.padEnd(6)} ${fmt(x).padStart(8)}   ${Number.isNaN(x) ? 'not measured' : met(x) ? 'met' : 'UNMET'}`);
  }
  lines.push('', `RESULT ${pairs(values)}`);
  return lines.join('\n');
}

/**
 * Several rounds' figures as one: the median of each ratio, drop and p99 (a round is a draw from a noisy machine;
 * the middle one is the typical run), and the largest RSS of all rounds (a peak is a peak).
 */
export function combineRounds(rounds: Record<string, number>[]): Record<string, number> {
  const combined: Record<string, number> = {};
  for (const key of Object.keys(rounds[0] ?? {})) {
    const xs = rounds.map((r) => r[key]);
    combined[key] = key === 'rss_mb' ? (xs.some(Number.isNaN) ? NaN : Math.max(...xs)) : median(xs);
  }
  return combined;
}

/** The median; NaN when any value is (a target not measured in some round is not measured). */
function median(xs: number[]): number {
  if (xs.length === 0 || xs.some(Number.isNaN)) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function fmt(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  return Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(2);
}
