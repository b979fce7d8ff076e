// Floor F (a reference, not a baseline the issue names): the least a durable, signed delivery can cost on this
// machine, to tell how far botgate is from what the hardware allows. One node:sqlite file in WAL mode with its
// checkpoints on a thread (as botgate's), and nothing else: a batch is stored (a message and a delivery row each, one
// transaction) and acknowledged after COMMIT; its deliveries go straight from memory to the sender (no claim, no
// lease: one process), 100 POSTs in flight, Standard Webhooks signed; each send is recorded (an attempt row, the
// delivery marked sent) by group commit. No validation, routing, retries, rate limits, ordering, metrics or logs.
// With a second URL (a receiver that never answers) every message gets a delivery to it as well (a row of its own,
// its own 100 in flight, tries that time out after 5 s recorded as failed): the isolation scenario's floor.
// Helper of bench/delivery.ts: node floor-delivery.ts RECEIVER_URL [DEAD_URL]; reports {type:'listening', port};
// 'stats' → {recorded} (the healthy receiver's sends recorded).
import { createServer } from 'node:http';
import { Pool } from 'undici';
import { onCommand, report } from './child.ts';
import { groupCommit, newId, openFloorDb, signedHeaders } from './floor-common.ts';

const target = new URL(process.argv[2] ?? '');
const deadTarget = process.argv[3] ? new URL(process.argv[3]) : null;
const IN_FLIGHT = 100;
const db = openFloorDb(`
  CREATE TABLE messages (id TEXT PRIMARY KEY, event_type TEXT NOT NULL, payload TEXT, created_at INTEGER NOT NULL);
  CREATE TABLE deliveries (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, message_id TEXT NOT NULL, endpoint_id TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
  CREATE INDEX deliveries_pending ON deliveries (created_at) WHERE status = 'pending';
  CREATE TABLE attempts (id TEXT NOT NULL, delivery_id TEXT NOT NULL, attempted_at INTEGER NOT NULL, status_code INTEGER, duration_ms REAL NOT NULL);
  CREATE INDEX attempts_delivery ON attempts (delivery_id);
`);

const insertMessage = db.prepare('INSERT INTO messages (id, event_type, payload, created_at) VALUES (?, ?, ?, ?)');
const insertDelivery = db.prepare(`INSERT INTO deliveries (id, message_id, endpoint_id, status, created_at, updated_at) VALUES (?, ?, ?, 'pending', ?, ?)`);
const insertAttempt = db.prepare('INSERT INTO attempts (id, delivery_id, attempted_at, status_code, duration_ms) VALUES (?, ?, ?, ?, ?)');
const markSent = db.prepare(`UPDATE deliveries SET status = 'sent', attempts = attempts + 1, updated_at = ? WHERE id = ?`);
const markFailed = db.prepare(`UPDATE deliveries SET status = 'pending', attempts = attempts + 1, updated_at = ?, created_at = ? WHERE id = ?`);

interface Delivery { id: string; body: string }
/** One endpoint: its pool, its queue of stored deliveries and its own in-flight limit. */
interface Lane { url: URL; pool: Pool; queue: Delivery[]; head: number; inFlight: number }
const lane = (url: URL): Lane => ({
  url, queue: [], head: 0, inFlight: 0,
  pool: new Pool(url.origin, { connections: IN_FLIGHT, pipelining: 1, headersTimeout: 5000, bodyTimeout: 5000 }),
});
const healthy = lane(target);
const dead = deadTarget ? lane(deadTarget) : null;
let recorded = 0;

const record = groupCommit<{ id: string; status: number | null; ms: number; healthy: boolean }>(db, (r, now) => {
  insertAttempt.run(newId('atm'), r.id, now, r.status, r.ms);
  if (r.status !== null) markSent.run(now, r.id);
  else markFailed.run(now, now + 5000, r.id);
}, (r) => {
  if (r.healthy) recorded++;
});

async function send(l: Lane, d: Delivery): Promise<void> {
  const started = performance.now();
  try {
    const res = await l.pool.request({ path: l.url.pathname, method: 'POST', body: d.body, headers: signedHeaders(d.id, d.body) });
    await res.body.dump();
    record({ id: d.id, status: res.statusCode, ms: performance.now() - started, healthy: l === healthy });
  } catch (error) {
    if (l === healthy) report({ type: 'error', message: `floor: a send failed: ${(error as Error).message}` });
    else record({ id: d.id, status: null, ms: performance.now() - started, healthy: false }); // timed out: tried again later (not in this run)
  } finally {
    l.inFlight--;
    pump(l);
  }
}

function pump(l: Lane) {
  while (l.inFlight < IN_FLIGHT && l.head < l.queue.length) {
    l.inFlight++;
    void send(l, l.queue[l.head++]);
  }
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const { messages } = JSON.parse(Buffer.concat(chunks).toString()) as { messages: { event_type: string; payload: unknown }[] };
    const now = Date.now();
    const stored: Delivery[] = [];
    const toDead: Delivery[] = [];
    db.exec('BEGIN IMMEDIATE');
    for (const m of messages) {
      const messageId = newId('msg');
      const body = JSON.stringify(m.payload);
      insertMessage.run(messageId, m.event_type, body, now);
      const id = newId('dlv');
      insertDelivery.run(id, messageId, 'healthy', now, now);
      stored.push({ id, body });
      if (dead) {
        const deadId = newId('dlv');
        insertDelivery.run(deadId, messageId, 'dead', now, now);
        toDead.push({ id: deadId, body });
      }
    }
    db.exec('COMMIT');
    const answer = JSON.stringify({ data: stored.map((d, i) => ({ delivery_ids: dead ? [d.id, toDead[i].id] : [d.id] })) });
    res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
    res.end(answer);
    for (const d of stored) healthy.queue.push(d);
    pump(healthy);
    if (dead) {
      for (const d of toDead) dead.queue.push(d);
      pump(dead);
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => report({ type: 'listening', port: (server.address() as { port: number }).port }));

onCommand((msg) => {
  if (msg.cmd === 'stats') report({ type: 'stats', recorded });
  else throw new Error(`unknown command ${msg.cmd}`);
});
