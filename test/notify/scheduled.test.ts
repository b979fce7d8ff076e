// Scheduled notification work through the real gateway: a scheduled event survives a restart, and feed runs run
// once (leased, taken over after a stop, a failing one kept to itself and given up when the next run is due).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEMO_BOT_FILE } from '../../src/provision.ts';
import { createManualClock } from '../../src/clock.ts';
import { eventually, startTestGateway } from '../helpers/gateway.ts';
import { startReceiver } from '../helpers/receiver.ts';

const PRODUCER_KEY = 'test-producer-key-0123456789';

describe('scheduled work survives a restart and runs once', () => {
  it('sends a scheduled event after the gateway restarts', async () => {
    const receiver = await startReceiver((_q, res) => void res.writeHead(200).end());
    const env = { BOTGATE_PORT: '0', BOTGATE_NOTIFY__PRODUCER_KEY: PRODUCER_KEY, BOTGATE_NOTIFY__TICK_SECONDS: '0.1' };
    let gw = await startTestGateway(env, { start: false });
    const dataDir = gw.config.data_dir;
    await gw.bots.load(DEMO_BOT_FILE);
    await gw.start();
    const endpoint = await gw.api('POST', '/api/endpoints', { name: 'pager', url: receiver.url });
    await gw.store.notify.putOverride('reminder', { critical: true, endpointId: endpoint.body.id, templates: [{ id: 'a', text: 'Reminder: {{params.what}}' }] }, gw.clock.now());
    await gw.notify.engine.reloadOverrides();
    const deliverAt = new Date(Date.now() + 1500).toISOString();
    const r = await gw.app.inject({ method: 'POST', url: '/api/events', headers: { authorization: `Bearer ${PRODUCER_KEY}` }, payload: { user_id: 'sched-1', event_type: 'reminder', params: { what: 'dentist' }, deliver_at: deliverAt } });
    assert.deepEqual([r.json().decision, r.json().reason], ['defer', 'scheduled']);
    await gw.close();
    assert.equal(receiver.requests.length, 0);
    gw = await startTestGateway({ ...env, BOTGATE_DATA_DIR: dataDir });
    try {
      await eventually(() => receiver.requests.length > 0, 10_000);
      const body = JSON.parse(receiver.requests[0].body);
      assert.equal(body.text, 'Reminder: dentist');
      assert.equal(body.user_id, 'sched-1');
      assert.ok(Date.now() >= Date.parse(deliverAt));
    } finally {
      await gw.close();
      await receiver.close();
    }
  });

  it('takes over a feed run whose process stopped in the middle, once its lease ran out: each user decided once', async () => {
    const clock = createManualClock(Date.UTC(2026, 2, 2, 8, 59, 30));
    const gw = await startTestGateway({ BOTGATE_NOTIFY__TICK_SECONDS: '3600' }, { clock, start: false });
    try {
      const feed = await gw.notify.createFeed({ name: 'daily', cron: '0 9 * * *', tz: 'UTC', event_type: 'digest_daily', user_ids: ['g1', 'g2', 'g3'] });
      const runAt = Date.UTC(2026, 2, 2, 9);
      clock.set(runAt + 1000);
      // Another process claimed the run and decided g1, then died.
      assert.equal(await gw.store.notify.feeds.advance(feed.id, runAt, Date.UTC(2026, 2, 3, 9), clock.now(), clock.now() + 60_000, 'gw-gone'), true);
      await gw.notify.engine.decide([{ userId: 'g1', eventType: 'digest_daily', params: { feed: 'daily' }, occurredAt: runAt, idempotencyKey: `feed:${feed.id}:${runAt}:g1` }]);
      assert.equal(await gw.notify.runFeeds(), 0, 'its lease still holds');
      clock.set(runAt + 1000 + 60_001);
      assert.equal(await gw.notify.runFeeds(), 1);
      assert.equal(await gw.notify.runFeeds(), 0, 'done: not run again');
      const decisions = await gw.store.notify.decisions({ eventType: 'digest_daily' }, { limit: 10 });
      const fresh = decisions.filter((d) => d.reason !== 'dedup');
      assert.deepEqual(fresh.map((d) => d.userId).sort(), ['g1', 'g2', 'g3']);
      assert.deepEqual(decisions.filter((d) => d.reason === 'dedup').map((d) => d.userId), ['g1']);
      assert.deepEqual(await gw.store.notify.feeds.stalled(clock.now() + 3_600_000, gw.workerId), []);
    } finally {
      await gw.close();
    }
  });

  it('runs a feed run left under way by a stopped process at the first tick after the restart, not once its lease ran out (SQLite)', async () => {
    const clock = createManualClock(Date.UTC(2026, 2, 2, 8, 59, 30));
    const gw = await startTestGateway({ BOTGATE_NOTIFY__TICK_SECONDS: '3600' }, { clock, start: false });
    try {
      const feed = await gw.notify.createFeed({ name: 'daily', cron: '0 9 * * *', tz: 'UTC', event_type: 'digest_daily', user_ids: ['r1', 'r2'] });
      const runAt = Date.UTC(2026, 2, 2, 9);
      clock.set(runAt + 1000);
      // The process before this one started the run, leased for a minute, and was killed.
      assert.equal(await gw.store.notify.feeds.advance(feed.id, runAt, Date.UTC(2026, 2, 3, 9), clock.now(), clock.now() + 60_000, 'gw-gone'), true);
      await gw.start(); // its first tick comes at once; the clock stands still, well inside the lease
      const users = async () => (await gw.store.notify.decisions({ eventType: 'digest_daily' }, { limit: 10 })).map((d) => d.userId).sort();
      await eventually(async () => (await users()).length === 2 || null);
      assert.deepEqual(await users(), ['r1', 'r2']);
      assert.deepEqual(await gw.store.notify.feeds.stalled(clock.now() + 3_600_000, gw.workerId), [], 'done');
    } finally {
      await gw.close();
    }
  });

  it('leases each feed run from when it starts, not from the tick: a long earlier run does not leave a later one stalled', async () => {
    const clock = createManualClock(Date.UTC(2026, 2, 2, 8, 58, 30));
    const gw = await startTestGateway({ BOTGATE_NOTIFY__TICK_SECONDS: '3600' }, { clock, start: false });
    try {
      await gw.notify.createFeed({ name: 'first', cron: '59 8 * * *', tz: 'UTC', event_type: 'digest_daily', user_ids: ['h1'] });
      await gw.notify.createFeed({ name: 'second', cron: '0 9 * * *', tz: 'UTC', event_type: 'digest_daily', user_ids: ['h2'] });
      clock.set(Date.UTC(2026, 2, 2, 9, 0, 1));
      const decide = gw.notify.engine.decide;
      const stalledDuringSecond: string[][] = [];
      gw.notify.engine.decide = async (events) => {
        if (events[0]?.params.feed === 'first') clock.advance(90_000); // the first run takes 90 s
        if (events[0]?.params.feed === 'second') stalledDuringSecond.push((await gw.store.notify.feeds.stalled(clock.now(), gw.workerId)).map((r) => r.feed.name));
        return decide(events);
      };
      assert.equal(await gw.notify.runFeeds(), 2);
      assert.deepEqual(stalledDuringSecond, [[]], 'the second run\'s lease was fresh while it ran');
    } finally {
      await gw.close();
    }
  });

  it('keeps a failing feed run to itself: the other feeds run, and it is tried again once its lease runs out', async () => {
    const clock = createManualClock(Date.UTC(2026, 2, 2, 8, 59, 30));
    const gw = await startTestGateway({ BOTGATE_NOTIFY__TICK_SECONDS: '3600' }, { clock, start: false });
    try {
      await gw.notify.createFeed({ name: 'broken', cron: '0 9 * * *', tz: 'UTC', event_type: 'digest_daily', user_ids: ['b1'] });
      await gw.notify.createFeed({ name: 'fine', cron: '0 9 * * *', tz: 'UTC', event_type: 'digest_daily', user_ids: ['k1'] });
      clock.set(Date.UTC(2026, 2, 2, 9, 0, 1));
      const decide = gw.notify.engine.decide;
      let failing = true;
      gw.notify.engine.decide = async (events) => {
        if (failing && events[0]?.params.feed === 'broken') throw new Error('the store refused the write');
        return decide(events);
      };
      assert.equal(await gw.notify.runFeeds(), 1, 'the fine feed ran');
      const users = async () => (await gw.store.notify.decisions({ eventType: 'digest_daily' }, { limit: 10 })).map((d) => d.userId).sort();
      assert.deepEqual(await users(), ['k1']);
      assert.equal(await gw.notify.runFeeds(), 0, 'the failed run waits for its lease');
      failing = false;
      clock.advance(60_001);
      assert.equal(await gw.notify.runFeeds(), 1, 'tried again');
      assert.deepEqual(await users(), ['b1', 'k1']);
      assert.equal(await gw.notify.runFeeds(), 0);
    } finally {
      await gw.close();
    }
  });

  it('gives a run that keeps failing up once the feed\'s next run is due, and runs that one', async () => {
    const clock = createManualClock(Date.UTC(2026, 2, 2, 8, 59, 30));
    const gw = await startTestGateway({ BOTGATE_NOTIFY__TICK_SECONDS: '3600' }, { clock, start: false });
    try {
      const feed = await gw.notify.createFeed({ name: 'daily', cron: '0 9 * * *', tz: 'UTC', event_type: 'digest_daily', user_ids: ['d1'] });
      const firstRun = Date.UTC(2026, 2, 2, 9);
      const decide = gw.notify.engine.decide;
      gw.notify.engine.decide = async (events) => {
        if (events[0]?.occurredAt === firstRun) throw new Error('this run always fails');
        return decide(events);
      };
      clock.set(firstRun + 1000);
      assert.equal(await gw.notify.runFeeds(), 0);
      clock.advance(3_600_000); // retried, failing again
      assert.equal(await gw.notify.runFeeds(), 0);
      clock.set(Date.UTC(2026, 2, 3, 9, 0, 1));
      assert.equal(await gw.notify.runFeeds(), 1, 'the next run fired');
      const decisions = await gw.store.notify.decisions({ eventType: 'digest_daily' }, { limit: 10 });
      assert.deepEqual(decisions.map((d) => d.decidedAt), [Date.UTC(2026, 2, 3, 9)]);
      assert.deepEqual(await gw.store.notify.feeds.stalled(clock.now() + 3_600_000, gw.workerId), []);
      assert.equal((await gw.store.notify.feeds.get(feed.id))?.nextRunAt, Date.UTC(2026, 2, 4, 9));
    } finally {
      await gw.close();
    }
  });

  it('runs a due feed once when two schedulers race, and moves it to its next run', async () => {
    const clock = createManualClock(Date.UTC(2026, 2, 2, 8, 59, 30));
    const gw = await startTestGateway({ BOTGATE_NOTIFY__TICK_SECONDS: '3600' }, { clock, start: false });
    try {
      const feed = await gw.notify.createFeed({ name: 'daily', cron: '0 9 * * *', tz: 'UTC', event_type: 'digest_daily', user_ids: ['f1', 'f2'] });
      assert.equal(feed.nextRunAt, Date.UTC(2026, 2, 2, 9));
      clock.set(Date.UTC(2026, 2, 2, 9, 0, 1));
      const fired = await Promise.all([gw.notify.runFeeds(), gw.notify.runFeeds()]);
      assert.equal(fired[0] + fired[1], 1);
      const decisions = await gw.store.notify.decisions({ eventType: 'digest_daily' }, { limit: 10 });
      assert.equal(decisions.length, 2);
      assert.equal((await gw.store.notify.feeds.get(feed.id))?.nextRunAt, Date.UTC(2026, 2, 3, 9));
      assert.equal(await gw.notify.runFeeds(), 0);
    } finally {
      await gw.close();
    }
  });
});
