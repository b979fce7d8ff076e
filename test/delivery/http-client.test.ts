// The delivery HTTP client on its own: tries that wait for one of a pool's connections are never sent late.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHttpClient } from '../../src/delivery/http-client.ts';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { startReceiver } from '../helpers/receiver.ts';

const client = () => createHttpClient({ allowPrivate: ['127.0.0.1'], maxResponseBytes: 1000, connectionsPerOrigin: 1 });

describe('delivery HTTP client', () => {
  it('fails a try that waited past its deadline for a connection, without sending it', async () => {
    const hang = await startReceiver(() => {}); // accepts, never answers
    const http = client();
    try {
      const tries = [0, 1, 2].map(() => http.send({ url: hang.url, headers: {}, body: '{}', timeoutMs: 400, pool: 'ep_1' }));
      const results = await Promise.all(tries);
      assert.deepEqual(results.map((r) => r.errorKind), ['timeout', 'timeout', 'timeout']);
      assert.equal(hang.requests.length, 1, 'only the try that had the connection in time was sent');
    } finally {
      await hang.close();
      await http.close();
    }
  });

  it('on shutdown aborts the tries still waiting for a connection, too: none is sent afterwards', async () => {
    const hang = await startReceiver(() => {});
    const http = client();
    const shutdown = new AbortController();
    try {
      const tries = [0, 1, 2].map(() => http.send({ url: hang.url, headers: {}, body: '{}', timeoutMs: 2000, pool: 'ep_1', signal: shutdown.signal }));
      await hang.waitFor(1);
      shutdown.abort();
      const results = await Promise.all(tries);
      assert.deepEqual(results.map((r) => r.errorKind), ['aborted', 'aborted', 'aborted']);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(hang.requests.length, 1);
    } finally {
      await hang.close();
      await http.close();
    }
  });

  it('ends tries the pool never starts (a header the client refuses stalls its queue) by their deadline, and on shutdown', async () => {
    const rx = await startReceiver((_q, res) => void res.writeHead(200).end());
    const http = createHttpClient({ allowPrivate: ['127.0.0.1'], maxResponseBytes: 1000, connectionsPerOrigin: 2 });
    const bounded = <T>(p: Promise<T>) => Promise.race([p, new Promise<never>((_r, reject) => setTimeout(() => reject(new Error('a try never ended')), 5000))]);
    try {
      const refused = { expect: '100-continue' };
      const results = await bounded(Promise.all([0, 1, 2, 3, 4].map(() => http.send({ url: rx.url, headers: refused, body: '{}', timeoutMs: 300, pool: 'ep_bad' }))));
      assert.ok(results.every((r) => r.statusCode === null && r.errorKind !== null), JSON.stringify(results.map((r) => r.errorKind)));
      const shutdown = new AbortController();
      const more = [0, 1, 2, 3, 4].map(() => http.send({ url: rx.url, headers: refused, body: '{}', timeoutMs: 60_000, pool: 'ep_bad', signal: shutdown.signal }));
      await new Promise((resolve) => setTimeout(resolve, 100));
      shutdown.abort();
      assert.ok((await bounded(Promise.all(more))).every((r) => r.statusCode === null));
      assert.equal(rx.requests.length, 0);
    } finally {
      await rx.close();
      await http.close();
    }
  });

  it('gives each pool its own connections: a hanging pool does not hold another one on the same host', async () => {
    const host = await startReceiver((req, res) => {
      if (req.url !== '/dead') res.writeHead(200).end('ok');
    });
    const http = client();
    try {
      const base = `http://127.0.0.1:${host.port}`;
      const dead = http.send({ url: `${base}/dead`, headers: {}, body: '{}', timeoutMs: 1500, pool: 'ep_dead' });
      await host.waitFor(1);
      const started = performance.now();
      const healthy = await http.send({ url: `${base}/hook`, headers: {}, body: '{}', timeoutMs: 1500, pool: 'ep_healthy' });
      assert.equal(healthy.statusCode, 200);
      assert.ok(performance.now() - started < 1000, 'answered without waiting for the hanging try');
      assert.equal((await dead).errorKind, 'timeout');
    } finally {
      await host.close();
      await http.close();
    }
  });

  it('counts connecting against the try\'s timeout: a host that never completes the connection fails within it', async () => {
    // A listener in a stopped process with its accept backlog full: the kernel drops further SYNs, so connecting hangs.
    const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () { console.log(this.address().port) })`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const fillers: Socket[] = [];
    const http = client();
    try {
      const [line] = await once(child.stdout!, 'data');
      const port = Number(String(line).trim());
      child.kill('SIGSTOP');
      for (let i = 0; i < 4; i++) fillers.push(connect(port, '127.0.0.1').on('error', () => {}));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const result = await http.send({ url: `http://127.0.0.1:${port}/hook`, headers: {}, body: '{}', timeoutMs: 500, pool: 'ep_slow_connect' });
      assert.equal(result.errorKind, 'timeout');
      assert.ok(result.durationMs < 3000, `failed after ${Math.round(result.durationMs)} ms, not the 10 s default connect timeout`);
    } finally {
      for (const f of fillers) f.destroy();
      child.kill('SIGKILL');
      await http.close();
    }
  });

  it('reaches loopback only for a try marked ownLoopback (the demo\'s receiver), by address and by host name, when nothing allows it', async () => {
    const rx = await startReceiver((_q, res) => void res.writeHead(204).end());
    const http = createHttpClient({ allowPrivate: [], maxResponseBytes: 1000, connectionsPerOrigin: 1 });
    try {
      const byName = rx.url.replace('127.0.0.1', 'localhost');
      for (const url of [rx.url, byName]) {
        for (const pool of ['ep_same', undefined]) {
          const send = (ownLoopback?: boolean) => http.send({ url, headers: {}, body: '{}', timeoutMs: 2000, pool, ownLoopback });
          assert.equal((await send()).errorKind, 'blocked', `${url} ${pool}`);
          assert.equal((await send(true)).statusCode, 204, `${url} ${pool}`);
          // The pool's connection to loopback is not reused by a try that is not marked.
          assert.equal((await send()).errorKind, 'blocked', `${url} ${pool} again`);
        }
      }
      assert.equal(rx.requests.length, 4);
    } finally {
      await rx.close();
      await http.close();
    }
  });
});
