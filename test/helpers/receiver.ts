// A real HTTP receiver on loopback standing for a webhook consumer: records every request and answers as
// the test scripts it (status, delay, slow body, reset, hang, huge body, redirect).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { verifySignature } from './signatures.ts';

export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
  /** Signed requests: whether a secret the test was shown verifies it (unsigned: null). */
  verified: boolean | null;
}

export type Behaviour = (req: Received, res: ServerResponse, socket: Socket) => void | Promise<void>;

export interface Receiver {
  url: string;
  port: number;
  requests: Received[];
  /** Sets how the next requests are answered (default: 200 "ok"). */
  respond(behaviour: Behaviour): void;
  /** Resolves once `count` requests have arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export const ok: Behaviour = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
};

/** Answers message 0's first try with `status`, everything else with 200 after `delayMs`. */
export function failingFirstTry(status: number, delayMs: number): Behaviour {
  let failed = false;
  return (req, res) => {
    if (JSON.parse(req.body).n === 0 && !failed) {
      failed = true;
      return void res.writeHead(status).end();
    }
    setTimeout(() => res.writeHead(200).end(), delayMs);
  };
}

export async function startReceiver(behaviour: Behaviour = ok): Promise<Receiver> {
  const requests: Received[] = [];
  let current = behaviour;
  const waiters: { count: number; resolve: () => void }[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const verified = req.headers['webhook-signature'] ? verifySignature(req.headers, body) : null;
      const received: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, at: Date.now(), verified };
      requests.push(received);
      for (const w of [...waiters]) {
        if (requests.length >= w.count) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
      Promise.resolve(current(received, res, req.socket)).catch(() => res.destroy());
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    requests,
    respond(next) {
      current = next;
    },
    waitFor(count, timeoutMs = 10_000) {
      if (requests.length >= count) return Promise.resolve(requests);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`receiver got ${requests.length} of ${count} requests in ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ count, resolve: () => (clearTimeout(timer), resolve(requests)) });
      });
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const bad = requests.filter((r) => r.verified === false);
      if (bad.length > 0) throw new Error(`${bad.length} signed request(s) did not verify, e.g. webhook-id ${bad[0].headers['webhook-id']}`);
    },
  };
}
