// kill -9 of the gateway during a burst: after a restart every message that got a 202 is delivered (at
// least once; a duplicate carries the same webhook-id), and no delivery stays in `sending`; every decided event
// is in its user's decisions, both before the user index written behind them has caught up and after.
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

  it('loses no decided event across kill -9 and restart, and every user still lists all of theirs', async () => {
    const dataDir = tempDataDir();
    const key = 'crash-test-producer-key-0123456789';
    let gw = await spawnGateway({ BOTGATE_DATA_DIR: dataDir, BOTGATE_NOTIFY__PRODUCER_KEY: key, BOTGATE_DEMO__ENABLED: 'false' });
    const decided = new Map<string, Set<string>>(); // user → decision ids answered
    let count = 0;
    let stop = false;
    const producer = async (n: number) => {
      for (let i = 0; !stop; i++) {
        const user = `crash-user-${(n * 7 + i) % 40}`;
        try {
          const res = await fetch(`${gw.url}/api/events`, {
            method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify({ user_id: user, event_type: 'low_balance', params: { n, i } }),
          });
          const body = (await res.json()) as { id?: string };
          if (res.status === 200 && body.id) (decided.get(user) ?? decided.set(user, new Set()).get(user)!).add(body.id), count++;
        } catch {
          return; // the process died under us
        }
      }
    };
    const producers = Array.from({ length: 16 }, (_, n) => producer(n));
    // Past a round of the user index (every 2 s), so some decisions are indexed and some are not.
    await eventually(() => count > 2000, 20_000);
    await new Promise((r) => setTimeout(r, 2500));
    gw.child.kill('SIGKILL');
    stop = true;
    await gw.exited;
    await Promise.all(producers);

    gw = await spawnGateway({ BOTGATE_DATA_DIR: dataDir, BOTGATE_NOTIFY__PRODUCER_KEY: key, BOTGATE_DEMO__ENABLED: 'false' });
    try {
      const listed = async (user: string) => {
        const ids = new Set<string>();
        for (let cursor = ''; ;) {
          const res = await gw.api('GET', `/api/notify/decisions?user_id=${user}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
          for (const d of res.body.data) ids.add(d.id);
          if (!res.body.next_cursor) return ids;
          cursor = res.body.next_cursor;
        }
      };
      const missing = async () => {
        const out: string[] = [];
        for (const [user, ids] of decided) {
          const got = await listed(user);
          for (const id of ids) if (!got.has(id)) out.push(id);
        }
        return out;
      };
      assert.deepEqual(await missing(), [], 'right after the restart');
      await new Promise((r) => setTimeout(r, 2500)); // the index catches up
      assert.deepEqual(await missing(), [], 'once the index caught up');
      process.stdout.write(`# decided ${count} events for ${decided.size} users before kill -9; all listed after the restart\n`);
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  });
});
