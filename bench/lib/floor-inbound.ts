// Floors FS and FA (references, not baselines the issue names): the least a Kore.ai webhook channel can cost on
// this machine, to tell how far botgate is from what the hardware allows. A bare node:http server that does only
// what the channel must: the JWT (HS256) checked with node:crypto, the body parsed, and, by group commit in one
// node:sqlite file (WAL, checkpoints on a thread as botgate's), the conversation looked up or opened, the message in
// and the reply stored. No bot (a fixed reply), no validation framework, users, metrics or logs.
//   sync:  answers the reply after COMMIT.
//   async: acknowledges after COMMIT (the replies and their delivery rows stored with it), then POSTs the
//          conversation's deliveries in order (Standard Webhooks signed, bearer token) and records each (an attempt
//          row, the delivery marked sent) by group commit.
// Helper of bench/inbound.ts: node floor-inbound.ts sync|async SECRET [RECEIVER_URL DELIVERIES_PER_REQUEST]
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import { Pool } from 'undici';
import { onCommand, report } from './child.ts';
import { groupCommit, newId, openFloorDb, signedHeaders } from './floor-common.ts';

const [mode, secret, receiverUrl, perRequestText] = process.argv.slice(2);
if (mode !== 'sync' && mode !== 'async') throw new Error('floor-inbound: mode sync or async');
const perRequest = Math.max(1, Number(perRequestText ?? 1));
const db = openFloorDb(`
  CREATE TABLE conversations (id TEXT PRIMARY KEY, user_key TEXT NOT NULL UNIQUE, state TEXT, memory TEXT, updated_at INTEGER NOT NULL);
  CREATE TABLE messages (id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, direction TEXT NOT NULL, payload TEXT, created_at INTEGER NOT NULL);
  CREATE INDEX messages_conversation ON messages (conversation_id, id);
  CREATE TABLE deliveries (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, message_id TEXT NOT NULL, ordering_key TEXT, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
  CREATE INDEX deliveries_pending ON deliveries (created_at) WHERE status = 'pending';
  CREATE TABLE attempts (id TEXT NOT NULL, delivery_id TEXT NOT NULL, attempted_at INTEGER NOT NULL, status_code INTEGER, duration_ms REAL NOT NULL);
  CREATE INDEX attempts_delivery ON attempts (delivery_id);
`);

const q = {
  conversation: db.prepare('SELECT id, state, memory FROM conversations WHERE user_key = ?'),
  open: db.prepare('INSERT INTO conversations (id, user_key, state, memory, updated_at) VALUES (?, ?, NULL, ?, ?)'),
  update: db.prepare('UPDATE conversations SET state = ?, memory = ?, updated_at = ? WHERE id = ?'),
  message: db.prepare('INSERT INTO messages (id, conversation_id, direction, payload, created_at) VALUES (?, ?, ?, ?, ?)'),
  delivery: db.prepare(`INSERT INTO deliveries (id, message_id, ordering_key, status, created_at, updated_at) VALUES (?, ?, ?, 'pending', ?, ?)`),
  attempt: db.prepare('INSERT INTO attempts (id, delivery_id, attempted_at, status_code, duration_ms) VALUES (?, ?, ?, ?, ?)'),
  sent: db.prepare(`UPDATE deliveries SET status = 'sent', attempts = attempts + 1, updated_at = ? WHERE id = ?`),
};

const key = Buffer.from(secret ?? '');

/** HS256 only, signature, expiry and the app id: what the channel must check. */
function verified(authorization: string | undefined): boolean {
  if (!authorization?.toLowerCase().startsWith('bearer ')) return false;
  const [h, p, s] = authorization.slice(7).split('.');
  if (!h || !p || !s) return false;
  const mac = createHmac('sha256', key).update(`${h}.${p}`).digest();
  const signature = Buffer.from(s, 'base64url');
  if (signature.length !== mac.length || !timingSafeEqual(signature, mac)) return false;
  try {
    if ((JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string }).alg !== 'HS256') return false;
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as { exp?: number; appId?: string };
    return typeof claims.exp === 'number' && claims.exp * 1000 > Date.now() && claims.appId === 'floor';
  } catch {
    return false;
  }
}

const REPLY = { text: 'Your balance is not available right now.' };
const SYNC_ANSWER = JSON.stringify({ ...REPLY, endOfTask: true, endReason: 'Fulfilled' });
interface Delivery { id: string; conversation: string; body: string }
interface Incoming { user: string; raw: string; res: ServerResponse; deliveries: Delivery[] }

const receiver = mode === 'async' ? new URL(receiverUrl ?? '') : null;
const pool = receiver ? new Pool(receiver.origin, { connections: 50, pipelining: 1 }) : null;
let recorded = 0;
const record = groupCommit<{ id: string; status: number; ms: number }>(db, (r, now) => {
  q.attempt.run(newId('atm'), r.id, now, r.status, r.ms);
  q.sent.run(now, r.id);
}, () => recorded++);

async function send(d: Delivery): Promise<void> {
  const started = performance.now();
  const res = await pool!.request({
    path: receiver!.pathname, method: 'POST', body: d.body, headers: { ...signedHeaders(d.id, d.body), authorization: 'Bearer floor-access-token' },
  });
  await res.body.dump();
  record({ id: d.id, status: res.statusCode, ms: performance.now() - started });
}

// A conversation's deliveries in order: each waits for the one before it.
const chains = new Map<string, Promise<void>>();
function enqueue(d: Delivery) {
  const next = (chains.get(d.conversation) ?? Promise.resolve()).then(() => send(d)).catch((error: unknown) => report({ type: 'error', message: `floor: a send failed: ${(error as Error).message}` }));
  chains.set(d.conversation, next);
  void next.finally(() => {
    if (chains.get(d.conversation) === next) chains.delete(d.conversation);
  });
}

const store = groupCommit<Incoming>(db, (item, now) => {
  let conversation = q.conversation.get(item.user) as { id: string; memory: string } | undefined;
  if (!conversation) {
    conversation = { id: newId('conv'), memory: '{}' };
    q.open.run(conversation.id, item.user, '{}', now);
  }
  q.message.run(newId('msg'), conversation.id, 'incoming', item.raw, now);
  const bodies = mode === 'sync'
    ? [SYNC_ANSWER]
    : Array.from({ length: perRequest }, (_, i) => JSON.stringify(i === 0 ? { ...REPLY, to: item.user, from: 'floor' } : { endOfTask: true, endReason: 'Fulfilled', to: item.user, from: 'floor' }));
  for (const body of bodies) {
    const messageId = newId('msg');
    q.message.run(messageId, conversation.id, 'outgoing', body, now);
    if (mode === 'async') {
      const id = newId('dlv');
      q.delivery.run(id, messageId, conversation.id, now, now);
      item.deliveries.push({ id, conversation: conversation.id, body });
    }
  }
  q.update.run(null, conversation.memory, now, conversation.id);
}, (item) => {
  if (mode === 'sync') {
    item.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(SYNC_ANSWER) });
    item.res.end(SYNC_ANSWER);
    return;
  }
  item.res.writeHead(200, { 'content-length': '0' });
  item.res.end();
  for (const d of item.deliveries) enqueue(d);
});

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const answer = (status: number) => {
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
    };
    if (!verified(req.headers.authorization)) return answer(401);
    const raw = Buffer.concat(chunks).toString();
    let body: { message?: { text?: unknown }; from?: { id?: unknown } };
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      return answer(400);
    }
    if (typeof body?.message?.text !== 'string' || typeof body?.from?.id !== 'string') return answer(400);
    store({ user: body.from.id, raw, res, deliveries: [] });
  });
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;
server.listen(0, '127.0.0.1', () => report({ type: 'listening', port: (server.address() as { port: number }).port }));

onCommand((msg) => {
  if (msg.cmd === 'stats') report({ type: 'stats', recorded });
  else throw new Error(`unknown command ${msg.cmd}`);
});
