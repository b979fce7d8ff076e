// The hand-off from the first publish: an endpoint created (or changed) in this process is read by its worker before
// the API answers, so its first deliveries are handed to the worker instead of waiting for a claim; on both stores.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startReceiver } from '../helpers/receiver.ts';
import { startBackendGateway, testBackends } from '../helpers/backends.ts';

for (const backend of await testBackends()) describe(`hand-off from the first publish (${backend.name})`, { skip: backend.skip }, () => {
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
});
