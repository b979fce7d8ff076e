// What the floors (floor-delivery.ts, floor-inbound.ts) share: their node:sqlite file as botgate keeps its own (WAL,
// synchronous NORMAL, checkpoints every 20 ms on a thread), group commit, ids, and Standard Webhooks signatures.
import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';

/** A fresh database in a temp dir (removed at exit) with the given tables. */
export function openFloorDb(schema: string): DatabaseSync {
  const dir = mkdtempSync(join(tmpdir(), 'botgate-floor-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  // The benchmark stops its helpers with SIGTERM: exit, so the directory goes too.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
  const file = join(dir, 'floor.sqlite');
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  db.exec('PRAGMA wal_autocheckpoint = 50000');
  db.exec(schema);
  new Worker(
    `const { DatabaseSync } = require('node:sqlite'); const db = new DatabaseSync(${JSON.stringify(file)}); db.exec('PRAGMA busy_timeout = 1000');
     setInterval(() => { try { db.exec('PRAGMA wal_checkpoint(PASSIVE)'); } catch {} }, 20);`,
    { eval: true },
  ).unref();
  return db;
}

let counter = 0;
/** Time-ordered unique ids. */
export const newId = (prefix: string) => `${prefix}_${Date.now().toString(36)}${(counter++).toString(36).padStart(8, '0')}`;

// A KeyObject made once, as botgate does (src/delivery/signer.ts): a Buffer key is turned into one on every HMAC.
const signingKey = createSecretKey(randomBytes(24));
/** Standard Webhooks headers for one try of a delivery. */
export function signedHeaders(id: string, body: string): Record<string, string> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = createHmac('sha256', signingKey).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}

/** One transaction for everything queued while the event loop was busy: fn per item inside it, after per item once committed. */
export function groupCommit<T>(db: DatabaseSync, fn: (item: T, now: number) => void, after: (item: T) => void): (item: T) => void {
  let queued: T[] = [];
  return (item) => {
    queued.push(item);
    if (queued.length > 1) return;
    setImmediate(() => {
      const group = queued;
      queued = [];
      const now = Date.now();
      db.exec('BEGIN IMMEDIATE');
      for (const i of group) fn(i, now);
      db.exec('COMMIT');
      for (const i of group) after(i);
    });
  };
}
