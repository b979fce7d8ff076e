// The hand-off (src/delivery/handoff.ts): deliveries a process publishes go to its own worker in memory, leased as they
// are stored, instead of waiting for a claim; its bounds, what it decides by, and what it gives back; on both stores.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { failingFirstTry, startReceiver } from '../helpers/receiver.ts';
import { eventually, type TestGateway } from '../helpers/gateway.ts';
import { startBackendGateway, testBackends } from '../helpers/backends.ts';

for (const backend of await testBackends()) describe(`hand-off (${backend.name})`, { skip: backend.skip }, () => {
  it('hands what it publishes to its worker, leased at once up to handoff_queue_size (the rest wait for a claim), and gives the waiting ones back on shutdown', async () => {
    const { gw, drop } = await startBackendGateway(backend, {
      BOTGATE_DELIVERY__HANDOFF_QUEUE_SIZE: '3', BOTGATE_DELIVERY__PER_ENDPOINT_CONCURRENCY: '1', BOTGATE_DELIVERY__SHUTDOWN_DEADLINE_SECONDS: '0.2',
    });
    const rx = await startReceiver((req, res) => {
      if (JSON.parse(req.body).warm) res.writeHead(200).end(); // the others are never answered
    });
    try {
      await gw.api('POST', '/api/endpoints', { name: 'held', url: rx.url, timeout_seconds: 30 });
      // One answered first: the endpoint's one slot is free again before the batch.
      const warm = (await gw.api('POST', '/api/messages', { event_type: 'held.test', payload: { warm: true } })).body.delivery_ids[0];
      await eventually(async () => (await gw.store.deliveries.get(warm))?.status === 'sent');
      const res = await gw.api('POST', '/api/messages/batch', { messages: Array.from({ length: 6 }, (_, i) => ({ event_type: 'held.test', payload: { i } })) });
      assert.equal(res.status, 202);
      const ids: string[] = res.body.messages.flatMap((m: { delivery_ids: string[] }) => m.delivery_ids);
      const rows = async () => Promise.all(ids.map((id) => gw.store.deliveries.get(id)));
      // Three leased to this gateway's worker when stored (one in flight, two waiting for the endpoint's one slot),
      // the queue then full: three stored pending, left to claims, which skip the endpoint while its queue has work.
      const stored = await rows();
      assert.deepEqual(stored.map((d) => [d?.status, d?.lockedBy ?? null]), [
        ...ids.slice(0, 3).map(() => ['sending', gw.workerId]), ...ids.slice(3).map(() => ['pending', null]),
      ]);
      await rx.waitFor(2);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(rx.requests.length, 2, 'never more than the endpoint\'s one in flight');
      assert.deepEqual(JSON.parse(rx.requests[1].body), { i: 0 });
      const metrics = (await gw.app.inject({ url: '/metrics' })).body;
      assert.match(metrics, /^botgate_delivery_handoff_waiting 2$/m, 'two wait in memory for the slot');
      await gw.worker.stop();
      assert.deepEqual((await rows()).map((d) => [d?.status, d?.attempts, d?.lockedBy]), ids.map(() => ['pending', 0, null]), 'all given back, none tried');
    } finally {
      await gw.close();
      await drop();
      await rx.close();
    }
  });

  /**
   * One slot, 40 ms a try: message 0, whose first try fails (500), then messages 1…80 one every 15 ms, so the
   * endpoint's hand-off queue never empties; `atTen` runs before message 10. Returns the order of what arrived.
   */
  async function busyEndpoint(retrySchedule: number[], atTen: (gw: TestGateway, first: string) => Promise<void> = async () => {}): Promise<number[]> {
    const { gw, drop } = await startBackendGateway(backend, { BOTGATE_DELIVERY__PER_ENDPOINT_CONCURRENCY: '1' });
    const rx = await startReceiver(failingFirstTry(500, 40));
    try {
      await gw.api('POST', '/api/endpoints', { name: 'busy', url: rx.url, retry_schedule: retrySchedule });
      const first = (await gw.api('POST', '/api/messages', { event_type: 'busy.test', payload: { n: 0 } })).body.delivery_ids[0];
      await eventually(async () => ((await gw.store.deliveries.get(first))?.attempts ?? 0) >= 1);
      for (let n = 1; n <= 80; n++) {
        if (n === 10) await atTen(gw, first);
        assert.equal((await gw.api('POST', '/api/messages', { event_type: 'busy.test', payload: { n } })).status, 202);
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
      await rx.waitFor(82, 15_000);
      return rx.requests.map((r) => JSON.parse(r.body).n as number);
    } finally {
      await gw.close();
      await drop();
      await rx.close();
    }
  }

  it('sends a retry once it falls due although new hand-offs keep the endpoint busy', async () => {
    const order = await busyEndpoint([0, 0.1]);
    const retry = order.lastIndexOf(0);
    assert.ok(retry > 0, 'tried twice');
    assert.ok(retry < order.length - 20, `the retry went out while new messages were still waiting, not after them all (at ${retry} of ${order.length})`);
  });

  it('sends a manual resend at once although new hand-offs keep the endpoint busy', async () => {
    const order = await busyEndpoint([0], async (gw, first) => {
      assert.equal((await gw.store.deliveries.get(first))?.status, 'failed');
      assert.equal((await gw.api('POST', `/api/deliveries/${first}/resend`)).status, 202);
    });
    const resent = order.lastIndexOf(0);
    assert.ok(resent > 0, 'sent again');
    assert.ok(resent < order.length - 20, `the resend went out while new messages were still waiting, not after them all (at ${resent} of ${order.length})`);
  });

  it('stops handing off to an endpoint that hangs (every slot taken, no try ended for half a second) and gives back what it held', async () => {
    const { gw, drop } = await startBackendGateway(backend, {
      BOTGATE_DELIVERY__PER_ENDPOINT_CONCURRENCY: '2', BOTGATE_DELIVERY__HANDOFF_QUEUE_SIZE: '100', BOTGATE_DELIVERY__SHUTDOWN_DEADLINE_SECONDS: '0.2',
    });
    const hung = await startReceiver(() => {}); // never answers
    try {
      await gw.api('POST', '/api/endpoints', { name: 'hung', url: hung.url, timeout_seconds: 30 });
      const publish = async (n: number) => {
        const res = await gw.api('POST', '/api/messages/batch', { messages: Array.from({ length: n }, (_, i) => ({ event_type: 'hung.test', payload: { i } })) });
        assert.equal(res.status, 202);
        return res.body.messages.flatMap((m: { delivery_ids: string[] }) => m.delivery_ids) as string[];
      };
      const holders = async (ids: string[]) => Promise.all(ids.map(async (id) => (await gw.store.deliveries.get(id))?.lockedBy ?? null));
      await publish(1);
      await hung.waitFor(1);
      const held = await publish(5);
      assert.deepEqual(await holders(held), Array(5).fill(gw.workerId), 'handed off: one more in flight, four waiting');
      await hung.waitFor(2);
      await new Promise((resolve) => setTimeout(resolve, 700));
      assert.deepEqual(await holders(await publish(3)), [null, null, null], 'stored pending: the endpoint hangs');
      // The four that waited in memory went back to the store with it (the one in flight stays leased).
      await eventually(async () => (await holders(held)).filter((w) => w === null).length === 4);
      assert.deepEqual(await holders(held), [gw.workerId, null, null, null, null]);
      assert.match((await gw.app.inject({ url: '/metrics' })).body, /^botgate_delivery_handoff_waiting 0$/m);
    } finally {
      await gw.close();
      await drop();
      await hung.close();
    }
  });

  it('delivers handed-off and claimed deliveries once each, within the endpoint\'s limit', async () => {
    const { gw, drop } = await startBackendGateway(backend, { BOTGATE_DELIVERY__HANDOFF_QUEUE_SIZE: '20', BOTGATE_DELIVERY__PER_ENDPOINT_CONCURRENCY: '4' });
    let open = 0;
    let most = 0;
    const rx = await startReceiver((_req, res) => {
      most = Math.max(most, ++open);
      setTimeout(() => {
        open--;
        res.writeHead(200).end();
      }, 5);
    });
    try {
      await gw.api('POST', '/api/endpoints', { name: 'busy', url: rx.url });
      for (let batch = 0; batch < 5; batch++) {
        const res = await gw.api('POST', '/api/messages/batch', { messages: Array.from({ length: 30 }, (_, i) => ({ event_type: 'busy.test', payload: { n: batch * 30 + i } })) });
        assert.equal(res.status, 202);
      }
      await rx.waitFor(150, 15_000);
      await eventually(async () => (await gw.api('GET', '/api/deliveries?status=sent&per_page=200')).body.data.length === 150);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const seen = rx.requests.map((r) => JSON.parse(r.body).n as number).sort((a, b) => a - b);
      assert.deepEqual(seen, Array.from({ length: 150 }, (_, n) => n), 'each message once');
      assert.ok(most <= 4, `at most 4 in flight to the endpoint, saw ${most}`);
      assert.equal(gw.worker.queued, 0);
    } finally {
      await gw.close();
      await drop();
      await rx.close();
    }
  });

  it('hands off the first deliveries to an endpoint created or changed in this process', async () => {
    const { gw, drop } = await startBackendGateway(backend, { BOTGATE_DELIVERY__PER_ENDPOINT_CONCURRENCY: '1', BOTGATE_DELIVERY__SHUTDOWN_DEADLINE_SECONDS: '0.2' });
    const rx = await startReceiver(() => {}); // never answers: what is handed off stays in flight or waiting
    try {
      const publish = async () => {
        const res = await gw.api('POST', '/api/messages/batch', { messages: Array.from({ length: 3 }, (_, i) => ({ event_type: 'first.test', payload: { i } })) });
        assert.equal(res.status, 202);
        const ids: string[] = res.body.messages.flatMap((m: { delivery_ids: string[] }) => m.delivery_ids);
        return Promise.all(ids.map(async (id) => {
          const d = await gw.store.deliveries.get(id);
          return [d?.status, d?.lockedBy ?? null];
        }));
      };
      const endpoint = (await gw.api('POST', '/api/endpoints', { name: 'first', url: rx.url, timeout_seconds: 30 })).body;
      // All three leased to the worker as they were stored (one in flight, two waiting for the one slot); had the
      // first waited for a claim, two would be stored pending (the claim takes one, for the one slot).
      assert.deepEqual(await publish(), [0, 1, 2].map(() => ['sending', gw.workerId]));
      assert.match((await gw.app.inject({ url: '/metrics' })).body, /^botgate_delivery_handoff_waiting 2$/m);

      // Changed here: read again before the change is answered, and decided by what it says now.
      assert.equal((await gw.api('PATCH', `/api/endpoints/${endpoint.id}`, { timeout_seconds: 40 })).status, 200);
      assert.deepEqual(await publish(), [0, 1, 2].map(() => ['sending', gw.workerId]));
      assert.match((await gw.app.inject({ url: '/metrics' })).body, /^botgate_delivery_handoff_waiting 5$/m);
      assert.equal((await gw.api('PATCH', `/api/endpoints/${endpoint.id}`, { rate_limit_per_second: 5 })).status, 200);
      assert.deepEqual(await publish(), [0, 1, 2].map(() => ['pending', null]), 'a rate-limited endpoint is never handed off');
    } finally {
      await gw.close();
      await drop();
      await rx.close();
    }
  });
  it('keeps handing off to other endpoints when a message.attempt.exhausted is stored for a subscriber', async () => {
    const { gw, drop } = await startBackendGateway(backend, { BOTGATE_DELIVERY__PER_ENDPOINT_CONCURRENCY: '1', BOTGATE_DELIVERY__SHUTDOWN_DEADLINE_SECONDS: '0.2' });
    const held = await startReceiver(() => {}); // never answers: the busy endpoint always has hand-offs waiting
    const failing = await startReceiver((_req, res) => void res.writeHead(500).end());
    const watcher = await startReceiver((_req, res) => void res.writeHead(200).end());
    try {
      const publish = async (eventType: string, n: number) => {
        const res = await gw.api('POST', '/api/messages/batch', { messages: Array.from({ length: n }, (_, i) => ({ event_type: eventType, payload: { i } })) });
        assert.equal(res.status, 202);
        const ids: string[] = res.body.messages.flatMap((m: { delivery_ids: string[] }) => m.delivery_ids);
        return Promise.all(ids.map(async (id) => {
          const d = await gw.store.deliveries.get(id);
          return [d?.status, d?.lockedBy ?? null];
        }));
      };
      await gw.api('POST', '/api/endpoints', { name: 'busy', url: held.url, event_types: ['busy.test'], timeout_seconds: 30 });
      await gw.api('POST', '/api/endpoints', { name: 'failing', url: failing.url, event_types: ['fail.test'], max_attempts: 1 });
      await gw.api('POST', '/api/endpoints', { name: 'watch', url: watcher.url, event_types: ['message.attempt.exhausted'] });
      assert.deepEqual(await publish('busy.test', 3), [0, 1, 2].map(() => ['sending', gw.workerId]));
      await publish('fail.test', 1);
      await watcher.waitFor(1);
      assert.equal(JSON.parse(watcher.requests[0].body).type, 'message.attempt.exhausted');
      // The announcement was work for the watcher only: the busy endpoint's next deliveries are still handed off
      // (had every endpoint been told new work was stored, they would wait in the store for a claim).
      assert.deepEqual(await publish('busy.test', 3), [0, 1, 2].map(() => ['sending', gw.workerId]));
    } finally {
      await gw.close();
      await drop();
      await Promise.all([held.close(), failing.close(), watcher.close()]);
    }
  });
});
