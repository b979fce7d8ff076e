// Moves WAL checkpoints off the main thread: the writer never copies pages back into the database file itself
// (which paused the event loop for milliseconds every ~4 MB of WAL); a worker thread with its own connection
// runs a passive checkpoint every 100 ms instead, which never blocks the writer (its fsyncs happen on the worker).
// If the worker cannot keep up, or is gone, the writer's own automatic checkpoint comes back into play at ~200 MB.
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
parentPort.on('message', (m) => {
  if (m === 'stop') { clearInterval(timer); try { db.close(); } catch {} parentPort.postMessage('stopped'); }
});
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

export function startCheckpointer(file: string, synchronous: 'NORMAL' | 'FULL', everyMs = 100): Checkpointer {
  // A small heap: the worker only runs one pragma now and then.
  const worker = new Worker(WORKER, { eval: true, workerData: { file, everyMs, synchronous }, resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1, codeRangeSizeMb: 4, stackSizeMb: 1 } });
  worker.unref();
  worker.on('error', () => {});
  return {
    stop: () => new Promise<void>((resolve) => {
      const done = () => resolve();
      worker.once('message', done);
      worker.once('exit', done);
      worker.postMessage('stop');
      setTimeout(() => void worker.terminate().finally(done), 1000).unref();
    }),
  };
}
