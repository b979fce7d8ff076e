// The delivery worker's endpoint cache (src/delivery/endpoint-cache.ts): what the hand-off decides by, how old, and
// that a change made in this process is read before it is answered.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createEndpointCache } from '../../src/delivery/endpoint-cache.ts';
import type { EndpointService } from '../../src/delivery/endpoints.ts';
import type { EndpointRecord, Store } from '../../src/store/store.ts';

function cacheOf() {
  const clock = createManualClock();
  const reads: string[] = [];
  let timeout = 15;
  const listeners: ((id: string) => unknown)[] = [];
  /** When set, reads wait until the test lets each go (`held`, in the order they began). */
  const hold = { on: false, held: [] as (() => void)[] };
  const store = {
    endpoints: {
      async get(id: string) {
        reads.push(id);
        const record = id === 'ep' ? ({ id, isActive: true, timeoutSeconds: timeout, retrySchedule: null, maxAttempts: null } as unknown as EndpointRecord) : null;
        if (hold.on) await new Promise<void>((resolve) => hold.held.push(resolve));
        return record;
      },
    },
  } as unknown as Store;
  const endpoints = {
    onChange: (fn: (id: string) => unknown) => listeners.push(fn),
    signingSecrets: () => [],
    authSecret: () => null,
  } as unknown as EndpointService;
  const cache = createEndpointCache({ store, endpoints, clock, settings: loadConfig({ env: {} }).delivery });
  const change = async (id: string, newTimeout: number) => {
    timeout = newTimeout;
    await Promise.all(listeners.map((fn) => fn(id)));
  };
  return { cache, clock, reads, change, hold };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('endpoint cache', () => {
  it('knows nothing of an endpoint never read, and reads nothing for asking', async () => {
    const { cache, reads } = cacheOf();
    assert.equal(cache.known('ep'), undefined);
    await tick();
    assert.deepEqual(reads, []);
  });

  it('decides by an entry up to 30 s old while it is read again in the background', async () => {
    const { cache, clock, reads } = cacheOf();
    await cache.resolve('ep');
    clock.advance(1000);
    assert.equal(cache.known('ep')?.record.id, 'ep');
    await tick();
    assert.equal(reads.length, 1, 'fresh: not read again');

    clock.advance(5000); // 6 s old: stale, still known; read again once however often asked
    assert.equal(cache.known('ep')?.record.id, 'ep');
    assert.equal(cache.known('ep')?.record.id, 'ep');
    await tick();
    assert.equal(reads.length, 2);
    assert.equal(cache.fresh('ep')?.loadedAt, clock.now(), 'the new read is cached');

    clock.advance(31_000); // no read since: too old to decide by
    assert.equal(cache.known('ep'), undefined);
  });

  it('reads an endpoint changed here before the change is answered', async () => {
    const { cache, reads, change } = cacheOf();
    await cache.resolve('ep');
    await change('ep', 40);
    assert.equal(reads.length, 2);
    assert.equal(cache.known('ep')?.record.timeoutSeconds, 40);
  });

  it('keeps no read begun before a change (it holds the old record), even when it ends last', async () => {
    const { cache, change, hold } = cacheOf();
    hold.on = true;
    const before = cache.resolve('ep'); // reads timeout 15, held
    const changed = change('ep', 40); // reads 40, held
    await tick();
    hold.held[1](); // the new read ends first
    await changed;
    hold.held[0]();
    assert.equal((await before)?.record.timeoutSeconds, 15, 'the caller that asked before gets what was read');
    assert.equal(cache.fresh('ep')?.record.timeoutSeconds, 40);
  });
});
