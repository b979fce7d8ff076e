// A background thread with its own connection to the SQLite file, for the work that would pause the event loop:
// - WAL checkpoints: the writer never copies pages back into the database file itself (which paused the event loop
//   for milliseconds every ~4 MB of WAL); a passive checkpoint every 20 ms never blocks the writer (its fsyncs
//   happen here). Under steady writes the WAL is only restarted by the writer's own automatic checkpoint at ~200 MB
//   (db.ts: a write transaction restarts it only when it begins with every frame copied, which never happens
//   while writes keep coming); that checkpoint copies and fsyncs what this thread has not copied yet, on the event
//   loop: with a checkpoint every 100 ms that was up to 100 ms of writes and a 15-27 ms pause every few seconds
//   under load (the single-event and sync-channel p99s), every 20 ms it stays under ~6 ms. If the thread cannot
//   keep up, or is gone, the writer's checkpoint does it all.
// - reads that grow with the database (db.ts readAside, numbersAside): aggregates with small answers (the
//   delivery counts behind /metrics walk every delivery, ~50 ms per million) and long sorted columns (a round
//   of the decisions' user index, decision-index.ts). Reads never block the writer in WAL mode, and see at
//   least everything committed before they were asked for.
import { Worker } from 'node:worker_threads';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(workerData.file);
db.exec('PRAGMA busy_timeout = 1000');
db.exec('PRAGMA synchronous = ' + workerData.synchronous);
const timer = setInterval(() => {
  try { db.exec('PRAGMA wal_checkpoint(PASSIVE)'); } catch {}
}, workerData.everyMs);
const statements = new Map();
const prepare = (sql) => {
  let s = statements.get(sql);
  if (!s) statements.set(sql, (s = db.prepare(sql)));
  return s;
};
const work = {
  numbers(m) {
    const statement = prepare(m.sql);
    statement.setReturnArrays(true);
    const all = new Float64Array(m.max);
    let n = 0;
    for (const row of statement.iterate(...m.params)) {
      if (n === m.max) throw new Error('more than ' + m.max + ' rows');
      all[n++] = row[0];
    }
    const values = all.slice(0, n);
    return [values, [values.buffer]];
  },
  read(m) {
    return [prepare(m.sql).all(...m.params), []];
  },
};
parentPort.on('message', (m) => {
  if (m === 'stop') { clearInterval(timer); try { db.close(); } catch {} parentPort.postMessage('stopped'); return; }
  try {
    const [result, transfer] = work[m.kind](m);
    parentPort.postMessage({ id: m.id, result }, transfer);
  } catch (error) {
    parentPort.postMessage({ id: m.id, error: String(error && error.message || error) });
  }
});
`;

export interface Background {
  /** The first column of a read-only query's rows (at most `max`), streamed into one typed array. */
  numbers(sql: string, params: (string | number | null)[], max: number): Promise<Float64Array>;
  /** A read-only query with a small answer (counts, aggregates) whose work grows with the data. */
  read(sql: string, params?: (string | number | null)[]): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

const CHECKPOINT_EVERY_MS = 20;

export function startBackground(file: string, synchronous: 'NORMAL' | 'FULL'): Background {
  // A small heap: the thread runs a pragma now and then, and streams long columns into one typed array.
  const worker = new Worker(WORKER, { eval: true, workerData: { file, everyMs: CHECKPOINT_EVERY_MS, synchronous }, resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1, codeRangeSizeMb: 4, stackSizeMb: 1 } });
  worker.unref();
  const waiting = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  let gone: Error | null = null;
  const fail = (error: Error) => {
    gone = error;
    for (const w of waiting.values()) w.reject(error);
    waiting.clear();
  };
  worker.on('error', (error) => fail(error));
  worker.on('exit', () => fail(new Error('the SQLite background thread has stopped')));
  worker.on('message', (m: { id: number; result?: unknown; error?: string } | 'stopped') => {
    if (m === 'stopped') return;
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error !== undefined) w?.reject(new Error(m.error));
    else w?.resolve(m.result);
  });
  function ask<T>(kind: string, args: Record<string, unknown> = {}): Promise<T> {
    if (gone) return Promise.reject(gone);
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      waiting.set(id, { resolve: resolve as (result: unknown) => void, reject });
      worker.postMessage({ kind, id, ...args });
    });
  }
  return {
    numbers: (sql, params, max) => ask('numbers', { sql, params, max }),
    read: (sql, params = []) => ask('read', { sql, params }),
    stop: () => new Promise<void>((resolve) => {
      if (gone) return resolve();
      const done = () => resolve();
      worker.once('message', done);
      worker.once('exit', done);
      worker.postMessage('stop');
      setTimeout(() => void worker.terminate().finally(done), 1000).unref();
    }),
  };
}
