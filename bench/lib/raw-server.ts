// Bare node:http baseline child: "answer" replies to each POST with a fixed JSON after reading the body (R);
// "relay" acknowledges each POST at once (200, empty) and relays its body to a URL through an undici Pool (R2).
import { createServer } from 'node:http';
import { Pool } from 'undici';
import { onCommand, report } from './child.ts';

const mode = process.argv[2] === 'relay' ? 'relay' : 'answer';
const target = mode === 'relay' ? new URL(process.argv[3] ?? '') : null;
const connections = Number(process.argv[4] ?? 50);
const ANSWER = JSON.stringify({ text: 'Your balance is not available right now.' });

const pool = target ? new Pool(target.origin, { connections, pipelining: 1 }) : null;
let received = 0;
let relayed = 0;
let relayErrors = 0;
let firstError: string | null = null;

async function relay(body: Buffer, seq: number): Promise<void> {
  try {
    const res = await pool!.request({
      path: target!.pathname,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'webhook-id': `relay-${seq}` },
      body,
    });
    await res.body.dump();
    if (res.statusCode >= 200 && res.statusCode < 300) relayed++;
    else {
      relayErrors++;
      firstError ??= `HTTP ${res.statusCode}`;
    }
  } catch (error) {
    relayErrors++;
    firstError ??= (error as Error).message;
  }
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    received++;
    if (mode === 'answer') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ANSWER) });
      res.end(ANSWER);
      return;
    }
    res.writeHead(200, { 'content-length': '0' });
    res.end();
    void relay(Buffer.concat(chunks), received);
  });
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;

onCommand((msg) => {
  if (msg.cmd === 'stats') report({ type: 'stats', received, relayed, relayErrors, firstError });
  else throw new Error(`unknown command ${msg.cmd}`);
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  report({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
});
