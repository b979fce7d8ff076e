// The hand-off queue's bounds (src/delivery/handoff.ts): how many deliveries and how much payload it holds in memory,
// and the endpoint it decides by (the worker's cache: endpoint-cache.ts `known`).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createHandOffQueue } from '../../src/delivery/handoff.ts';
import type { ResolvedEndpoint } from '../../src/delivery/attempt.ts';
import type { LeasedDelivery } from '../../src/store/store.ts';

/** A queue for one endpoint `ep`, whose slots are all taken (what is handed off waits) until `free` is set. */
function queueOf(env: Record<string, string>) {
  const clock = createManualClock();
  const settings = loadConfig({ env }).delivery;
  const endpoint = { record: { id: 'ep', isActive: true, rateLimitPerSecond: null, timeoutSeconds: 15 } } as unknown as ResolvedEndpoint;
  const started: string[] = [];
  const givenBack: string[] = [];
  const slots = { free: false };
  const queue = createHandOffQueue({
    workerId: 'w1', clock, settings,
    known: (id) => (id === 'ep' ? endpoint : undefined),
    inFlight: () => 0,
    inFlightOf: () => (slots.free ? 0 : settings.per_endpoint_concurrency),
    heldBack: () => false,
    giveBack: (id) => givenBack.push(id),
    start: (d) => started.push(d.id),
  });
  queue.open();
  let n = 0;
  /** One publish: a delivery per size, each leased or not; the leased ones are stored and settled. Returns which were. */
  const publish = (sizes: number[]): boolean[] => {
    const pub = queue.handOff.begin();
    const leased: LeasedDelivery[] = [];
    const taken = sizes.map((size) => {
      const until = pub.lease.take('ep', size);
      const id = `d${++n}`;
      if (until !== null) leased.push({ id, messageId: `m${n}`, endpointId: 'ep', eventType: 'e', attempts: 0, oneShot: false, orderingKey: null, payload: 'x'.repeat(size), leaseUntil: until });
      return until !== null;
    });
    pub.settle(leased);
    return taken;
  };
  return { queue, publish, started, givenBack, slots };
}

describe('hand-off queue', () => {
  it('holds at most handoff_queue_size deliveries', () => {
    const { queue, publish } = queueOf({ BOTGATE_DELIVERY__HANDOFF_QUEUE_SIZE: '3' });
    assert.deepEqual(publish([10, 10, 10, 10, 10]), [true, true, true, false, false]);
    assert.equal(queue.queued, 3);
  });

  it('holds payloads of at most handoff_queue_bytes together, but one of any size when none waits', () => {
    const { queue, publish } = queueOf({ BOTGATE_DELIVERY__HANDOFF_QUEUE_BYTES: '100' });
    assert.deepEqual(publish([40, 40, 40]), [true, true, false], '120 characters would pass the 100');
    assert.equal(queue.queued, 2);

    const alone = queueOf({ BOTGATE_DELIVERY__HANDOFF_QUEUE_BYTES: '100' });
    assert.deepEqual(alone.publish([500]), [true], 'nothing waits: taken whatever its size');
    assert.deepEqual(alone.publish([1]), [false], 'then nothing more until it leaves');
  });

  it('counts a payload out once it leaves the queue', () => {
    const { queue, publish, started, slots } = queueOf({ BOTGATE_DELIVERY__HANDOFF_QUEUE_BYTES: '100' });
    assert.deepEqual(publish([60]), [true]);
    slots.free = true;
    queue.pump();
    assert.deepEqual(started, ['d1']);
    slots.free = false;
    assert.deepEqual(publish([60, 40]), [true, true], 'the 60 that started no longer counts');
    assert.equal(queue.queued, 2);
  });

  it('hands nothing off for an endpoint the worker has not read', () => {
    const { queue } = queueOf({});
    assert.equal(queue.handOff.begin().lease.take('unknown', 10), null);
  });
});
