// The rate limiter over the store's counters, on both stores: a sliding second, not fixed windows that let twice the
// limit through around a window's edge.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRateLimiter } from '../../src/delivery/rate-limit.ts';
import { startBackendGateway, testBackends } from '../helpers/backends.ts';

// Times on the limiter's own clock (ms); the store keeps counters by window, whatever the wall clock says.
const T = 1_800_000_000_000;

for (const backend of await testBackends()) describe(`rate limiter (${backend.name})`, { skip: backend.skip }, () => {
  it('grants at most the limit within any second, also across a window edge, and says when the next send may go', async () => {
    const { gw, drop } = await startBackendGateway(backend, {}, { start: false });
    try {
      const limiter = createRateLimiter(gw.store.counters);
      const take = (want: number, at: number) => limiter.take('ep-edge', 5, want, T + at);
      assert.deepEqual(await take(5, 990), { granted: 5, retryAt: T + 990 });
      // 20 ms later, in the next window: fixed windows granted 5 more here (10 sends within 20 ms).
      const edge = await take(5, 1010);
      assert.equal(edge.granted, 0);
      assert.equal(edge.retryAt, T + 1200, 'one more once a fifth of the window before has slid out');
      assert.equal((await take(5, 1200)).granted, 1);
      assert.equal((await take(5, 1450)).granted, 1);
      // Sustained: about five a second, never more within the second before.
      let granted = 2;
      for (let at = 1500; at < 2990; at += 10) granted += (await take(1, at)).granted;
      assert.ok(granted <= 10 && granted >= 8, `${granted} granted over 2 s at 5/s`);
    } finally {
      await gw.close();
      await drop();
    }
  });

  it('counts only what it granted: a window asked for more than its limit does not hold the next one back', async () => {
    const { gw, drop } = await startBackendGateway(backend, {}, { start: false });
    try {
      const limiter = createRateLimiter(gw.store.counters);
      assert.equal((await limiter.take('ep-many', 5, 100, T + 500)).granted, 5);
      // Half of the window before (its 5 sends, not the 100 asked) still counts: 3 of 5 are taken, 2 left.
      assert.equal((await limiter.take('ep-many', 5, 100, T + 1500)).granted, 2);
    } finally {
      await gw.close();
      await drop();
    }
  });
});
