// The conformance suite on the PostgreSQL backend, each test in a throw-away schema (skipped with its
// reason when PostgreSQL is not reachable, a failure when BOTGATE_TEST_REQUIRE_PG=1), then what only a
// shared database can show: two stores standing for two gateway processes racing on one schema. The backend's
// connections are tested in postgres-connections.test.ts.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readMigrations } from '../../src/store/migrations.ts';
import { createPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { ItemFailed } from '../../src/group-commit.ts';
import type { Received, Store } from '../../src/store/store.ts';
import { endpointRecord, newId, newMessage, routeAll } from '../helpers/fixtures.ts';
import { freshSchema, postgresAvailability } from '../helpers/postgres.ts';
import { runStoreConformance } from './conformance.case.ts';
import { runNotifyConformance } from './notify.case.ts';

const availability = await postgresAvailability();
const skip = 'skip' in availability ? availability.skip : false;
const url = 'url' in availability ? availability.url : '';
const open = (schema: string) => createPostgresStore({ connectionString: url, schema, poolSize: 4, newId });

/** A migrated store on a fresh schema, dropped when the store closes. */
const openFresh = async (): Promise<Store> => {
  const { schema, drop } = await freshSchema(url);
  const store = open(schema);
  await store.migrate();
  return {
    ...store,
    async close() {
      await store.close();
      await drop();
    },
  };
};

runStoreConformance('postgres', openFresh, { skip });
runNotifyConformance('postgres', openFresh, { skip });

describe('postgres: two processes on one schema', { skip }, () => {
  const T0 = 1_700_000_000_000;
  let schema: string;
  let drop: () => Promise<void>;
  let one: Store;
  let two: Store;
  beforeEach(async () => {
    ({ schema, drop } = await freshSchema(url));
    await drop(); // migrate() must create it
    one = open(schema);
    two = open(schema);
  });
  afterEach(async () => {
    await Promise.all([one.close(), two.close()]);
    await drop();
  });

  it('migrates once when both start together', async () => {
    const [a, b] = await Promise.all([one.migrate(), two.migrate()]);
    const all = readMigrations(join(import.meta.dirname, '../../src/store/postgres/migrations')).map((m) => m.name);
    assert.deepEqual([...a, ...b].sort(), all);
    assert.deepEqual(await two.migrate(), []);
  });

  it('adds the weights of a batch read before the other rebased on the new shift: its commit waits for the rebase, then moves them', { timeout: 20_000 }, async () => {
    const pg = await import('pg');
    const { pair } = await import('../../src/store/notify-records.ts');
    await one.migrate();
    const writes = { newUsers: [], keys: [], decisions: [], notifications: [], typeStats: [], messages: [] };
    await one.notify.commit({ ...writes, engagement: [{ userId: 'usr_1', eventType: 'promo', shownW: 2 ** 700, clickedW: 0 }] }, routeAll, T0);
    const read = await two.notify.loadState({ userIds: ['usr_1'], keys: [], types: [], now: T0, sendsSince: T0 });
    assert.equal(read.shift, 0);
    // A third connection holds the user's row: one's rebase takes the shift, then waits for the row.
    const client = () => new pg.default.Client({ connectionString: url, options: `-c search_path=${schema}` });
    const [holder, watcher] = [client(), client()];
    await Promise.all([holder.connect(), watcher.connect()]);
    const blockedBy = async (pid: number): Promise<number> => {
      for (let i = 0; i < 1000; i++) {
        const { rows } = await watcher.query('SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [pid]);
        if (rows.length) return Number(rows[0].pid);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`nothing waits for ${pid}`);
    };
    try {
      await holder.query('BEGIN');
      await holder.query("SELECT 1 FROM notify_engagement WHERE user_id = 'usr_1' FOR UPDATE");
      const rebased = one.notify.rebase({ shift: 0, halfLifeMs: null }, { shift: 600, halfLifeMs: null }, T0);
      const rebasing = await blockedBy(Number((await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid));
      // Two commits what it decided on the shift it read, while the rebase is under way: it waits for it.
      const committed = two.notify.commit({ ...writes, shift: read.shift, engagement: [{ userId: 'usr_1', eventType: 'promo', shownW: 2 ** 650, clickedW: 0 }] }, routeAll, T0);
      await blockedBy(rebasing);
      await holder.query('ROLLBACK');
      assert.deepEqual(await rebased, { shift: 600, halfLifeMs: null });
      await committed;
    } finally {
      await Promise.all([holder.end(), watcher.end()]);
    }
    const after = await one.notify.loadState({ userIds: ['usr_1'], keys: [], types: [], now: T0, sendsSince: T0 });
    assert.equal(after.shift, 600);
    assert.deepEqual(after.engagement.get(pair('usr_1', 'promo')), { shownW: 2 ** 100 + 2 ** 50, clickedW: 0 });
  });

  it('rebases to a new half-life once when both start with it at once: the other finds it done', async () => {
    const { pair, rescaled, scaleDistance } = await import('../../src/store/notify-records.ts');
    await one.migrate();
    const at = Date.UTC(2026, 5, 1);
    const daily = { shift: 0, halfLifeMs: 24 * 3_600_000 };
    const weekly = { shift: 3, halfLifeMs: 7 * 24 * 3_600_000 };
    await one.notify.rebase({ shift: 0, halfLifeMs: null }, daily, at);
    const writes = { newUsers: [], keys: [], decisions: [], notifications: [], typeStats: [], messages: [] };
    await one.notify.commit({ ...writes, engagement: [{ userId: 'usr_1', eventType: 'promo', shownW: 2 ** 150, clickedW: 2 ** 149 }] }, routeAll, at);
    const [a, b] = await Promise.all([one.notify.rebase(daily, weekly, at), two.notify.rebase(daily, weekly, at)]);
    assert.deepEqual([a, b], [weekly, weekly]);
    const d = scaleDistance(daily, weekly, at);
    const after = await two.notify.loadState({ userIds: ['usr_1'], keys: [], types: [], now: at, sendsSince: at });
    assert.deepEqual(after.engagement.get(pair('usr_1', 'promo')), { shownW: rescaled(2 ** 150, d), clickedW: rescaled(2 ** 149, d) }, 'moved once');
  });

  it('stores a new idempotency key once when both publish it at once', async () => {
    await one.migrate();
    await one.endpoints.insert(endpointRecord());
    const options = { now: T0, idempotencyTtlMs: 60_000 };
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? one : two).messages.publish([newMessage({ idempotencyKey: 'same' }), newMessage()], routeAll, options)),
    );
    const keyed = results.map(([first]) => first);
    assert.equal(keyed.filter((r) => !r.duplicate).length, 1);
    assert.equal(new Set(keyed.map((r) => r.message.id)).size, 1);
    assert.equal(new Set(keyed.map((r) => r.deliveryIds.join())).size, 1);
    assert.equal((await one.messages.list({}, { limit: 100 })).length, 7);
  });

  it('tells exactly one of two callers that it flipped an endpoint', async () => {
    await one.migrate();
    const e = endpointRecord();
    await one.endpoints.insert(e);
    const flips = await Promise.all([one, two, one, two].map((s) => s.endpoints.setActive(e.id, false, 'x', T0)));
    assert.equal(flips.filter((f) => f.changed).length, 1);
  });

  it('never hands one delivery to both, and together they take all that is due', async () => {
    await one.migrate();
    await one.endpoints.insert(endpointRecord());
    await one.messages.publish(Array.from({ length: 300 }, () => newMessage()), routeAll, { now: T0, idempotencyTtlMs: 1 });
    const claim = (store: Store, workerId: string) =>
      store.deliveries.claim({ workerId, now: T0, leaseGraceMs: 1000, limit: 50, excludeEndpointIds: [], endpointCaps: {}, defaultEndpointCap: 50 });
    const rounds = await Promise.all([one, two, one, two, one, two, one, two].map((s, i) => claim(s, `w${i}`)));
    const ids = rounds.flat().map((d) => d.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(ids.length, 300);
  });
});

describe('postgres: turns of a batch while another process holds a conversation', { skip }, () => {
  it('stores and runs the batch\'s other conversations at once, and the held one\'s after, in order', async () => {
    const pg = await import('pg');
    const { schema, drop } = await freshSchema(url);
    const store = open(schema);
    await store.migrate();
    const T0 = 1_700_000_000_000;
    const input = (userKey: string, text: string, at: number) => ({
      conversationId: newId('msg').replace('msg_', 'conv_'), botId: 'demo', channelId: 'ch_1', userKey, identities: [],
      newUserId: newId('msg').replace('msg_', 'usr_'), now: at,
      message: newMessage({ eventType: 'message.received', payload: JSON.stringify({ text }), createdAt: at, endpointIds: [] }),
    });
    const run = (conversation: { state: string | null }, m: { payload: string | null }) => ({
      state: `${conversation.state ?? ''}+${JSON.parse(m.payload!).text}`, memory: {}, lastPrompt: [], messages: [],
    });
    const other = new pg.default.Client({ connectionString: url });
    try {
      const stored = async (inputs: ReturnType<typeof input>[], now: number) => {
        const all = await store.conversations.receiveAll(inputs, run, routeAll, now);
        assert.ok(all.every((r) => !(r instanceof ItemFailed)));
        return all as Received[];
      };
      const [held] = await stored([input('a-held', 'one', T0)], T0);
      await stored([input('z-free', 'one', T0)], T0);
      // Another process is in a turn of a-held: its row is locked.
      await other.connect();
      await other.query('BEGIN');
      await other.query(`SELECT 1 FROM ${schema}.conversations WHERE id = $1 FOR UPDATE`, [held.conversation.id]);
      const batch = store.conversations.receiveAll([input('a-held', 'two', T0 + 1), input('a-held', 'three', T0 + 2), input('z-free', 'two', T0 + 3)], run, routeAll, T0 + 3);
      // z-free's turn is stored while a-held is still locked: the batch did not wait for it.
      let free = null;
      for (let i = 0; i < 100 && (free?.state ?? '') !== '+one+two'; i++) {
        free = (await store.conversations.list({}, { limit: 10 })).find((c) => c.userKey === 'z-free');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(free?.state, '+one+two', 'the free conversation went ahead');
      await other.query('COMMIT');
      const results = await batch;
      assert.ok(results.every((r) => !(r instanceof ItemFailed) && r.turn !== null));
      assert.equal((await store.conversations.get(held.conversation.id))?.state, '+one+two+three', 'the held one\'s messages in order');

      // A held conversation's message the store then refuses (here: an id already taken) fails alone, with the
      // later messages of its conversation; the batch's others are stored.
      await other.query('BEGIN');
      await other.query(`SELECT 1 FROM ${schema}.conversations WHERE id = $1 FOR UPDATE`, [held.conversation.id]);
      const taken = input('a-held', 'four', T0 + 4);
      taken.message = { ...taken.message, id: held.message.id };
      const second = store.conversations.receiveAll([taken, input('a-held', 'five', T0 + 5), input('z-free', 'three', T0 + 6)], run, routeAll, T0 + 6);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await other.query('COMMIT');
      const [refused, after, freeAgain] = await second;
      assert.ok(refused instanceof ItemFailed && after instanceof ItemFailed, 'the refused one and the one behind it fail');
      assert.ok(!(freeAgain instanceof ItemFailed) && freeAgain.turn !== null);
      assert.equal((await store.conversations.get(held.conversation.id))?.state, '+one+two+three', 'nothing of the refused conversation changed');
    } finally {
      await other.end().catch(() => {});
      await store.close();
      await drop();
    }
  });
});

describe('postgres: a new conversation\'s first messages reaching three processes at once', { skip }, () => {
  it('stores the message when PostgreSQL breaks a deadlock by aborting its transaction (the user\'s identity and the conversation row locked in opposite orders)', { timeout: 20_000 }, async () => {
    const pg = await import('pg');
    const { schema, drop } = await freshSchema(url);
    const store = open(schema);
    await store.migrate();
    const T0 = 1_700_000_000_000;
    const identity = { kind: 'platform', value: 'fc:deadlock-user' };
    const input = {
      conversationId: newId('conv'), botId: 'demo', channelId: 'ch_1', userKey: 'deadlock-user', identities: [identity], newUserId: newId('usr'), now: T0,
      message: newMessage({ eventType: 'message.received', payload: JSON.stringify({ text: 'hi' }), createdAt: T0, endpointIds: [] }),
    };
    const run = () => ({ state: 'greeted', memory: {}, lastPrompt: [], messages: [] });
    // `first` stands for the process that sees the person first, `other` for one that stores the conversation's row
    // and then links the identity (a turn of a conversation it holds), as a real third process may.
    const first = new pg.default.Client({ connectionString: url, options: `-c search_path=${schema}` });
    const other = new pg.default.Client({ connectionString: url, options: `-c search_path=${schema}` });
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      await Promise.all([first.connect(), other.connect()]);
      await first.query('BEGIN');
      await first.query(`INSERT INTO users (id, created_at, updated_at) VALUES ('usr_first', $1, $1)`, [T0]);
      await first.query(`INSERT INTO identities (kind, value, user_id, created_at) VALUES ($1, $2, 'usr_first', $3)`, [identity.kind, identity.value, T0]);
      const stored = store.conversations.receiveAll([input], run, routeAll, T0).then((r) => r, (error: unknown) => error);
      await pause(300); // the store waits for the first process's identity
      await other.query('BEGIN');
      await other.query(
        `INSERT INTO conversations (id, bot_id, channel_id, user_key, user_id, created_at, updated_at, last_message_at) VALUES ('conv_other', 'demo', 'ch_1', $1, 'usr_first', $2, $2, $2)`,
        [input.userKey, T0],
      );
      await first.query('COMMIT');
      await pause(300); // the store took the identity and now waits for the other process's conversation row
      const linked = other.query(`INSERT INTO identities (kind, value, user_id, created_at) VALUES ($1, $2, 'usr_first', $3) ON CONFLICT (kind, value) DO NOTHING`, [identity.kind, identity.value, T0]);
      await linked;
      await other.query('COMMIT');
      const result = await stored;
      assert.ok(Array.isArray(result), `stored, not refused: ${(result as Error).message}`);
      const [received] = result as (Received | ItemFailed)[];
      assert.ok(!(received instanceof ItemFailed), `stored, not refused: ${(received as ItemFailed).error}`);
      assert.equal(received.conversation.id, 'conv_other');
      assert.equal(received.conversation.userId, 'usr_first');
      assert.equal(received.turn?.conversation.state, 'greeted');
    } finally {
      await first.end().catch(() => {});
      await other.end().catch(() => {});
      await store.close();
      await drop();
    }
  });
});

describe('postgres: two processes deciding one event at once', { skip }, () => {
  it('notifies once: the second commit finds the dedup key taken, decides again and skips it as a duplicate', async () => {
    const { createNotifyEngine } = await import('../../src/notify/engine.ts');
    const { recordOnlyRouter } = await import('../../src/notify/router.ts');
    const { notifySettings } = await import('../../src/notify/settings.ts');
    const { createManualClock, createSeededRandom } = await import('../../src/clock.ts');
    const { schema, drop } = await freshSchema(url);
    const stores = [open(schema), open(schema)];
    try {
      await stores[0].migrate();
      const clock = createManualClock(Date.UTC(2026, 2, 2, 12));
      // The second process reads its state before the first commits, and commits after it: the race, every time.
      let secondRead!: () => void;
      const read = new Promise<void>((resolve) => (secondRead = resolve));
      let firstCommitted!: () => void;
      const committed = new Promise<void>((resolve) => (firstCommitted = resolve));
      const engines = stores.map((store, i) => {
        const gated: Store = {
          ...store,
          notify: {
            ...store.notify,
            loadState: async (query) => {
              const state = await store.notify.loadState(query);
              if (i === 1) secondRead();
              return state;
            },
            commit: async (...args) => {
              if (i === 1) await committed;
              else await read;
              try {
                return await store.notify.commit(...args);
              } finally {
                if (i === 0) firstCommitted();
              }
            },
          },
        };
        return createNotifyEngine({ store: gated, clock, random: createSeededRandom(i), newId, router: recordOnlyRouter, settings: notifySettings({ exploration: 'mean' }), workerId: `gw-${i}` });
      });
      const event = { userId: 'usr_race', eventType: 'payment_failed', params: { amount: 12 }, idempotencyKey: 'pay-1' };
      const [a, b] = await Promise.all(engines.map((engine) => engine.decide([event])));
      assert.deepEqual([a[0].decision, a[0].reason], ['notify', 'critical']);
      assert.deepEqual([b[0].decision, b[0].reason, b[0].duplicateOf], ['skip', 'dedup', a[0].id]);
      const stored = await stores[0].notify.decisions({ userId: 'usr_race' }, { limit: 10 });
      assert.deepEqual(stored.map((d) => d.decision).sort(), ['notify', 'skip']);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await drop();
    }
  });
});
