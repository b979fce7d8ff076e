// An HttpClient whose sockets live in a worker thread: HTTP parsing, TLS and signing-free I/O of deliveries run
// on another core while the main thread keeps the store and the API. Same interface as createHttpClient.
import { Worker } from 'node:worker_threads';
import type { HttpClient, HttpClientOptions, HttpRequest, HttpResult } from './http-client.ts';
import type { FromThread, ToThread } from './http-thread.ts';

export function createThreadedHttpClient(options: HttpClientOptions): HttpClient {
  const thread = new Worker(new URL('./http-thread.ts', import.meta.url), { workerData: options });
  thread.unref();
  const waiting = new Map<number, (result: HttpResult) => void>();
  const signals = new WeakSet<AbortSignal>();
  let nextId = 1;
  let batch: ToThread & { type: 'send' } = { type: 'send', batch: [] };
  let scheduled = false;
  let broken: Error | null = null;

  thread.on('message', (message: FromThread) => {
    for (const [id, result] of message.results) {
      waiting.get(id)?.(result);
      waiting.delete(id);
    }
  });
  thread.on('error', (error) => {
    broken = error;
    for (const [id, resolve] of waiting) {
      resolve({ statusCode: null, headers: {}, body: null, durationMs: 0, errorKind: 'network', error: `delivery thread failed: ${error.message}` });
      waiting.delete(id);
    }
  });

  const flush = () => {
    scheduled = false;
    const message = batch;
    batch = { type: 'send', batch: [] };
    thread.postMessage(message satisfies ToThread);
  };

  return {
    send(req: HttpRequest): Promise<HttpResult> {
      if (broken) return Promise.resolve({ statusCode: null, headers: {}, body: null, durationMs: 0, errorKind: 'network', error: `delivery thread failed: ${broken.message}` });
      if (req.signal && !signals.has(req.signal)) {
        signals.add(req.signal);
        req.signal.addEventListener('abort', () => thread.postMessage({ type: 'abort' } satisfies ToThread), { once: true });
      }
      return new Promise((resolve) => {
        const id = nextId++;
        waiting.set(id, resolve);
        batch.batch.push([id, { url: req.url, headers: req.headers, body: req.body, timeoutMs: req.timeoutMs, pool: req.pool }]);
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    async close() {
      const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
      thread.postMessage({ type: 'close' } satisfies ToThread);
      const timer = setTimeout(() => void thread.terminate(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Several delivery threads, each taking requests in turn. */
export function createPooledHttpClient(options: HttpClientOptions, threads: number): HttpClient {
  const clients = Array.from({ length: threads }, () => createThreadedHttpClient(options));
  let next = 0;
  return {
    send: (req) => clients[next++ % clients.length].send(req),
    close: async () => {
      await Promise.all(clients.map((c) => c.close()));
    },
  };
}
