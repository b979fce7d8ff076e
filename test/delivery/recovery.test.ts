// The recover job runner as a process stops: the job it is running is handed back at once, and no other job is
// taken on the way out (either would sit leased to a process that is gone until its lease ran out).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createManualClock } from '../../src/clock.ts';
import { configSchema } from '../../src/config/schema.ts';
import { createRecoveryService } from '../../src/delivery/recovery.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { JobRecord, Store } from '../../src/store/store.ts';
import { newId } from '../helpers/fixtures.ts';

/** A store and a manual clock for the job runner, and a job `id` created at `createdAt`. */
async function setUp() {
  const store = createSqliteStore({ file: join(mkdtempSync(join(tmpdir(), 'botgate-recovery-')), 'botgate.db'), newId });
  await store.migrate();
  const clock = createManualClock();
  const now = clock.now();
  const job = (id: string, createdAt: number, total = 0): JobRecord => ({
    id, kind: 'recover', params: { endpointId: 'ep_1', since: now - 1000, until: now }, progress: { afterSeq: 0 }, status: 'queued',
    total, done: 0, error: null, lockedBy: null, lockedUntil: null, createdAt, updatedAt: createdAt,
  });
  return { store, clock, now, job };
}

/**
 * A runner (worker w1) whose first requeue batch (500 deliveries, more to come) waits until `finish()`; `entered` when
 * it is under way. With `thenNone`, later batches find nothing.
 */
function stalledRunner(store: Store, clock: ReturnType<typeof createManualClock>, thenNone = false) {
  let inRequeue!: () => void;
  const entered = new Promise<void>((r) => (inRequeue = r));
  let finish!: () => void;
  const held = new Promise<void>((r) => (finish = r));
  const runner = { calls: 0, entered, finish: () => finish(), recovery: null as unknown as ReturnType<typeof createRecoveryService> };
  const deliveries = {
    ...store.deliveries,
    requeueFailed: async () => {
      runner.calls++;
      if (thenNone && runner.calls > 1) return { count: 0, lastSeq: null };
      inRequeue();
      await held;
      return { count: 500, lastSeq: 500 };
    },
  };
  runner.recovery = createRecoveryService({ store: { ...store, deliveries } as Store, clock, newId, config: configSchema.parse({}), workerId: 'w1' });
  return runner;
}

describe('recover jobs', () => {
  it('stopping hands the running job back (queued, no lease) and claims no other job', async () => {
    const { store, clock, now, job } = await setUp();
    await store.jobs.insert(job('job_1', now - 2));
    await store.jobs.insert(job('job_2', now - 1));
    // The first job's requeue is under way when the process is told to stop.
    const runner = stalledRunner(store, clock);
    runner.recovery.start(60_000);
    await runner.entered;
    const stopping = runner.recovery.stop();
    runner.finish();
    await stopping;
    const first = (await store.jobs.get('job_1'))!;
    assert.deepEqual([first.done, first.progress], [500, { afterSeq: 500 }], 'its progress kept');
    assert.equal(first.status, 'queued', 'handed back for another process to take now');
    assert.equal(first.lockedBy, null);
    assert.equal(first.lockedUntil, null);
    const second = (await store.jobs.get('job_2'))!;
    assert.equal(second.status, 'queued', 'not taken on the way out');
    assert.equal(second.lockedBy, null);
    // Another process takes the first one at once, not after the 60 s lease.
    assert.equal((await store.jobs.claim('w2', clock.now(), clock.now() + 60_000))?.id, 'job_1');
    await store.close();
  });
});

describe('recover jobs whose lease ran out', () => {
  it('a process that lost its job\'s lease to another writes nothing more to it and stops working it', async () => {
    const { store, clock, now, job } = await setUp();
    await store.jobs.insert(job('job_1', now, 1000));
    // w1's first batch stalls past its lease; meanwhile w2 takes the job over.
    const runner = stalledRunner(store, clock, true);
    runner.recovery.start(60_000);
    await runner.entered;
    clock.advance(61_000);
    const taken = await store.jobs.claim('w2', clock.now(), clock.now() + 60_000);
    assert.equal(taken?.id, 'job_1');
    runner.finish();
    await runner.recovery.stop();
    assert.equal(runner.calls, 1, 'w1 requeued no further batch of a job that is no longer its own');
    const after = (await store.jobs.get('job_1'))!;
    assert.equal(after.status, 'running', 'still w2\'s to finish');
    assert.equal(after.lockedBy, 'w2');
    assert.equal(after.lockedUntil, taken!.lockedUntil, 'w2\'s lease untouched');
    assert.deepEqual([after.done, after.progress], [0, { afterSeq: 0 }], 'only w2 writes its progress');
    await store.close();
  });
});
