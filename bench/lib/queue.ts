// BullMQ baseline child: role "producer" flushes the queue and enqueues with addBulk; role "worker" POSTs each job.
import { Queue, Worker } from 'bullmq';
import { Pool } from 'undici';
import { onCommand, report } from './child.ts';
import { makePayload, type BenchPayload } from './payload.ts';

const role = process.argv[2];
const queueName = process.argv[3] ?? 'botgate-bench';
const connection = { host: process.env.BENCH_REDIS_HOST ?? '127.0.0.1', port: Number(process.env.BENCH_REDIS_PORT ?? 6379), maxRetriesPerRequest: null };

if (role === 'worker') {
  let worker: Worker<BenchPayload> | null = null;
  let pool: Pool | null = null;
  let pass: { goal: number; completed: number; failed: number; firstError: string | null } = { goal: Infinity, completed: 0, failed: 0, firstError: null };
  onCommand(async (msg) => {
    if (msg.cmd === 'start') {
      const target = new URL(String(msg.url));
      const concurrency = Number(msg.concurrency);
      pool = new Pool(target.origin, { connections: concurrency, pipelining: 1 });
      const http = pool;
      worker = new Worker<BenchPayload>(
        queueName,
        async (job) => {
          const res = await http.request({ path: target.pathname, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(job.data) });
          await res.body.dump();
          if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
        },
        { connection, concurrency },
      );
      worker.on('completed', () => {
        if (++pass.completed === pass.goal) report({ type: 'done', at: Date.now(), completed: pass.completed, failed: pass.failed, firstError: pass.firstError });
      });
      worker.on('failed', (_job, error) => {
        pass.failed++;
        pass.firstError ??= error.message;
      });
      worker.on('error', (error) => {
        pass.firstError ??= error.message;
      });
      await worker.waitUntilReady();
      report({ type: 'ready' });
    } else if (msg.cmd === 'goal') {
      // A new pass (a warm-up, then the measured one): "done" once this many more jobs have completed.
      pass = { goal: Number(msg.n), completed: 0, failed: 0, firstError: null };
      report({ type: 'goal-set' });
    } else if (msg.cmd === 'stop') {
      await worker?.close();
      await pool?.close();
      report({ type: 'stopped' });
    } else throw new Error(`unknown command ${msg.cmd}`);
  });
} else if (role === 'producer') {
  const queue = new Queue<BenchPayload>(queueName, { connection });
  onCommand(async (msg) => {
    if (msg.cmd === 'flush') {
      await queue.waitUntilReady();
      await queue.obliterate({ force: true });
      report({ type: 'flushed' });
    } else if (msg.cmd === 'enqueue') {
      const run = String(msg.run);
      const n = Number(msg.n);
      const chunk = Number(msg.chunk);
      const startedAt = Date.now();
      for (let from = 0; from < n; from += chunk) {
        const now = Date.now();
        const jobs = [];
        for (let seq = from; seq < Math.min(n, from + chunk); seq++) jobs.push({ name: 'deliver', data: makePayload(run, seq, now) });
        await queue.addBulk(jobs);
      }
      report({ type: 'enqueued', startedAt, finishedAt: Date.now() });
    } else if (msg.cmd === 'close') {
      await queue.close();
      report({ type: 'closed' });
    } else throw new Error(`unknown command ${msg.cmd}`);
  });
  report({ type: 'ready' });
} else {
  process.stderr.write('usage: queue.ts worker|producer [queue-name]\n');
  process.exit(2);
}
