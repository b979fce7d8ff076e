// Development probe (not a benchmark): the delivery worker and its store without the HTTP API, optionally with
// a fake HTTP client, to see what the worker + store cost per message. node bench/dev/worker-harness.ts [fake|real] [postgres-url]
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { loadConfig } from '../../src/config/load.ts';
import { createHttpClient, type HttpClient } from '../../src/delivery/http-client.ts';
import { createRateLimiter } from '../../src/delivery/rate-limit.ts';
import { createDeliveryWorker } from '../../src/delivery/worker.ts';
import { createServices } from '../../src/services.ts';

const real = process.argv[2] === 'real';
const pgUrl = process.argv[3];
let port = 9;
if (real) {
  const server = createServer((req, res) => void req.resume().on('end', () => res.end('ok')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
  server.unref();
}
const schema = `probe_${Math.random().toString(36).slice(2, 8)}`;
const config = loadConfig({
  env: {
    BOTGATE_DATA_DIR: mkdtempSync('/tmp/botgate-probe-'), BOTGATE_MASTER_KEY: 'probe-master-key-0123456789', BOTGATE_DELIVERY__ALLOW_PRIVATE: '127.0.0.1',
    ...(pgUrl ? { BOTGATE_DATABASE_URL: pgUrl, BOTGATE_DATABASE_SCHEMA: schema } : {}),
  },
});
const services = await createServices(config);
const claims = { calls: 0, rows: 0 };
const claim = services.store.deliveries.claim.bind(services.store.deliveries);
services.store.deliveries.claim = async (request) => {
  const rows = await claim(request);
  claims.calls++;
  claims.rows += rows.length;
  return rows;
};
const fake: HttpClient = {
  send: async () => {
    await new Promise((resolve) => setImmediate(resolve));
    return { statusCode: 200, headers: {}, body: 'ok', durationMs: 0.1, errorKind: null, error: null };
  },
  close: async () => {},
};
const http = real ? createHttpClient({ allowPrivate: ['127.0.0.1'], maxResponseBytes: 20480, connectionsPerOrigin: 128 }) : fake;
const worker = createDeliveryWorker({
  store: services.store, endpoints: services.endpoints, outbox: services.outbox, http, rateLimiter: createRateLimiter(services.store.counters),
  clock: services.clock, random: Math.random, newId: services.newId, config, workerId: 'probe',
});
let sent = 0;
worker.events.on('attempt', () => sent++);
worker.events.on('error', ({ where, error }) => console.error(where, error));
services.outbox.onWork((ids) => worker.wake(ids));
await services.endpoints.create({ name: 'probe', url: `http://127.0.0.1:${port}/x` });
const n = 20000;
for (let b = 0; b < n / 100; b++) {
  await services.outbox.publishMany(Array.from({ length: 100 }, (_, i) => ({ eventType: 'probe', payload: { b, i, text: 'hello world '.repeat(8) } })));
}
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await worker.start();
let last = 0;
while (sent < n) {
  await new Promise((resolve) => setTimeout(resolve, 200));
  if (process.argv.includes('--trace')) console.log(`${((performance.now() - t0) / 1000).toFixed(1)} s: ${sent} sent (+${sent - last}), in flight ${worker.inFlight}`);
  last = sent;
}
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - t0;
console.log(`${real ? 'real' : 'fake'} http, ${pgUrl ? 'PostgreSQL' : 'SQLite'}: ${n} in ${wall.toFixed(0)} ms = ${((n / wall) * 1000).toFixed(0)}/s; cpu ${(cpu.user / n).toFixed(0)} µs user + ${(cpu.system / n).toFixed(0)} µs sys per message; ${claims.calls} claims (${(claims.rows / Math.max(1, claims.calls)).toFixed(0)} rows each)`);
await worker.stop();
await services.close();
if (pgUrl) {
  const pg = (await import('pg')).default;
  const client = new pg.Client(pgUrl);
  await client.connect();
  await client.query(`DROP SCHEMA ${schema} CASCADE`);
  await client.end();
}
process.exit(0);
