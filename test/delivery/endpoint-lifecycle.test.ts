// Endpoint lifecycle on an injected clock: an endpoint failing without a success for 5 days is disabled
// and announced (a success resetting the failure clock is in the store conformance suite).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../src/clock.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { eventually, startTestGateway } from '../helpers/gateway.ts';

const HOUR = 3_600_000;

describe('endpoint lifecycle', () => {
  it('disables an endpoint that has failed for 5 days without a single success', async () => {
    const clock = createManualClock(Date.UTC(2026, 5, 1));
    const gw = await startTestGateway({}, { clock });
    const rx = await startReceiver((_q, res) => void res.writeHead(500).end());
    const watcher = await startReceiver();
    try {
      const ep = (await gw.api('POST', '/api/endpoints', { name: 'flaky', url: rx.url, event_types: ['x.y'], retry_schedule: [0, 3600], max_attempts: 100 })).body;
      await gw.api('POST', '/api/endpoints', { name: 'ops', url: watcher.url, event_types: ['endpoint.disabled'] });
      const attemptsOf = async (id: string) => (await gw.api('GET', `/api/deliveries/${id}/attempts`)).body.data.length;
      const d = (await gw.api('POST', '/api/messages', { event_type: 'x.y', payload: {} })).body.delivery_ids[0];
      await eventually(async () => (await attemptsOf(d)) === 1);
      const first = (await gw.api('GET', `/api/endpoints/${ep.id}`)).body;
      assert.equal(first.failing_since, new Date(clock.now()).toISOString());

      clock.advance(1.5 * HOUR); // past the retry at 1 h ± 20%
      gw.outbox.nudge();
      await eventually(async () => (await attemptsOf(d)) === 2);
      assert.equal((await gw.api('GET', `/api/endpoints/${ep.id}`)).body.is_active, true);
      clock.advance(5 * 24 * HOUR);
      gw.outbox.nudge();
      await eventually(async () => (await attemptsOf(d)) === 3);
      const disabled = await eventually(async () => {
        const e = (await gw.api('GET', `/api/endpoints/${ep.id}`)).body;
        return !e.is_active && e;
      });
      assert.equal(disabled.disabled_reason, 'failing');
      const [note] = await watcher.waitFor(1);
      assert.equal(JSON.parse(note.body).reason, 'failing');
      assert.equal(JSON.parse(note.body).endpoint_id, ep.id);
    } finally {
      await gw.close();
      await rx.close();
      await watcher.close();
    }
  });
});
