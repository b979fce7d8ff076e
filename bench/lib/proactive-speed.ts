// The speed half of bench:proactive: the gateway on SQLite as `npm start` runs it, (1) decisions per second through
// the batch API (batches of 1,000 events from rotating users in the quality scenario's type mix, two in flight),
// (2) the latency of single POST /api/events under wrk -t1 -c50, after a warm-up run of the same on other users (the
// measured run still meets every one of its users new). Users reach nobody by default, so each type names an endpoint
// (a loopback receiver): every notify decision really writes a message and a delivery, as in production.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startGateway } from './gateway.ts';
import { deadline, sleep } from './procs.ts';
import { sampleRss } from './sampler.ts';
import { runWrk, writeRotatingScript } from './wrk.ts';

const PRODUCER_KEY = 'bench-producer-key-0123456789abcdef';
const TYPES = ['payment_failed', 'low_balance', 'marketing_offer'];

export interface SpeedResult {
  /** The users' time zone (middayZone). */
  zone: string;
  decisionsPerS: number;
  batchP50Ms: number;
  batchP99Ms: number;
  eventRate: number;
  eventP50Ms: number;
  eventP99Ms: number;
  non2xx: number;
  rssMb: number;
  reasons: Record<string, number>;
}

/** The quality scenario's mix (per user per day: payment_failed 0.03, low_balance 0.3, marketing_offer 2.0), spread evenly. */
function typeOf(n: number): string {
  const slot = n % 233;
  return slot < 3 ? TYPES[0] : slot < 33 ? TYPES[1] : TYPES[2];
}

/** Waits until the gateway's delivery queue is empty (the notifications decided so far are delivered). */
async function settled(depth: () => Promise<number>, dl: ReturnType<typeof deadline>): Promise<void> {
  while ((await depth()) > 0) {
    if (dl.left() <= 0) throw new Error('the gateway did not deliver the warm-up notifications in time');
    await sleep(100);
  }
}

/**
 * The users' zone (the gateway's default_tz): one where it is midday now, so quiet hours never apply and every run
 * decides the same mix whatever the hour (run at night in UTC, half the decisions became quiet-hour holds and
 * coalesced updates, a different and slower workload: 22k decisions/s where the day mix gave 28k).
 */
export function middayZone(now = new Date()): string {
  const offset = 12 - now.getUTCHours(); // hours east of UTC: -11 … +12
  return offset === 0 ? 'Etc/GMT' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`; // Etc/GMT signs are inverted
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

export async function speed(options: { batches?: number; users?: number; inFlight?: number; wrkSeconds?: number; warmS?: number } = {}): Promise<SpeedResult> {
  const batches = options.batches ?? 60;
  const users = options.users ?? 20_000;
  const inFlight = options.inFlight ?? 2;
  const dl = deadline('bench:proactive speed', 240_000);
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200).end());
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const port = (receiver.address() as { port: number }).port;
  const dataDir = mkdtempSync(join(tmpdir(), 'botgate-bench-proactive-'));
  const zone = middayZone();
  const gateway = await startGateway({ dataDir, env: { BOTGATE_NOTIFY__PRODUCER_KEY: PRODUCER_KEY, BOTGATE_DEMO__ENABLED: 'false', BOTGATE_NOTIFY__DEFAULT_TZ: zone }, cpuProfDir: process.env.BENCH_CPU_PROF }, dl);
  const rss = sampleRss(gateway.pid);
  try {
    const endpoint = await gateway.createEndpoint({ name: 'notifications', url: `http://127.0.0.1:${port}/notify` });
    for (const type of TYPES) {
      const res = await gateway.api('PUT', `/api/notify/types/${type}`, { endpoint_id: endpoint });
      if (res.status !== 200) throw new Error(`PUT /api/notify/types/${type} answered ${res.status}: ${JSON.stringify(res.body)}`);
    }
    const headers = { authorization: `Bearer ${PRODUCER_KEY}`, 'content-type': 'application/json' };
    let seq = 0;
    const batchBody = () => JSON.stringify({
      events: Array.from({ length: 1000 }, () => {
        const n = seq++;
        return { user_id: `user-${n % users}`, event_type: typeOf(n), params: { event_id: n, amount: n % 97 } };
      }),
    });
    const reasons: Record<string, number> = {};
    const post = async (body: string) => {
      const t0 = performance.now();
      const res = await request(`${gateway.base}/api/events`, { method: 'POST', headers, body });
      const parsed = (await res.body.json()) as { decisions?: { reason: string }[] };
      if (res.statusCode !== 200 || !parsed.decisions) throw new Error(`POST /api/events answered ${res.statusCode}: ${JSON.stringify(parsed).slice(0, 300)}`);
      for (const d of parsed.decisions) reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
      return performance.now() - t0;
    };
    // Warm-up: two batches (JIT, statement caches, users created).
    for (let i = 0; i < 2; i++) await post(batchBody());
    const bodies = Array.from({ length: batches }, batchBody);
    const times: number[] = [];
    const t0 = performance.now();
    let next = 0;
    await dl.race(Promise.all(Array.from({ length: inFlight }, async () => {
      while (next < bodies.length) times.push(await post(bodies[next++]));
    })), 'the batches');
    const seconds = (performance.now() - t0) / 1000;
    times.sort((a, b) => a - b);

    // The batches' notifications are still being delivered: let that finish so the latency run measures decisions.
    const notified = (reasons.critical ?? 0) + (reasons.sent ?? 0);
    for (let sent = 0; (sent = await dl.race(gateway.sentCount(), 'GET /metrics')) < notified;) {
      if (dl.left() <= 0) throw new Error(`the gateway delivered ${sent} of the batches' ${notified} notifications in time`);
      await sleep(250);
    }
    const singleScript = (prefix: string) => writeRotatingScript(dataDir, {
      path: '/api/events', authorization: `Bearer ${PRODUCER_KEY}`, users,
      bodyParts: [`{"user_id":"${prefix}-`, '","event_type":"low_balance","params":{"balance":', '}}'],
    }, prefix, `single events from ${users} rotating users`);
    // Warm-up of the single-event path (as the batches warmed theirs: JIT, the route's own serializer), on users
    // of its own, so the measured run still meets new users first; its notifications are delivered before it.
    await runWrk({ url: gateway.base + '/api/events', script: singleScript('warm-user'), threads: 1, connections: 50, durationS: options.warmS ?? 3 }, dl);
    await settled(() => dl.race(gateway.queueDepth(), 'GET /metrics'), dl);
    const wrk = await runWrk({ url: gateway.base + '/api/events', script: singleScript('wrk-user'), threads: 1, connections: 50, durationS: options.wrkSeconds ?? 15 }, dl);
    return {
      zone,
      decisionsPerS: Math.round((batches * 1000) / seconds), batchP50Ms: quantile(times, 0.5), batchP99Ms: quantile(times, 0.99),
      eventRate: Math.round(wrk.okRate), eventP50Ms: wrk.p50, eventP99Ms: wrk.p99, non2xx: wrk.non2xx, rssMb: rss.peakMb(), reasons,
    };
  } finally {
    rss.stop();
    await gateway.stop();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// Run alone: node bench/lib/proactive-speed.ts
if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await speed();
  console.log(JSON.stringify(r, null, 2));
}
