// The delivery HTTP client's thread: receives batches of requests from the main thread, sends them with the
// pooled, SSRF-guarded client, and posts the results back in batches.
import { parentPort, workerData } from 'node:worker_threads';
import { createHttpClient, type HttpClientOptions, type HttpRequest, type HttpResult } from './http-client.ts';

export type ToThread =
  | { type: 'send'; batch: [number, Omit<HttpRequest, 'signal'>][] }
  | { type: 'abort' }
  | { type: 'close' };

export interface FromThread {
  results: [number, HttpResult][];
}

const port = parentPort!;
const client = createHttpClient(workerData as HttpClientOptions);
const shutdown = new AbortController();
let results: [number, HttpResult][] = [];
let scheduled = false;

function flush() {
  scheduled = false;
  const batch = results;
  results = [];
  port.postMessage({ results: batch } satisfies FromThread);
}

port.on('message', (message: ToThread) => {
  if (message.type === 'send') {
    for (const [id, request] of message.batch) {
      void client.send({ ...request, signal: shutdown.signal }).then((result) => {
        // Only Retry-After is read by the worker: do not copy every header across threads.
        const retryAfter = result.headers['retry-after'];
        results.push([id, { ...result, headers: retryAfter === undefined ? {} : { 'retry-after': retryAfter } }]);
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    }
  } else if (message.type === 'abort') {
    shutdown.abort();
  } else if (message.type === 'close') {
    void client.close().finally(() => port.close());
  }
});
