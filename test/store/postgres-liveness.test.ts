// PostgreSQL: a gateway process proves it is alive with a lock PostgreSQL frees when its connection closes. Stores on
// one schema stand for processes: the leases of one that is gone are taken back at once, whatever their lease; those
// of one still there are left alone; a process whose lock connection dropped claims nothing until it holds it again.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import type { FeedRecord, NotificationRecord } from '../../src/store/notify-records.ts';
import type { ClaimRequest, JobRecord, Store } from '../../src/store/store.ts';
import { endpointRecord, newId, newMessage, routeAll } from '../helpers/fixtures.ts';
import { eventually } from '../helpers/gateway.ts';
import { freshSchema, postgresAvailability } from '../helpers/postgres.ts';

const availability = await postgresAvailability();
const skip = 'skip' in availability ? availability.skip : false;
const url = 'url' in availability ? availability.url : '';
const T0 = 1_700_000_000_000;

describe('postgres: leases of gateway processes that died', { skip }, () => {
  let schema: string;
  let drop: () => Promise<void>;
  const stores: Store[] = [];
  /** A gateway process on the schema (its store). */
  const gateway = (): Store => {
    const store = createPostgresStore({ connectionString: url, schema, poolSize: 2, newId });
    let closed: Promise<void> | undefined;
    const once = { ...store, close: () => (closed ??= store.close()) };
    stores.push(once);
    return once;
  };
  const claim = (store: Store, workerId: string, over: Partial<ClaimRequest> = {}) =>
    store.deliveries.claim({ workerId, now: T0, leaseGraceMs: 30_000, limit: 10, excludeEndpointIds: [], endpointCaps: {}, defaultEndpointCap: 10, ...over });
  /** An endpoint with a minute's timeout and `n` deliveries due to it. */
  const deliveriesDue = async (store: Store, n: number) => {
    await store.endpoints.insert(endpointRecord({ timeoutSeconds: 60 }));
    await store.messages.publish(Array.from({ length: n }, () => newMessage()), routeAll, { now: T0, idempotencyTtlMs: 60_000 });
  };
  const statuses = async (store: Store) => (await store.deliveries.list({}, { limit: 100 })).map((d) => d.status);
  const job = (): JobRecord => ({
    id: newId('job'), kind: 'recover', params: {}, progress: {}, status: 'queued', total: 0, done: 0, error: null,
    lockedBy: null, lockedUntil: null, createdAt: T0, updatedAt: T0,
  });
  /** A notification due at T0 (held for quiet hours, say), stored. */
  const notificationDue = async (store: Store): Promise<NotificationRecord> => {
    const n: NotificationRecord = {
      id: newId('ntf'), userId: 'usr_1', eventType: 'promo', status: 'pending', reason: 'quiet_hours', critical: false, variant: null, text: 'Hello',
      params: {}, eventKey: newId('ntf'), occurredAt: T0 - 1000, dueAt: T0, expiresAt: T0 + 86_400_000, sentAt: null, clickedAt: null,
      destination: null, messageId: null, createdAt: T0 - 1000, updatedAt: T0 - 1000,
    };
    await store.notify.commit({ newUsers: [], keys: [], decisions: [], notifications: [n], engagement: [], typeStats: [], messages: [] }, routeAll, T0);
    return n;
  };
  /** A feed whose run at T0 is due, stored. */
  const feedDue = async (store: Store): Promise<FeedRecord> => {
    const f: FeedRecord = {
      id: newId('feed'), name: 'daily', cron: '0 9 * * *', tz: 'UTC', eventType: 'promo', userIds: ['usr_1'], params: {}, isActive: true,
      nextRunAt: T0, lastRunAt: null, createdAt: T0 - 1000, updatedAt: T0 - 1000,
    };
    await store.notify.feeds.insert(f);
    return f;
  };
  /** Runs `sql` on a connection of the test's own. */
  const query = async (sql: string, params: unknown[] = []) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows;
    } finally {
      await client.end();
    }
  };
  const lockName = (workerId: string) => `botgate:${schema}:worker:${workerId}`;

  beforeEach(async () => {
    ({ schema, drop } = await freshSchema(url));
    await gateway().migrate();
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await drop();
  });

  it('takes back at once the deliveries of a process that is gone, never those of one still there', async () => {
    const [a, b] = [gateway(), gateway()];
    await deliveriesDue(a, 3);
    assert.equal((await claim(a, 'gw-a')).length, 3);
    // A second of a lease of 90 s: b reaps nothing while a is there, neither at its start nor later.
    assert.equal(await b.deliveries.reapExpiredLeases(T0 + 1000, 'gw-b'), 0);
    assert.equal(await b.deliveries.reapExpiredLeases(T0 + 2000, 'gw-b'), 0);
    assert.deepEqual(await statuses(b), ['sending', 'sending', 'sending']);

    await a.close(); // its connections close, as the kernel closes a killed process's
    assert.equal(await b.deliveries.reapExpiredLeases(T0 + 3000), 0, 'without a reaper of its own: only expired leases');
    assert.equal(await b.deliveries.reapExpiredLeases(T0 + 3000, 'gw-b'), 3);
    assert.equal((await claim(b, 'gw-b', { now: T0 + 3000 })).length, 3);
    // Its leases are b's now: a later reap leaves them, and the dead worker holding nothing is forgotten.
    assert.equal(await b.deliveries.reapExpiredLeases(T0 + 4000, 'gw-b'), 0);
    assert.deepEqual((await query(`SELECT id FROM ${schema}.workers ORDER BY id`)).map((r) => r.id), ['gw-b']);
  });

  it('hands a recover job of a process that is gone to another at once, never one of a process still there', async () => {
    const [a, b] = [gateway(), gateway()];
    const queued = job();
    await a.jobs.insert(queued);
    assert.equal((await a.jobs.claim('gw-a', T0, T0 + 60_000))?.id, queued.id);
    assert.equal(await b.jobs.claim('gw-b', T0 + 1000, T0 + 61_000), null, 'its lease runs and its holder is there');
    await a.close();
    const taken = await b.jobs.claim('gw-b', T0 + 2000, T0 + 62_000);
    assert.equal(taken?.id, queued.id);
    assert.equal(taken?.lockedBy, 'gw-b');
  });

  it('takes over at once the due notifications a process that is gone had leased, never those of one still there', async () => {
    const [a, b] = [gateway(), gateway()];
    const n = await notificationDue(a);
    assert.deepEqual((await a.notify.claimDue(T0, T0 + 60_000, 10, 'gw-a')).map((x) => x.id), [n.id]);
    assert.deepEqual(await b.notify.claimDue(T0 + 1000, T0 + 61_000, 10, 'gw-b'), [], 'its lease runs and its holder is there');
    await a.close(); // killed: its lock is free
    assert.deepEqual((await b.notify.claimDue(T0 + 2000, T0 + 62_000, 10, 'gw-b')).map((x) => x.id), [n.id], 'a minute before its lease ends');
    assert.deepEqual(await b.notify.claimDue(T0 + 3000, T0 + 63_000, 10, 'gw-b'), [], 'b\'s lease now, b is there');
    // Sent: the lease is gone, and the dead worker holding nothing any more is forgotten.
    await b.notify.commit({ newUsers: [], keys: [], decisions: [], notifications: [{ ...n, status: 'sent', reason: null, dueAt: null, sentAt: T0 + 3000 }], engagement: [], typeStats: [], messages: [] }, routeAll, T0 + 3000);
    await b.deliveries.reapExpiredLeases(T0 + 4000, 'gw-b');
    assert.deepEqual((await query(`SELECT id FROM ${schema}.workers ORDER BY id`)).map((r) => r.id), ['gw-b']);
  });

  it('takes over at once the feed run of a process that is gone, never one of a process still there', async () => {
    const [a, b] = [gateway(), gateway()];
    const f = await feedDue(a);
    assert.equal(await a.notify.feeds.advance(f.id, T0, T0 + 86_400_000, T0, T0 + 60_000, 'gw-a'), true);
    assert.deepEqual(await b.notify.feeds.stalled(T0 + 1000, 'gw-b'), [], 'its lease runs and its holder is there');
    // Dead workers' rows stay while they hold a run (a reap in between forgets only those holding nothing).
    await a.close();
    await b.deliveries.reapExpiredLeases(T0 + 1500, 'gw-b');
    const [stalled, ...more] = await b.notify.feeds.stalled(T0 + 2000, 'gw-b');
    assert.equal(more.length, 0);
    assert.deepEqual([stalled.feed.id, stalled.runAt, stalled.leaseUntil], [f.id, T0, T0 + 60_000], 'a minute before its lease ends');
    assert.equal(await b.notify.feeds.lease(f.id, T0, stalled.leaseUntil, T0 + 62_000, 'gw-b'), true);
    assert.deepEqual(await b.notify.feeds.stalled(T0 + 3000, 'gw-b'), [], 'b\'s run now, b is there');
  });

  it('a process started again with the same instance_id takes its predecessor\'s leases back as it starts', async () => {
    const a = gateway();
    await deliveriesDue(a, 2);
    const queued = job();
    await a.jobs.insert(queued);
    assert.equal((await claim(a, 'gw-0')).length, 2);
    assert.equal((await a.jobs.claim('gw-0', T0, T0 + 60_000))?.id, queued.id);
    await a.close();
    const again = gateway();
    assert.equal((await claim(again, 'gw-0', { now: T0 + 1000 })).length, 2);
    assert.equal((await again.jobs.claim('gw-0', T0 + 1000, T0 + 61_000))?.id, queued.id);
  });

  it('a process started again with the same instance_id takes its predecessor\'s notifications and feed runs back as it starts', async () => {
    const a = gateway();
    const n = await notificationDue(a);
    const f = await feedDue(a);
    assert.equal((await a.notify.claimDue(T0, T0 + 60_000, 10, 'gw-0')).length, 1);
    assert.equal(await a.notify.feeds.advance(f.id, T0, T0 + 86_400_000, T0, T0 + 60_000, 'gw-0'), true);
    await a.close();
    const again = gateway();
    assert.deepEqual((await again.notify.claimDue(T0 + 1000, T0 + 61_000, 10, 'gw-0')).map((x) => x.id), [n.id]);
    assert.deepEqual((await again.notify.feeds.stalled(T0 + 1000, 'gw-0')).map((s) => [s.feed.id, s.runAt]), [[f.id, T0]]);
  });

  it('refuses to claim under a worker id another live process holds', async () => {
    const [a, b] = [gateway(), gateway()];
    await deliveriesDue(a, 1);
    assert.equal((await claim(a, 'gw-0')).length, 1);
    await assert.rejects(claim(b, 'gw-0', { now: T0 + 1000 }), /another process connected to this database holds worker id gw-0/);
    // Said once a second (a claim comes every poll); in between nothing is claimed, without a word.
    assert.equal(await b.jobs.claim('gw-0', T0 + 1000, T0 + 61_000), null);
    assert.deepEqual(await claim(b, 'gw-0', { now: T0 + 1000 }), []);
    assert.deepEqual(await statuses(a), ['sending'], 'a\'s lease stays a\'s');
  });

  it('a process whose lock connection dropped claims nothing until it holds its lock again, then judges no one dead at once', async () => {
    const [a, b, c] = [gateway(), gateway(), gateway()];
    await deliveriesDue(a, 2);
    assert.equal((await claim(c, 'gw-c', { limit: 1 })).length, 1);
    await c.close(); // gone: its delivery may be taken back
    assert.equal((await claim(a, 'gw-a', { limit: 0 })).length, 0); // a holds its lock
    // a's lock connection drops (a network cut, the server ending it) and another session takes its key meanwhile.
    await query('SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = \'advisory\' AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)', [lockName('gw-a')]);
    const squatter = new pg.Client({ connectionString: url });
    await squatter.connect();
    try {
      await squatter.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockName('gw-a')]);
      // Once a has seen its connection close, it tries to take its lock again before it claims, and cannot.
      const refused = await eventually(() => claim(a, 'gw-a', { now: T0 + 1000, limit: 0 }).then(() => null, (error: Error) => error));
      assert.match(refused.message, /holds worker id gw-a/);
      await new Promise((resolve) => setTimeout(resolve, 1100)); // a take that failed is tried again a second later
      await assert.rejects(claim(a, 'gw-a', { now: T0 + 2000 }), /holds worker id gw-a/);
    } finally {
      await squatter.end();
    }
    await new Promise((resolve) => setTimeout(resolve, 1100));
    assert.equal((await claim(a, 'gw-a', { now: T0 + 3000, limit: 0 })).length, 0, 'held again');
    // Just taken again (the others may be taking theirs again too, after a database restart): c's lease waits.
    assert.equal(await a.deliveries.reapExpiredLeases(T0 + 3000, 'gw-a'), 0);
    // A process whose lock never dropped judges at once.
    assert.equal(await b.deliveries.reapExpiredLeases(T0 + 3000, 'gw-b'), 1);
  });
});
