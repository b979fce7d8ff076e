// Webhook receiver child: "ok" answers 200 and records publish→receive latency (or, after "count", counts any
// POST by its webhook-id); "dead" never answers.
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { onCommand, report } from './child.ts';

const mode = process.argv[2] === 'dead' ? 'dead' : 'ok';

let run = '';
let expected = Infinity;
let reachedSent = false;
let seen = new Set<number>();
let latencies: number[] = [];
let requests = 0;
let duplicates = 0;
let stray = 0;
// "count" mode: any POST counts once per webhook-id (or once per request without one), until the next "expect".
let counting = false;
let counted = new Set<string>();
let anonymous = 0;
let withText = 0;
let firstAt = 0;
let lastAt = 0;

function countAny(body: string, id: string | undefined) {
  requests++;
  const now = Date.now();
  firstAt ||= now;
  lastAt = now;
  if (id !== undefined) {
    if (counted.has(id)) {
      duplicates++;
      return;
    }
    counted.add(id);
  } else anonymous++;
  try {
    if ((JSON.parse(body) as { text?: unknown }).text !== undefined) withText++;
  } catch {
    stray++;
  }
  if (!reachedSent && counted.size + anonymous >= expected) {
    reachedSent = true;
    report({ type: 'reached', at: now, count: counted.size + anonymous });
  }
}

function record(body: string, id: string | undefined) {
  if (counting) return countAny(body, id);
  requests++;
  let data: { run?: unknown; seq?: unknown; sent_at?: unknown };
  try {
    data = JSON.parse(body) as typeof data;
  } catch {
    stray++;
    return;
  }
  if (data.run !== run || typeof data.seq !== 'number' || typeof data.sent_at !== 'number') {
    stray++;
    return;
  }
  if (seen.has(data.seq)) {
    duplicates++;
    return;
  }
  seen.add(data.seq);
  latencies.push(Date.now() - data.sent_at);
  if (!reachedSent && seen.size >= expected) {
    reachedSent = true;
    report({ type: 'reached', at: Date.now(), count: seen.size });
  }
}

const sockets = new Set<Socket>();
let connections = 0;

const server =
  mode === 'ok'
    ? createHttpServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const id = req.headers['webhook-id'];
          if (req.method === 'POST') record(Buffer.concat(chunks).toString('utf8'), typeof id === 'string' ? id : undefined);
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
          res.end('ok');
        });
      })
    : createTcpServer((socket) => {
        connections++;
        sockets.add(socket);
        socket.on('data', () => {}); // read and ignore: never answer
        socket.on('error', () => {});
        socket.on('close', () => sockets.delete(socket));
      });

if (mode === 'ok') {
  const http = server as ReturnType<typeof createHttpServer>;
  http.keepAliveTimeout = 60_000;
  http.headersTimeout = 65_000;
  http.maxConnections = 10_000;
}

onCommand((msg) => {
  switch (msg.cmd) {
    case 'expect': // start counting a new run
      run = String(msg.run);
      expected = Number(msg.n);
      counting = false;
      reachedSent = false;
      seen = new Set();
      latencies = [];
      requests = duplicates = stray = 0;
      report({ type: 'expecting' });
      return;
    case 'count': // count every POST from now on; "reached" once `n` distinct ones are in (n: Infinity never)
      counting = true;
      expected = msg.n === null || msg.n === undefined ? Infinity : Number(msg.n);
      reachedSent = false;
      counted = new Set();
      anonymous = withText = firstAt = lastAt = 0;
      requests = duplicates = stray = 0;
      report({ type: 'counting' });
      return;
    case 'expect-count': // change the target of the current count (it may be reached already)
      expected = Number(msg.n);
      if (!reachedSent && counted.size + anonymous >= expected) {
        reachedSent = true;
        report({ type: 'reached', at: lastAt, count: counted.size + anonymous });
      }
      report({ type: 'expecting' });
      return;
    case 'stats':
      report({ type: 'stats', counted: counted.size + anonymous, withText, firstAt, lastAt, distinct: seen.size, requests, duplicates, stray, connections, openSockets: sockets.size, latencies });
      return;
    default:
      throw new Error(`unknown command ${msg.cmd}`);
  }
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  report({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
});
