// Prints the inbound benchmark's results: one table row per target, the targets met or not, and the RESULT line.
import type { InboundResult } from './inbound-targets.ts';
import { num, table } from './report.ts';

export type InboundOutcome = InboundResult | { key: string; label: string; error: string };

const ok = (o: InboundOutcome | undefined): o is InboundResult => !!o && !('error' in o);


export function fmt(x: number, key = ''): string {
  if (Number.isNaN(x)) return 'NaN';
  if (key === 'intent_accuracy') return x.toFixed(3);
  return Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(2);
}

export function summarizeInbound(outcomes: InboundOutcome[], accuracy: number): { values: Record<string, number>; text: string } {
  const by = new Map(outcomes.map((o) => [o.key, o]));
  const R = by.get('raw');
  const R2 = by.get('relay');
  const rateR = ok(R) ? R.wrk.okRate : NaN;
  const e2eR2 = ok(R2) ? (R2.e2eRate ?? NaN) : NaN;
  const lines: string[] = [];
  const rows = [['target', '2xx req/s', '×R', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'non-2xx', 'sock err', 'e2e req/s', '×R2', 'drain s', 'peak RSS MB', 'CPU %']];
  for (const o of outcomes) {
    if (!ok(o)) {
      rows.push([o.label, 'n/a', ...Array<string>(rows[0].length - 2).fill('')]);
      continue;
    }
    const w = o.wrk;
    const e = w.socketErrors;
    rows.push([
      o.label, num(w.okRate, 0), num(w.okRate / rateR, 2), num(w.p50, 2), num(w.p90, 2), num(w.p99, 2), num(w.maxMs, 1), String(w.non2xx),
      String(e.connect + e.read + e.write + e.timeout), num(o.e2eRate, 0), o.e2eRate === null ? '-' : num(o.e2eRate / e2eR2, 2),
      o.drainMs === null ? '-' : num(o.drainMs / 1000, 2), num(o.peakRssMb, 1), num(o.cpuPct, 0),
    ]);
  }
  lines.push(table(rows), '');
  for (const o of outcomes) {
    if (!ok(o)) lines.push(`${o.label}: unavailable — ${o.error}`);
    else if (o.notes.length) lines.push(`${o.label}: ${o.notes.join('; ')}`);
  }
  lines.push(
    '2xx req/s = 2xx answers ÷ wrk duration; p50…max = wrk\'s latency per request (all answers). For R2 and async the answer is the',
    'acknowledgement; e2e req/s = acknowledged requests ÷ (wrk start → the receiver has every expected delivery); drain = wrk end → that.',
    'CPU % = the server process during the measured run, % of one core. RSS = the gateway process (VmHWM and samples).',
  );

  const S = by.get('sync');
  const A = by.get('async');
  const rss = [S, A].filter(ok).map((o) => o.peakRssMb ?? NaN);
  const values: Record<string, number> = {
    sync_vs_raw: ok(S) ? S.wrk.okRate / rateR : NaN,
    sync_p99_ms: ok(S) ? S.wrk.p99 : NaN,
    async_vs_relay: ok(A) ? (A.e2eRate ?? NaN) / e2eR2 : NaN,
    rss_mb: rss.length ? Math.max(...rss) : NaN,
    intent_accuracy: accuracy,
  };
  const goals: [string, string, (x: number) => boolean][] = [
    ['sync_vs_raw', '≥ 0.40', (x) => x >= 0.4],
    ['sync_p99_ms', '≤ 10', (x) => x <= 10],
    ['async_vs_relay', '≥ 0.5', (x) => x >= 0.5],
    ['intent_accuracy', '≥ 0.90', (x) => x >= 0.9],
  ];
  const FS = by.get('floor-sync');
  const FA = by.get('floor-async');
  const floor = {
    floor_sync_vs_raw: ok(FS) ? FS.wrk.okRate / rateR : NaN,
    floor_async_vs_relay: ok(FA) ? (FA.e2eRate ?? NaN) / e2eR2 : NaN,
    sync_vs_floor: ok(S) && ok(FS) ? S.wrk.okRate / FS.wrk.okRate : NaN,
    async_vs_floor: ok(A) && ok(FA) ? (A.e2eRate ?? NaN) / (FA.e2eRate ?? NaN) : NaN,
  };
  lines.push('', `floor (reference, not a target): ${Object.entries(floor).map(([k, v]) => `${k}=${fmt(v, k)}`).join(' ')}; floor_sync_p99_ms=${ok(FS) ? fmt(FS.wrk.p99) : 'NaN'}`);
  lines.push('', 'targets:');
  for (const [name, goal, met] of goals) {
    const x = values[name];
    lines.push(`  ${name.padEnd(16)} ${goal.padEnd(7)} ${fmt(x, name).padStart(8)}   ${Number.isNaN(x) ? 'not measured' : met(x) ? 'met' : 'UNMET'}`);
  }
  lines.push(`  rss_mb = the larger gateway peak of the sync and async runs: ${fmt(values.rss_mb)} MB (no target)`);
  lines.push('', `RESULT ${Object.entries(values).map(([k, v]) => `${k}=${fmt(v, k)}`).join(' ')}`);
  return { values, text: lines.join('\n') };
}
