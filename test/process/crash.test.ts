// kill -9 of the gateway during a burst: after a restart every message that got a 202 is delivered (at
// least once; a duplicate carries the same webhook-id), and no delivery stays in `sending`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startReceiver } from '../helpers/receiver.ts';
import { eventually } from '../helpers/gateway.ts';
import { spawnGateway, tempDataDir } from '../helpers/process.ts';

describe('crash safety (SQLite)', () => {
  it('loses no acknowledged message across kill -9 and restart', async () => {
    const rx = await startReceiver((_q, res) => void setTimeout(() => res.writeHead(200).end(), 5));
    const dataDir = tempDataDir();
    try {
      let gw = await spawnGateway({ BOTGATE_DATA_DIR: dataDir });
      const ep = await gw.api('POST', '/api/endpoints', { name: 'rx', url: rx.url });
      assert.equal(ep.status, 201);

      const acknowledged = new Set<string>();
      let stop = false;
      const publisher = async (n: number) => {
        for (let i = 0; !stop; i++) {
          try {
            const res = await gw.api('POST', '/api/messages', { event_type: 'crash.test', payload: { publisher: n, i } });
            if (res.status === 202) acknowledged.add(res.body.id);
          } catch {
            return; // the process died under us: this request was never acknowledged
          }
        }
      };
      const publishers = Array.from({ length: 16 }, (_, n) => publisher(n));
      await eventually(() => rx.requests.length > 200 && acknowledged.size > 400, 20_000);
      gw.child.kill('SIGKILL');
      stop = true;
      await gw.exited;
      await Promise.all(publishers);
      assert.ok(acknowledged.size > 0);

      gw = await spawnGateway({ BOTGATE_DATA_DIR: dataDir });
      try {
        const delivered = () => new Set(rx.requests.map((r) => String(r.headers['webhook-id'])));
        await eventually(() => [...acknowledged].every((id) => delivered().has(id)), 30_000, 100);
        const missing = [...acknowledged].filter((id) => !delivered().has(id));
        assert.deepEqual(missing, []);
        // Deliveries in flight right now are fine; none may stay in sending (or pending) once the queue drains.
        await eventually(async () => {
          const [sending, pending] = await Promise.all([gw.api('GET', '/api/deliveries?status=sending'), gw.api('GET', '/api/deliveries?status=pending')]);
          return sending.body.data.length === 0 && pending.body.data.length === 0;
        }, 15_000, 100);
        const duplicates = rx.requests.length - delivered().size;
        process.stdout.write(`# acknowledged ${acknowledged.size}, received ${rx.requests.length}, redelivered after the crash ${duplicates}\n`);
      } finally {
        gw.child.kill('SIGTERM');
        await gw.exited;
      }
    } finally {
      await rx.close();
    }
  });
});
