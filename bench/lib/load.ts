// Load generator child: plain JSON POSTs to the receiver (baseline L) or batch publishes to the gateway's API.
import { Pool } from 'undici';
import { onCommand, report } from './child.ts';
import { makePayload } from './payload.ts';

/** Runs step(0..total-1) with `concurrency` loops, each taking the next index when its previous step ends. */
async function loops(total: number, concurrency: number, step: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const loop = async () => {
    for (let i = next++; i < total; i = next++) await step(i);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, loop));
}

async function direct(url: string, run: string, n: number, concurrency: number) {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: concurrency, pipelining: 1 });
  let ok = 0;
  let errors = 0;
  let firstError: string | null = null;
  const startedAt = Date.now();
  await loops(n, concurrency, async (seq) => {
    try {
      const res = await pool.request({
        path: target.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(makePayload(run, seq, Date.now())),
      });
      await res.body.dump();
      if (res.statusCode === 200) ok++;
      else {
        errors++;
        firstError ??= `HTTP ${res.statusCode}`;
      }
    } catch (error) {
      errors++;
      firstError ??= (error as Error).message;
    }
  });
  const finishedAt = Date.now();
  await pool.close();
  return { startedAt, finishedAt, ok, errors, firstError };
}

async function publish(base: string, token: string, run: string, n: number, clients: number, batchSize: number) {
  const pool = new Pool(base, { connections: clients, pipelining: 1 });
  const batches = Math.ceil(n / batchSize);
  let acked = 0;
  let errors = 0;
  let firstError: string | null = null;
  const startedAt = Date.now();
  await loops(batches, clients, async (b) => {
    const from = b * batchSize;
    const to = Math.min(n, from + batchSize);
    const now = Date.now();
    const messages = [];
    for (let seq = from; seq < to; seq++) messages.push({ event_type: 'bench.delivery', payload: makePayload(run, seq, now) });
    try {
      const res = await pool.request({
        path: '/api/messages/batch',
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ messages }),
      });
      const text = await res.body.text();
      if (res.statusCode === 202) acked += to - from;
      else {
        errors++;
        firstError ??= `HTTP ${res.statusCode}: ${text.slice(0, 300)}`;
      }
    } catch (error) {
      errors++;
      firstError ??= (error as Error).message;
    }
  });
  const finishedAt = Date.now();
  await pool.close();
  return { startedAt, finishedAt, acked, errors, firstError };
}

onCommand(async (msg) => {
  if (msg.cmd === 'direct') {
    report({ type: 'done', ...(await direct(String(msg.url), String(msg.run), Number(msg.n), Number(msg.concurrency))) });
  } else if (msg.cmd === 'publish') {
    const result = await publish(String(msg.base), String(msg.token), String(msg.run), Number(msg.n), Number(msg.clients), Number(msg.batchSize));
    report({ type: 'done', ...result });
  } else {
    throw new Error(`unknown command ${msg.cmd}`);
  }
});
report({ type: 'ready' });
