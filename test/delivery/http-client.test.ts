// The delivery HTTP client on its own: tries that wait for one of a pool's connections are never sent late.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHttpClient } from '../../src/delivery/http-client.ts';
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
});
