// The notification engine's store (store/notify-records.ts), asked of every backend: the state a batch of
// events is decided on, commits, due claims with leases, clicks counted once, analytics, overrides, users'
// export and deletion, feeds run once. Run by sqlite.test.ts and postgres.test.ts like conformance.case.ts;
// the concurrent cases race on one store, which on PostgreSQL means several pooled connections.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { decayed, scaleFor } from '../../src/notify/engagement.ts';
import { KeysTaken, rescaled, scaleDistance, WEIGHT_EPOCH, type DecisionRecord, type FeedRecord, type NotificationRecord, type NotifyWrites } from '../../src/store/notify-records.ts';
import type { ClaimRequest, Store } from '../../src/store/store.ts';
import { endpointRecord, newId, newMessage, routeAll } from '../helpers/fixtures.ts';

const T0 = 1_700_000_000_000;
const DAY = 24 * 3600 * 1000;
/** The worker id the leases are taken under. */
const W = 'gw-1';
const pair = (a: string, b: string) => `${a}\u0000${b}`;
/** A scale with no half-life recorded: only the shift moves. */
const onShift = (shift: number) => ({ shift, halfLifeMs: null });

function notification(over: Partial<NotificationRecord> = {}): NotificationRecord {
  return {
    id: newId('ntf'), userId: 'usr_1', eventType: 'promo', status: 'pending', reason: 'scheduled', critical: false, variant: null, text: 'Hello',
    params: { amount: 3, nested: { a: [1, 2] } }, eventKey: `key-${newId('ntf')}`, occurredAt: T0 - 1000, dueAt: T0, expiresAt: T0 + DAY,
    sentAt: null, clickedAt: null, destination: null, messageId: null, createdAt: T0 - 1000, updatedAt: T0 - 1000, ...over,
  };
}

const sent = (over: Partial<NotificationRecord> = {}) =>
  notification({ status: 'sent', reason: null, dueAt: null, sentAt: T0, destination: 'ch_1', messageId: newId('msg'), ...over });

function decision(over: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    id: newId('dec'), userId: 'usr_1', eventType: 'promo', decision: 'notify', reason: 'sent', score: 0.75, variant: 'A', notificationId: null,
    eventKey: `key-${newId('dec')}`, params: { x: 1 }, occurredAt: T0 - 10, decidedAt: T0, duplicateOf: null, ...over,
  };
}

function feed(over: Partial<FeedRecord> = {}): FeedRecord {
  return {
    id: newId('feed'), name: `feed-${newId('feed')}`, cron: '0 9 * * *', tz: 'Europe/Paris', eventType: 'digest.daily', userIds: null,
    params: { section: 'news' }, isActive: true, nextRunAt: T0, lastRunAt: null, createdAt: T0 - DAY, updatedAt: T0 - DAY, ...over,
  };
}

export interface NotifyConformanceOptions {
  skip?: string | false;
  /** Writes what a backend writes behind the requests (SQLite: the decisions' user index); reads must not tell. */
  settle?: (store: Store) => Promise<void>;
}

export function runNotifyConformance(name: string, open: () => Promise<Store>, options: NotifyConformanceOptions = {}): void {
  const settle = (s: Store) => options.settle?.(s) ?? Promise.resolve();
  describe(`notify store conformance: ${name}`, { skip: options.skip }, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    const commit = (w: Partial<NotifyWrites>, now = T0) =>
      store.notify.commit({ newUsers: [], keys: [], decisions: [], notifications: [], engagement: [], typeStats: [], messages: [], ...w }, routeAll, now);
    const variants = async (type: string) => (await store.notify.typeStats(type)).variants;
    const load = (over: { userIds?: string[]; keys?: string[]; types?: string[]; now?: number; sendsSince?: number } = {}) =>
      store.notify.loadState({ userIds: ['usr_1'], keys: [], types: [], now: T0, sendsSince: T0 - DAY, ...over });

    it('loads users, unexpired keys, sends since a time in order, pending by user and type, engagement and type stats', async () => {
      const pendingDigest = notification({ eventType: 'digest', dueAt: T0 + 100, variant: 'B', critical: true });
      const pendingOther = notification({ userId: 'usr_2', eventType: 'promo' });
      await commit({
        newUsers: [{ id: 'usr_1', tz: 'Europe/Paris' }, { id: 'usr_2', tz: null }, { id: 'usr_3', tz: null }],
        keys: [
          { key: 'k-held', userId: 'usr_1', decisionId: 'dec_a', expiresAt: T0 + DAY },
          { key: 'k-expired', userId: 'usr_1', decisionId: 'dec_b', expiresAt: T0 + 10 },
        ],
        notifications: [
          sent({ eventType: 'alert', sentAt: T0 - 1000, critical: true }),
          sent({ eventType: 'promo', sentAt: T0 - 2000 }),
          sent({ eventType: 'promo', sentAt: T0 - 2 * DAY }),
          sent({ userId: 'usr_3', sentAt: T0 - 500 }),
          notification({ status: 'dropped', reason: 'fatigue', dueAt: null }),
          pendingDigest,
          pendingOther,
        ],
        engagement: [
          { userId: 'usr_1', eventType: 'promo', shownW: 1.5, clickedW: 0.5 },
          { userId: 'usr_3', eventType: 'promo', shownW: 4, clickedW: 0 },
        ],
        typeStats: [
          { eventType: 'promo', variant: '', shownW: 3, clickedW: 1 },
          { eventType: 'promo', variant: 'A', shownW: 2, clickedW: 0.25 },
          { eventType: 'other', variant: '', shownW: 9, clickedW: 9 },
        ],
      });
      const state = await load({ userIds: ['usr_1', 'usr_2', 'usr_unknown'], keys: ['k-held', 'k-expired', 'k-never'], types: ['promo', 'alert'], now: T0 + 100 });
      assert.deepEqual([...state.users.keys()].sort(), ['usr_1', 'usr_2']);
      assert.equal(state.users.get('usr_1')?.tz, 'Europe/Paris');
      assert.deepEqual(state.users.get('usr_1')?.preferences, {});
      assert.equal(state.users.get('usr_1')?.createdAt, T0);
      assert.deepEqual(state.seenKeys, new Map([['k-held', 'dec_a']]));
      assert.deepEqual(state.sends, new Map([['usr_1', [
        { eventType: 'promo', sentAt: T0 - 2000, critical: false },
        { eventType: 'alert', sentAt: T0 - 1000, critical: true },
      ]]]));
      assert.deepEqual(state.pending, new Map([[pair('usr_1', 'digest'), pendingDigest], [pair('usr_2', 'promo'), pendingOther]]));
      assert.deepEqual(state.engagement, new Map([[pair('usr_1', 'promo'), { shownW: 1.5, clickedW: 0.5 }]]));
      assert.deepEqual(state.typeStats, new Map([[pair('promo', ''), { shownW: 3, clickedW: 1 }], [pair('promo', 'A'), { shownW: 2, clickedW: 0.25 }]]));

      const { shift, halfLifeMs, ...empty } = await load({ userIds: [], keys: [], types: [] });
      for (const map of Object.values(empty)) assert.equal(map.size, 0);
      assert.deepEqual({ shift, halfLifeMs }, { shift: 0, halfLifeMs: null }, 'the weights are on their first shift, under no half-life yet');
    });

    it('commits users once, decisions, notifications inserted then replaced by id, increments that add up, and messages with deliveries', async () => {
      const endpoint = endpointRecord();
      await store.endpoints.insert(endpoint);
      const d1 = decision({ score: null, variant: null, params: { text: 'é ✓', list: [1, null] } });
      const n = notification({ variant: 'A' });
      const message = newMessage({ eventType: 'notification.created', payload: JSON.stringify({ text: 'hi' }) });
      await commit({
        newUsers: [{ id: 'usr_1', tz: 'Asia/Tokyo' }],
        decisions: [d1],
        notifications: [n],
        engagement: [{ userId: 'usr_1', eventType: 'promo', shownW: 1, clickedW: 0 }],
        typeStats: [{ eventType: 'promo', variant: '', shownW: 1, clickedW: 0 }, { eventType: 'promo', variant: 'A', shownW: 1, clickedW: 0 }],
        messages: [message],
      });
      assert.deepEqual(await store.notify.decisions({ userId: 'usr_1' }, { limit: 10 }), [d1]);
      assert.deepEqual(await store.notify.notification(n.id), n);
      assert.equal(await store.notify.notification('ntf_missing'), null);
      const [delivery] = await store.deliveries.forMessage(message.id);
      assert.equal(delivery?.endpointId, endpoint.id);
      assert.equal(delivery?.status, 'pending');
      assert.equal((await store.messages.get(message.id))?.payload, JSON.stringify({ text: 'hi' }));

      const replaced: NotificationRecord = { ...n, status: 'sent', reason: null, sentAt: T0 + 5, destination: endpoint.id, messageId: message.id, params: {}, updatedAt: T0 + 5 };
      await commit({
        newUsers: [{ id: 'usr_1', tz: 'America/Lima' }],
        notifications: [{ ...n, text: 'overwritten in the same batch' }, replaced],
        engagement: [{ userId: 'usr_1', eventType: 'promo', shownW: 2, clickedW: 0.5 }, { userId: 'usr_1', eventType: 'promo', shownW: 0.25, clickedW: 0 }],
        typeStats: [{ eventType: 'promo', variant: '', shownW: 2, clickedW: 0.5 }, { eventType: 'promo', variant: 'B', shownW: 1, clickedW: 0 }],
      }, T0 + 5);
      assert.deepEqual(await store.notify.notification(n.id), replaced);
      assert.equal((await store.users.get('usr_1'))?.tz, 'Asia/Tokyo', 'a known user is left as it is');
      const state = await load({ types: ['promo'], now: T0 + 5 });
      assert.deepEqual(state.engagement.get(pair('usr_1', 'promo')), { shownW: 3.25, clickedW: 0.5 });
      assert.deepEqual(await variants('promo'), new Map([
        ['', { shownW: 3, clickedW: 0.5 }], ['A', { shownW: 1, clickedW: 0 }], ['B', { shownW: 1, clickedW: 0 }],
      ]));
      assert.deepEqual(await variants('nothing'), new Map());
      assert.equal(state.pending.size, 0);
      assert.deepEqual(state.sends.get('usr_1'), [{ eventType: 'promo', sentAt: T0 + 5, critical: false }]);
    });

    it('commits a batch of a thousand decisions and notifications', async () => {
      const decisions = Array.from({ length: 1000 }, (_, i) => decision({ userId: `usr_${i % 50}`, reason: i % 2 ? 'sent' : 'quiet_hours' }));
      const notifications = decisions.map((d) => notification({ userId: d.userId, eventType: `type-${d.id}` }));
      await commit({
        newUsers: Array.from({ length: 50 }, (_, i) => ({ id: `usr_${i}`, tz: null })),
        keys: decisions.map((d) => ({ key: d.eventKey, userId: d.userId, decisionId: d.id, expiresAt: T0 + DAY })),
        decisions,
        notifications,
        engagement: decisions.map((d) => ({ userId: d.userId, eventType: 'promo', shownW: 1, clickedW: 0 })),
        typeStats: decisions.map(() => ({ eventType: 'promo', variant: '', shownW: 1, clickedW: 0 })),
      });
      assert.equal((await store.notify.decisions({}, { limit: 2000 })).length, 1000);
      assert.equal((await store.notify.decisions({ userId: 'usr_7' }, { limit: 2000 })).length, 20);
      assert.deepEqual((await variants('promo')).get(''), { shownW: 1000, clickedW: 0 });
      const state = await load({ userIds: ['usr_7'], keys: decisions.map((d) => d.eventKey) });
      assert.equal(state.seenKeys.size, 1000);
      assert.equal(state.pending.size, 20);
      assert.deepEqual(state.engagement.get(pair('usr_7', 'promo')), { shownW: 20, clickedW: 0 });
    });

    it('keeps a dedup key for its first decision until it expires (a commit naming it meanwhile stores nothing), then lets a new decision take it', async () => {
      await commit({ keys: [{ key: 'k', userId: 'usr_1', decisionId: 'dec_first', expiresAt: T0 + 10 }] });
      // Held: a commit naming it (another process deciding the same event at once) stores nothing and says which.
      const second = decision({ id: 'dec_second', eventKey: 'k' });
      await assert.rejects(
        commit({ keys: [{ key: 'k', userId: 'usr_1', decisionId: 'dec_second', expiresAt: T0 + 100 }, { key: 'k-new', userId: 'usr_1', decisionId: 'dec_second', expiresAt: T0 + 100 }], decisions: [second] }, T0 + 5),
        (error: unknown) => error instanceof KeysTaken && error.keys.join() === 'k',
      );
      assert.deepEqual((await load({ keys: ['k', 'k-new'], now: T0 + 5 })).seenKeys, new Map([['k', 'dec_first']]));
      assert.equal((await store.notify.decisions({}, { limit: 10 })).length, 0);
      assert.deepEqual((await load({ keys: ['k'], now: T0 + 10 })).seenKeys, new Map(), 'expired at its expiry time');
      await commit({ keys: [{ key: 'k', userId: 'usr_1', decisionId: 'dec_third', expiresAt: T0 + 100 }, { key: 'k', userId: 'usr_1', decisionId: 'dec_fourth', expiresAt: T0 + 200 }] }, T0 + 10);
      assert.deepEqual((await load({ keys: ['k'], now: T0 + 10 })).seenKeys, new Map([['k', 'dec_third']]));
      assert.deepEqual((await load({ keys: ['k'], now: T0 + 10 })).keyExpiry, new Map([['k', T0 + 100]]), 'with its expiry');
    });

    it('purges keys that expired before a time', async () => {
      await commit({
        keys: [10, 20, 30].map((t) => ({ key: `k${t}`, userId: 'usr_1', decisionId: `dec_${t}`, expiresAt: T0 + t })),
      });
      assert.equal(await store.notify.purgeKeys(T0 + 25, 1), 1, 'at most the limit');
      assert.deepEqual((await load({ keys: ['k10', 'k20'], now: T0 })).seenKeys, new Map([['k20', 'dec_20']]), 'the oldest first');
      assert.equal(await store.notify.purgeKeys(T0 + 25), 1);
      assert.equal(await store.notify.purgeKeys(T0 + 25), 0);
      assert.deepEqual((await load({ keys: ['k10', 'k20', 'k30'], now: T0 })).seenKeys, new Map([['k30', 'dec_30']]));
    });

    it('claims due pending notifications with a lease: held until it ends, then claimable again', async () => {
      const a = notification({ dueAt: T0 });
      const b = notification({ dueAt: T0 + 10, userId: 'usr_2' });
      const later = notification({ dueAt: T0 + DAY });
      const unscheduled = notification({ dueAt: null });
      await commit({ notifications: [later, b, a, unscheduled, sent({ dueAt: T0 }), notification({ status: 'dropped', dueAt: T0 })] });
      const first = await store.notify.claimDue(T0 + 10, T0 + 60_000, 10, W);
      assert.deepEqual(first, [a, b]);
      assert.deepEqual(await store.notify.claimDue(T0 + 20, T0 + 60_020, 10, W), [], 'leased');
      assert.deepEqual(await store.notify.claimDue(T0 + 60_000, T0 + 120_000, 10, W), [], 'still leased at its end');
      assert.deepEqual((await store.notify.claimDue(T0 + 60_001, T0 + 120_000, 1, W)).map((n) => n.id), [a.id], 'limit, in due order');
      assert.deepEqual((await store.notify.claimDue(T0 + 60_001, T0 + 120_000, 10, W)).map((n) => n.id), [b.id]);
      await commit({ notifications: [{ ...a, status: 'sent', sentAt: T0 + 130_000, dueAt: null }] }, T0 + 130_000);
      assert.deepEqual((await store.notify.claimDue(T0 + 130_000, T0 + 190_000, 10, W)).map((n) => n.id), [b.id], 'a sent one is not due');
      // The leases given up (a restart of the only process): b is due again at once.
      assert.equal(await store.notify.releaseLeases(), 1);
      assert.deepEqual((await store.notify.claimDue(T0 + 130_001, T0 + 190_001, 10, W)).map((n) => n.id), [b.id]);
    });

    it('never hands one due notification to two concurrent claims', async () => {
      await commit({ notifications: Array.from({ length: 200 }, (_, i) => notification({ dueAt: T0 - i })) });
      const results = await Promise.all([1, 2, 3, 4].map(() => store.notify.claimDue(T0, T0 + 60_000, 80, W)));
      const ids = results.flat().map((n) => n.id);
      assert.equal(new Set(ids).size, ids.length);
      assert.equal(ids.length, 200);
      for (const claimed of results) assert.deepEqual(claimed.map((n) => n.dueAt), claimed.map((n) => n.dueAt).sort((x, y) => x! - y!));
    });

    it('never turns a sent notification back into a pending one, and keeps the lease of a re-held one', async () => {
      const gone = sent({ id: 'ntf_gone', sentAt: T0 });
      await commit({ notifications: [gone] });
      await commit({ notifications: [notification({ id: 'ntf_gone', dueAt: T0 + 5 })] });
      assert.equal((await store.notify.notification('ntf_gone'))?.status, 'sent');
      await commit({ notifications: [notification({ id: 'ntf_held', dueAt: T0 - 1 })] });
      assert.equal((await store.notify.claimDue(T0, T0 + 60_000, 10, W)).length, 1);
      await commit({ notifications: [notification({ id: 'ntf_held', dueAt: T0 - 1, params: { newer: true } })] });
      assert.deepEqual((await store.notify.notification('ntf_held'))?.params, { newer: true });
      assert.equal((await store.notify.claimDue(T0 + 1, T0 + 60_000, 10, W)).length, 0, 'still leased');
    });

    it('counts the notifications made since a time by type, status and reason (where deferred ones ended up)', async () => {
      await commit({
        notifications: [
          notification({ eventType: 'outcome_probe', reason: 'quiet_hours', createdAt: T0 }),
          notification({ eventType: 'outcome_probe', status: 'dropped', reason: 'expired', createdAt: T0 + 1 }),
          notification({ eventType: 'outcome_probe', status: 'dropped', reason: 'expired', createdAt: T0 + 2 }),
          sent({ eventType: 'outcome_probe', reason: 'sent', createdAt: T0 + 3 }),
          sent({ eventType: 'outcome_probe', reason: 'sent', createdAt: T0 - 1 }), // before the window
        ],
      });
      const counts = (await store.notify.outcomeCounts(T0)).filter((c) => c.eventType === 'outcome_probe').map((c) => [c.status, c.reason, c.count]);
      assert.deepEqual(counts, [['dropped', 'expired', 2], ['pending', 'quiet_hours', 1], ['sent', 'sent', 1]]);
    });

    it("finds the user's latest sent notification, of a type when given, since a time", async () => {
      const promo = sent({ eventType: 'promo', sentAt: T0 });
      const alert = sent({ eventType: 'alert', sentAt: T0 + 5 });
      await commit({
        notifications: [sent({ eventType: 'promo', sentAt: T0 - DAY }), promo, alert, notification({ eventType: 'promo', dueAt: T0 + 50 }), sent({ userId: 'usr_2', sentAt: T0 + 9 })],
      });
      assert.deepEqual(await store.notify.latestSent('usr_1', null, T0 - 2 * DAY), alert);
      assert.deepEqual(await store.notify.latestSent('usr_1', 'promo', T0 - 2 * DAY), promo);
      assert.deepEqual(await store.notify.latestSent('usr_1', 'promo', T0), promo, 'at `since` counts');
      assert.equal(await store.notify.latestSent('usr_1', 'promo', T0 + 1), null);
      assert.equal(await store.notify.latestSent('usr_1', 'digest', T0 - 2 * DAY), null);
      assert.equal(await store.notify.latestSent('usr_9', null, 0), null);
      const many = await store.notify.latestSentOf(['usr_1', 'usr_2', 'usr_9'], T0 - 2 * DAY);
      assert.deepEqual([...many.keys()].sort(), ['usr_1', 'usr_2']);
      assert.deepEqual(many.get('usr_1'), alert);
      assert.equal((await store.notify.latestSentOf(['usr_1'], T0 + 6)).size, 0);
    });

    it('records a click once and adds its weight to engagement and to the pooled and variant type stats', async () => {
      const withVariant = sent({ eventType: 'promo', variant: 'A' });
      const noVariant = sent({ eventType: 'alert', variant: null });
      const pending = notification();
      await commit({
        notifications: [withVariant, noVariant, pending],
        engagement: [{ userId: 'usr_1', eventType: 'promo', shownW: 1, clickedW: 0 }, { userId: 'usr_1', eventType: 'alert', shownW: 1, clickedW: 0 }],
        typeStats: [
          { eventType: 'promo', variant: '', shownW: 2, clickedW: 0 }, { eventType: 'promo', variant: 'A', shownW: 1, clickedW: 0 },
          { eventType: 'promo', variant: 'B', shownW: 1, clickedW: 0 }, { eventType: 'alert', variant: '', shownW: 1, clickedW: 0 },
        ],
      });
      assert.equal(await store.notify.click(withVariant.id, T0 + 50, () => 0.5), 'recorded');
      assert.equal(await store.notify.click(withVariant.id, T0 + 60, () => 0.5), 'duplicate');
      assert.equal(await store.notify.click('ntf_missing', T0 + 60, () => 0.5), 'not_found');
      assert.equal(await store.notify.click(pending.id, T0 + 60, () => 0.5), 'not_found', 'a notification not sent cannot be clicked');
      assert.deepEqual(await store.notify.notification(withVariant.id), { ...withVariant, clickedAt: T0 + 50, updatedAt: T0 + 50 });
      assert.deepEqual(await variants('promo'), new Map([
        ['', { shownW: 2, clickedW: 0.5 }], ['A', { shownW: 1, clickedW: 0.5 }], ['B', { shownW: 1, clickedW: 0 }],
      ]));
      assert.equal(await store.notify.click(noVariant.id, T0 + 70, () => 0.25), 'recorded');
      assert.deepEqual(await variants('alert'), new Map([['', { shownW: 1, clickedW: 0.25 }]]), 'the pooled row counts a click once');
      const state = await load();
      assert.deepEqual(state.engagement.get(pair('usr_1', 'promo')), { shownW: 1, clickedW: 0.5 });
      assert.deepEqual(state.engagement.get(pair('usr_1', 'alert')), { shownW: 1, clickedW: 0.25 });
      assert.equal((await store.notify.notification(pending.id))?.clickedAt, null);
    });

    it('rebases the weights: all of them × 2^−(to − from) with the shift, once; an older shift\'s weights are added on the new one', async () => {
      const n = sent({ variant: 'A' });
      await commit({
        newUsers: [{ id: 'usr_1', tz: null }],
        notifications: [n],
        engagement: [
          { userId: 'usr_1', eventType: 'promo', shownW: 3 * 2 ** 700, clickedW: 2 ** 700 },
          // A weight that overflowed before weights had a shift (its count is lost), and one too small to count.
          { userId: 'usr_2', eventType: 'promo', shownW: Infinity, clickedW: 2 ** -500 },
        ],
        typeStats: [{ eventType: 'promo', variant: '', shownW: 2 ** 1000, clickedW: 2 ** 900 }, { eventType: 'promo', variant: 'A', shownW: 1.5, clickedW: 0 }],
      });
      assert.deepEqual(await store.notify.rebase(onShift(0), onShift(600), T0), onShift(600));
      assert.deepEqual(await store.notify.rebase(onShift(0), onShift(650), T0), onShift(600), 'another process rebased first: nothing moves');
      const state = await load({ userIds: ['usr_1', 'usr_2'], types: ['promo'] });
      assert.equal(state.shift, 600);
      assert.deepEqual(state.engagement, new Map([[pair('usr_1', 'promo'), { shownW: 3 * 2 ** 100, clickedW: 2 ** 100 }], [pair('usr_2', 'promo'), { shownW: 0, clickedW: 0 }]]));
      assert.deepEqual(await store.notify.typeStats('promo'), { ...onShift(600), variants: new Map([['', { shownW: 2 ** 400, clickedW: 2 ** 300 }], ['A', { shownW: 1.5 * 2 ** -600, clickedW: 0 }]]) });

      // A batch that read before the rebase commits on shift 0; a click's weight is asked for on the store's shift.
      await commit({ shift: 0, engagement: [{ userId: 'usr_1', eventType: 'promo', shownW: 2 ** 650, clickedW: 0 }] });
      assert.equal(await store.notify.click(n.id, T0 + 1, ({ shift }) => 2 ** (700 - shift)), 'recorded');
      const exported = (await store.notify.exportUser('usr_1'))!;
      assert.equal(exported.shift, 600);
      assert.deepEqual(exported.engagement, [{ eventType: 'promo', shownW: 3 * 2 ** 100 + 2 ** 50, clickedW: 2 ** 101 }]);
      assert.deepEqual((await variants('promo')).get('A'), { shownW: 1.5 * 2 ** -600, clickedW: 2 ** 100 });

      // Past 1,000 at once, in steps (PostgreSQL refuses a product that underflows: those are 0).
      await commit({ shift: 600, typeStats: [{ eventType: 'promo', variant: 'B', shownW: 2 ** 1000, clickedW: 2 ** 999 }] });
      assert.deepEqual(await store.notify.rebase(onShift(600), onShift(2100), T0), onShift(2100));
      const after = await load({ userIds: ['usr_1'], types: ['promo'] });
      assert.equal(after.shift, 2100);
      assert.deepEqual(after.engagement.get(pair('usr_1', 'promo')), { shownW: 0, clickedW: 0 });
      assert.deepEqual(after.typeStats, new Map([[pair('promo', ''), { shownW: 0, clickedW: 0 }], [pair('promo', 'A'), { shownW: 0, clickedW: 0 }], [pair('promo', 'B'), { shownW: 2 ** -500, clickedW: 2 ** -501 }]]));
    });

    it('rebases the weights to another half-life: every count decayed to then keeps its value, once; an older scale\'s weights are added on the new one', async () => {
      const at = Date.UTC(2026, 5, 1);
      const daily = { shift: 0, halfLifeMs: DAY };
      assert.deepEqual(await store.notify.rebase(onShift(0), daily, at), daily, 'the half-life recorded: nothing moves');
      const n = sent({ variant: 'A', sentAt: at - DAY });
      // A send a day ago, and three sends a week ago of which one was clicked (weights 2^((t − epoch)/half-life)).
      const w = (t: number) => 2 ** ((t - WEIGHT_EPOCH) / DAY);
      await commit({
        newUsers: [{ id: 'usr_1', tz: null }],
        notifications: [n],
        engagement: [{ userId: 'usr_1', eventType: 'promo', shownW: w(at - DAY) + 3 * w(at - 7 * DAY), clickedW: w(at - 7 * DAY) }],
        typeStats: [{ eventType: 'promo', variant: '', shownW: w(at - DAY), clickedW: 0 }, { eventType: 'promo', variant: 'A', shownW: 3 * w(at - 7 * DAY), clickedW: w(at - 7 * DAY) }],
        halfLifeMs: DAY,
      }, at);
      const weekly = scaleFor(at, 7 * DAY, daily);
      const d = scaleDistance(daily, weekly, at);
      assert.ok(d >= 0 && d < 1, `moved down by 2^−${d}`);
      assert.deepEqual(await store.notify.rebase(daily, weekly, at), weekly);
      assert.deepEqual(await store.notify.rebase(daily, { ...weekly, shift: weekly.shift + 1 }, at), weekly, 'another process rebased first: nothing moves');

      const state = await load({ types: ['promo'], now: at });
      assert.deepEqual({ shift: state.shift, halfLifeMs: state.halfLifeMs }, weekly);
      const stored = state.engagement.get(pair('usr_1', 'promo'))!;
      assert.deepEqual(stored, { shownW: rescaled(w(at - DAY) + 3 * w(at - 7 * DAY), d), clickedW: rescaled(w(at - 7 * DAY), d) });
      // Read under the new half-life at `at`: the counts they were (1/2 + 3/2^7, 1/2^7).
      const counts = decayed(stored, at, 7 * DAY, weekly.shift);
      assert.ok(Math.abs(counts.shown - (0.5 + 3 / 128)) < 1e-12 && Math.abs(counts.clicked - 1 / 128) < 1e-12, JSON.stringify(counts));
      const stats = await store.notify.typeStats('promo');
      assert.deepEqual({ shift: stats.shift, halfLifeMs: stats.halfLifeMs }, weekly);
      assert.deepEqual(stats.variants.get('A'), { shownW: rescaled(3 * w(at - 7 * DAY), d), clickedW: rescaled(w(at - 7 * DAY), d) });

      // A batch that read before the rebase commits on the daily scale; a click's weight is asked for on the weekly one.
      await commit({ shift: 0, halfLifeMs: DAY, engagement: [{ userId: 'usr_1', eventType: 'promo', shownW: w(at), clickedW: 0 }] }, at);
      const asked: unknown[] = [];
      assert.equal(await store.notify.click(n.id, at, (scale) => (asked.push(scale), 2 ** ((at - DAY - WEIGHT_EPOCH) / (7 * DAY) - weekly.shift))), 'recorded');
      assert.deepEqual(asked, [weekly]);
      const exported = (await store.notify.exportUser('usr_1'))!;
      assert.deepEqual({ shift: exported.shift, halfLifeMs: exported.halfLifeMs }, weekly);
      const now = decayed(exported.engagement[0], at, 7 * DAY, weekly.shift);
      assert.ok(Math.abs(now.shown - (1.5 + 3 / 128)) < 1e-12 && Math.abs(now.clicked - (2 ** (-1 / 7) + 1 / 128)) < 1e-12, JSON.stringify(now));
    });

    it('counts concurrent clicks of one notification once', async () => {
      const n = sent({ variant: 'A' });
      await commit({
        notifications: [n],
        engagement: [{ userId: 'usr_1', eventType: 'promo', shownW: 1, clickedW: 0 }],
        typeStats: [{ eventType: 'promo', variant: '', shownW: 1, clickedW: 0 }, { eventType: 'promo', variant: 'A', shownW: 1, clickedW: 0 }],
      });
      const results = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => store.notify.click(n.id, T0 + i, () => 1)));
      assert.deepEqual(results.sort(), ['duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'recorded']);
      assert.deepEqual(await variants('promo'), new Map([['', { shownW: 1, clickedW: 1 }], ['A', { shownW: 1, clickedW: 1 }]]));
      assert.deepEqual((await load()).engagement.get(pair('usr_1', 'promo')), { shownW: 1, clickedW: 1 });
    });

    it('lists decisions newest first with filters, cursor and offset, and counts reasons per type', async () => {
      const ds = [
        decision({ userId: 'usr_1', eventType: 'promo', decision: 'notify', reason: 'sent', decidedAt: T0 }),
        decision({ userId: 'usr_1', eventType: 'promo', decision: 'skip', reason: 'fatigue', decidedAt: T0 + 1 }),
        decision({ userId: 'usr_2', eventType: 'promo', decision: 'skip', reason: 'fatigue', decidedAt: T0 + 2 }),
        decision({ userId: 'usr_2', eventType: 'alert', decision: 'defer', reason: 'quiet_hours', decidedAt: T0 + 3, duplicateOf: 'dec_x' }),
        decision({ userId: 'usr_1', eventType: 'alert', decision: 'notify', reason: 'sent', decidedAt: T0 + 4, notificationId: 'ntf_1' }),
      ];
      await commit({ decisions: ds });
      const ids = (list: DecisionRecord[]) => list.map((d) => d.id);
      assert.deepEqual(await store.notify.decisions({}, { limit: 10 }), [...ds].reverse());
      const byUser = async (expected: DecisionRecord[]) => {
        assert.deepEqual(ids(await store.notify.decisions({ userId: 'usr_1' }, { limit: 10 })), ids(expected));
        assert.deepEqual(ids(await store.notify.decisions({ userId: 'usr_1' }, { limit: 1, offset: 1 })), ids(expected.slice(1, 2)));
        assert.deepEqual(ids(await store.notify.decisions({ userId: 'usr_1', eventType: 'promo' }, { limit: 10 })), ids(expected.filter((d) => d.eventType === 'promo')));
      };
      await byUser([ds[4], ds[1], ds[0]]);
      await settle(store);
      await byUser([ds[4], ds[1], ds[0]]);
      assert.deepEqual(ids(await store.notify.decisions({ eventType: 'promo', reason: 'fatigue' }, { limit: 10 })), [ds[2].id, ds[1].id]);
      assert.deepEqual(ids(await store.notify.decisions({ since: T0 + 3 }, { limit: 10 })), [ds[4].id, ds[3].id]);
      assert.deepEqual(ids(await store.notify.decisions({ userId: 'usr_1', eventType: 'alert', reason: 'sent', since: T0 }, { limit: 10 })), [ds[4].id]);
      const page1 = await store.notify.decisions({}, { limit: 2 });
      assert.deepEqual(ids(page1), [ds[4].id, ds[3].id]);
      assert.deepEqual(ids(await store.notify.decisions({}, { limit: 2, cursor: page1[1].id })), [ds[2].id, ds[1].id]);
      assert.deepEqual(ids(await store.notify.decisions({}, { limit: 2, offset: 4 })), [ds[0].id]);
      assert.deepEqual(ids(await store.notify.decisions({ userId: 'usr_1' }, { limit: 10, cursor: ds[1].id })), [ds[0].id]);

      assert.deepEqual(await store.notify.reasonCounts(T0 + 1), [
        { eventType: 'alert', decision: 'defer', reason: 'quiet_hours', count: 1 },
        { eventType: 'alert', decision: 'notify', reason: 'sent', count: 1 },
        { eventType: 'promo', decision: 'skip', reason: 'fatigue', count: 2 },
      ]);
      assert.deepEqual(await store.notify.reasonCounts(T0 + 5), []);

      // Half indexed, half newer than the last settle: one list still.
      const later = decision({ userId: 'usr_1', eventType: 'promo', decision: 'skip', reason: 'cap', decidedAt: T0 + 5 });
      await commit({ decisions: [later] });
      await byUser([later, ds[4], ds[1], ds[0]]);
      await settle(store);
      await byUser([later, ds[4], ds[1], ds[0]]);
    });

    it('puts, replaces and deletes per-type overrides', async () => {
      assert.deepEqual(await store.notify.overrides(), new Map());
      await store.notify.putOverride('promo', { maxPerDay: 2, channels: ['email'] }, T0);
      await store.notify.putOverride('alert', { critical: true }, T0);
      await store.notify.putOverride('promo', { maxPerDay: 1 }, T0 + 1);
      assert.deepEqual(await store.notify.overrides(), new Map<string, Record<string, unknown>>([['promo', { maxPerDay: 1 }], ['alert', { critical: true }]]));
      assert.equal(await store.notify.deleteOverride('promo'), true);
      assert.equal(await store.notify.deleteOverride('promo'), false);
      assert.deepEqual([...(await store.notify.overrides()).keys()], ['alert']);
    });

    it('creates a user on first put and patches only the given fields after', async () => {
      const put = async (id: string, patch: Parameters<typeof store.notify.putUser>[1], now: number) => {
        const { user, created } = await store.notify.putUser(id, patch, now);
        return { ...user, created };
      };
      assert.deepEqual(await put('usr_p', {}, T0), { id: 'usr_p', tz: null, preferences: {}, createdAt: T0, updatedAt: T0, created: true });
      assert.deepEqual(await put('usr_p', { tz: 'Europe/Paris' }, T0 + 1), { id: 'usr_p', tz: 'Europe/Paris', preferences: {}, createdAt: T0, updatedAt: T0 + 1, created: false });
      const prefs = { quietHours: { start: '22:00', end: '07:00' }, optOut: ['promo'] };
      assert.deepEqual(await put('usr_p', { preferences: prefs }, T0 + 2), { id: 'usr_p', tz: 'Europe/Paris', preferences: prefs, createdAt: T0, updatedAt: T0 + 2, created: false });
      assert.deepEqual(await put('usr_p', {}, T0 + 3), { id: 'usr_p', tz: 'Europe/Paris', preferences: prefs, createdAt: T0, updatedAt: T0 + 2, created: false }, 'an empty patch changes nothing');
      assert.deepEqual(await put('usr_p', { tz: null }, T0 + 4), { id: 'usr_p', tz: null, preferences: prefs, createdAt: T0, updatedAt: T0 + 4, created: false });
      assert.equal((await put('usr_p', { touch: true }, T0 + 5)).updatedAt, T0 + 5, 'identities attached: the user changed');
      assert.deepEqual(await put('usr_q', { tz: 'Asia/Tokyo', preferences: { a: 1 } }, T0 + 5), { id: 'usr_q', tz: 'Asia/Tokyo', preferences: { a: 1 }, createdAt: T0 + 5, updatedAt: T0 + 5, created: true });
      // attach says whether it made the user; of several racing to make one, exactly one did.
      assert.deepEqual(await store.users.attach('usr_r', [{ kind: 'email', value: 'r@example.com' }], T0), { conflict: null, created: true });
      assert.deepEqual(await store.users.attach('usr_r', [{ kind: 'email', value: 'r2@example.com' }], T0), { conflict: null, created: false });
      const racing = await Promise.all(Array.from({ length: 6 }, (_, i) => store.notify.putUser('usr_race', { tz: i % 2 ? 'UTC' : null }, T0)));
      assert.equal(racing.filter((r) => r.created).length, 1);
      assert.deepEqual(await store.users.get('usr_p'), { id: 'usr_p', tz: null, preferences: prefs, createdAt: T0, updatedAt: T0 + 5 });
    });

    it("exports everything stored about a user, and deleting the user removes all of it and nobody else's", async () => {
      const endpoint = endpointRecord();
      await store.endpoints.insert(endpoint);
      const person = (key: string, email: string, text: string, idempotencyKey: string) =>
        store.conversations.receive({
          conversationId: newId('conv'), botId: 'demo', channelId: 'ch_1', userKey: key, identities: [{ kind: 'email', value: email }],
          newUserId: newId('usr'),
          message: newMessage({ eventType: 'message.received', payload: JSON.stringify({ text }), endpointIds: [endpoint.id], idempotencyKey }),
          now: T0,
        }, routeAll);
      const ann = await person('ann', 'ann@example.com', 'hello', 'idem-ann');
      const bob = await person('bob', 'bob@example.com', 'hi', 'idem-bob');
      const annId = ann.conversation.userId!;
      const bobId = bob.conversation.userId!;
      await store.conversations.act(ann.conversation.id, () => ({ mode: 'waiting', handoff: { kind: 'open', id: 'hof_ann', reason: 'asked' }, messages: [] }), routeAll, T0 + 1);
      await store.conversations.act(bob.conversation.id, () => ({ mode: 'waiting', handoff: { kind: 'open', id: 'hof_bob', reason: 'asked' }, messages: [] }), routeAll, T0 + 1);
      const claimRequest: ClaimRequest = { workerId: 'w1', now: T0, leaseGraceMs: 30_000, limit: 10, excludeEndpointIds: [], endpointCaps: {}, defaultEndpointCap: 10 };
      const claimed = await store.deliveries.claim(claimRequest);
      assert.equal(claimed.length, 2);
      await store.deliveries.finish(claimed.map((d) => ({
        workerId: 'w1', succeeded: true, next: { status: 'sent' as const },
        attempt: { id: newId('att'), deliveryId: d.id, messageId: d.messageId, endpointId: d.endpointId, attemptedAt: T0, statusCode: 200, durationMs: 1, errorKind: null, error: null, responseBody: 'ok', expired: false },
      })), T0);
      const annDelivery = claimed.find((d) => d.messageId === ann.message.id)!;
      const bobDelivery = claimed.find((d) => d.messageId === bob.message.id)!;
      // Events their conversations sent out of themselves (a bot's webhook): ordering key, no conversation_id.
      const webhookOf = async (conversationId: string) => (await store.messages.publish(
        [newMessage({ eventType: 'order.confirmed', payload: JSON.stringify({ address: '1 Elm Road' }), orderingKey: conversationId, endpointIds: [], createdAt: T0 })],
        routeAll, { now: T0, idempotencyTtlMs: DAY },
      ))[0].message.id;
      const annWebhook = await webhookOf(ann.conversation.id);
      await webhookOf(bob.conversation.id);

      const of = (userId: string) => {
        const n = sent({ userId, eventType: 'promo' });
        const d = decision({ userId, notificationId: n.id });
        return { n, d, key: `key-${userId}` };
      };
      const a = of(annId);
      const b = of(bobId);
      await commit({
        keys: [a, b].map((x) => ({ key: x.key, userId: x.d.userId, decisionId: x.d.id, expiresAt: T0 + DAY })),
        decisions: [a.d, b.d],
        notifications: [a.n, b.n],
        engagement: [a, b].map((x) => ({ userId: x.d.userId, eventType: 'promo', shownW: 1, clickedW: 0.5 })),
      });
      await store.notify.putUser(annId, { tz: 'Europe/Paris', preferences: { optOut: ['promo'] } }, T0 + 2);
      // Ann's second decision (and its dedup key) comes after the backend settled its deferred writes.
      await settle(store);
      const a2 = decision({ userId: annId, reason: 'below_value', decision: 'skip', decidedAt: T0 + 2 });
      await commit({ keys: [{ key: 'key-ann-2', userId: annId, decisionId: a2.id, expiresAt: T0 + DAY }], decisions: [a2] });

      const exported = await store.notify.exportUser(annId);
      assert.ok(exported);
      assert.deepEqual(exported.user, { id: annId, tz: 'Europe/Paris', preferences: { optOut: ['promo'] }, createdAt: T0, updatedAt: T0 + 2 });
      assert.deepEqual(exported.identities, [{ kind: 'email', value: 'ann@example.com' }]);
      assert.equal(exported.conversations.length, 1);
      const conversation = exported.conversations[0];
      assert.equal(conversation.id, ann.conversation.id);
      assert.equal(conversation.user_id, annId);
      assert.equal(conversation.mode, 'waiting');
      assert.deepEqual(conversation.memory, {});
      assert.deepEqual(conversation.last_prompt, []);
      assert.equal(conversation.created_at, T0, 'times are numbers on every backend');
      assert.equal(conversation.last_message_at, T0);
      assert.deepEqual(exported.messages, [{
        id: ann.message.id, event_type: 'message.received', payload: { text: 'hello' }, conversation_id: ann.conversation.id, direction: 'incoming', reply_to: null, created_at: T0,
      }, {
        id: annWebhook, event_type: 'order.confirmed', payload: { address: '1 Elm Road' }, conversation_id: null, direction: null, reply_to: null, created_at: T0,
      }]);
      assert.deepEqual(exported.decisions, [a.d, a2]);
      assert.deepEqual(exported.notifications, [a.n]);
      assert.deepEqual(exported.engagement, [{ eventType: 'promo', shownW: 1, clickedW: 0.5 }]);
      assert.deepEqual(exported.handoffs, [{
        id: 'hof_ann', conversation_id: ann.conversation.id, status: 'waiting', reason: 'asked', agent_id: null, resume_state: null, closed_by: null,
        requested_at: T0 + 1, assigned_at: null, closed_at: null, updated_at: T0 + 1,
      }], 'her handoff sessions, which the delete removes too');
      assert.equal(await store.notify.exportUser('usr_unknown'), null);

      const annsFeed = feed({ name: 'with-ann', userIds: ['usr_first', annId, bobId, 'usr_last'] });
      await store.notify.feeds.insert(annsFeed);
      await store.notify.feeds.insert(feed({ name: 'without-ann', userIds: [bobId] }));
      assert.equal(await store.notify.deleteUser(annId), true);
      assert.deepEqual((await store.notify.feeds.get(annsFeed.id))?.userIds, ['usr_first', bobId, 'usr_last'], 'out of the feed, the order kept');
      assert.equal(await store.users.get(annId), null);
      assert.deepEqual(await store.users.identities(annId), []);
      assert.equal(await store.users.byIdentity({ kind: 'email', value: 'ann@example.com' }), null);
      assert.equal(await store.conversations.get(ann.conversation.id), null);
      assert.equal(await store.messages.get(ann.message.id), null);
      assert.equal(await store.messages.get(annWebhook), null, 'the webhook her conversation fired, with its memory, goes too');
      assert.equal(await store.deliveries.get(annDelivery.id), null);
      assert.deepEqual(await store.deliveries.attempts(annDelivery.id), []);
      assert.equal(await store.handoffs.get('hof_ann'), null);
      assert.equal(await store.notify.notification(a.n.id), null);
      assert.deepEqual(await store.notify.decisions({ userId: annId }, { limit: 10 }), []);
      const after = await load({ userIds: [annId, bobId], keys: [a.key, 'key-ann-2', b.key] });
      assert.deepEqual(after.seenKeys, new Map([[b.key, b.d.id]]));
      assert.deepEqual([...after.engagement.keys()], [pair(bobId, 'promo')]);
      assert.deepEqual([...after.users.keys()], [bobId]);
      const [again] = await store.messages.publish([newMessage({ idempotencyKey: 'idem-ann', endpointIds: [] })], routeAll, { now: T0 + 3, idempotencyTtlMs: DAY });
      assert.equal(again.duplicate, false, "the user's idempotency keys are gone");
      assert.equal(await store.notify.exportUser(annId), null);

      // Bob is untouched.
      const bobExport = (await store.notify.exportUser(bobId))!;
      assert.equal(bobExport.conversations.length, 1);
      assert.equal(bobExport.messages.length, 2);
      assert.deepEqual(bobExport.decisions, [b.d]);
      assert.deepEqual(bobExport.notifications, [b.n]);
      assert.deepEqual(bobExport.handoffs.map((h) => h.id), ['hof_bob']);
      assert.equal((await store.deliveries.attempts(bobDelivery.id)).length, 1);
      assert.ok(await store.handoffs.get('hof_bob'));
      const [bobAgain] = await store.messages.publish([newMessage({ idempotencyKey: 'idem-bob', endpointIds: [] })], routeAll, { now: T0 + 3, idempotencyTtlMs: DAY });
      assert.equal(bobAgain.duplicate, true);

      assert.equal(await store.notify.deleteUser(annId), false);
      assert.equal(await store.notify.deleteUser('usr_unknown'), false);
    });

    it('inserts, gets, lists, updates and deletes feeds', async () => {
      const b = feed({ name: 'b-morning' });
      const a = feed({ name: 'a-evening', userIds: ['usr_1', 'usr_2'], params: {}, nextRunAt: null, lastRunAt: T0 - 5 });
      await store.notify.feeds.insert(b);
      await store.notify.feeds.insert(a);
      assert.deepEqual(await store.notify.feeds.get(b.id), b);
      assert.deepEqual(await store.notify.feeds.get(a.id), a);
      assert.equal(await store.notify.feeds.get('feed_missing'), null);
      assert.deepEqual(await store.notify.feeds.list(), [a, b]);
      assert.deepEqual(await store.notify.feeds.due(T0), [b], 'due: active, next run at or before now');
      assert.deepEqual(await store.notify.feeds.due(T0 - 1), []);
      await assert.rejects(store.notify.feeds.insert(feed({ name: 'a-evening' })), 'names are unique');
      const updated = await store.notify.feeds.update(b.id, { cron: '0 8 * * 1', isActive: false, userIds: ['usr_3'], params: { section: 'sport' }, updatedAt: T0 + 1 });
      const expected: FeedRecord = { ...b, cron: '0 8 * * 1', isActive: false, userIds: ['usr_3'], params: { section: 'sport' }, updatedAt: T0 + 1 };
      assert.deepEqual(updated, expected);
      assert.deepEqual(await store.notify.feeds.get(b.id), expected);
      assert.deepEqual(await store.notify.feeds.update(b.id, { userIds: null, nextRunAt: null, updatedAt: T0 + 2 }), { ...expected, userIds: null, nextRunAt: null, updatedAt: T0 + 2 });
      assert.deepEqual(await store.notify.feeds.get(b.id), { ...expected, userIds: null, nextRunAt: null, updatedAt: T0 + 2 });
      assert.equal(await store.notify.feeds.update('feed_missing', { name: 'x' }), null);
      assert.equal(await store.notify.feeds.delete(a.id), true);
      assert.equal(await store.notify.feeds.delete(a.id), false);
      assert.equal(await store.notify.feeds.get(a.id), null);
      assert.deepEqual((await store.notify.feeds.list()).map((f) => f.id), [b.id]);
    });

    it("advances a feed's next run by compare-and-set: exactly one caller wins, and marks the run under way", async () => {
      const f = feed({ nextRunAt: T0 });
      const inactive = feed({ nextRunAt: T0, isActive: false });
      await store.notify.feeds.insert(f);
      await store.notify.feeds.insert(inactive);
      const L = 60_000;
      assert.equal(await store.notify.feeds.advance(f.id, T0, T0 + DAY, T0 + 3, T0 + 3 + L, W), true);
      assert.equal(await store.notify.feeds.advance(f.id, T0, T0 + 2 * DAY, T0 + 4, T0 + 4 + L, W), false, 'a second advance from the old value loses');
      assert.deepEqual(await store.notify.feeds.get(f.id), { ...f, nextRunAt: T0 + DAY, lastRunAt: T0 + 3, updatedAt: T0 + 3 });
      assert.equal(await store.notify.feeds.advance(inactive.id, T0, T0 + DAY, T0, T0 + L, W), false, 'an inactive feed does not run');
      assert.equal(await store.notify.feeds.advance('feed_missing', T0, T0 + DAY, T0, T0 + L, W), false);
      assert.equal(await store.notify.feeds.advance(f.id, T0 + DAY, T0 + 2 * DAY, T0 + DAY, T0 + DAY + L, W), false, 'not while the run at T0 is under way');
      await store.notify.feeds.finishRun(f.id, T0, T0 + 3 + L);

      const racing = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => store.notify.feeds.advance(f.id, T0 + DAY, T0 + 2 * DAY + i, T0 + DAY + i, T0 + DAY + L, W)));
      assert.equal(racing.filter(Boolean).length, 1);
      const winner = racing.indexOf(true) + 1;
      assert.equal((await store.notify.feeds.get(f.id))?.nextRunAt, T0 + 2 * DAY + winner);
      await store.notify.feeds.finishRun(f.id, T0 + DAY, T0 + DAY + L);
      assert.equal(await store.notify.feeds.advance(f.id, T0 + 2 * DAY + winner, null, T0 + 2 * DAY + winner, T0 + 3 * DAY, W), true, 'a last run leaves no next one');
      assert.equal((await store.notify.feeds.get(f.id))?.nextRunAt, null);
    });

    it('hands a run whose lease ran out to exactly one taker, renews and finishes runs by compare-and-set', async () => {
      const f = feed({ nextRunAt: T0 });
      await store.notify.feeds.insert(f);
      assert.equal(await store.notify.feeds.advance(f.id, T0, T0 + DAY, T0, T0 + 1000, W), true);
      assert.deepEqual(await store.notify.feeds.stalled(T0 + 1000, W), [], 'not before the lease runs out');
      const [stalled, ...more] = await store.notify.feeds.stalled(T0 + 1001, W);
      assert.equal(more.length, 0);
      assert.deepEqual([stalled.feed.id, stalled.runAt, stalled.leaseUntil], [f.id, T0, T0 + 1000]);
      const takers = await Promise.all([1, 2, 3].map((i) => store.notify.feeds.lease(f.id, T0, T0 + 1000, T0 + 5000 + i, W)));
      assert.equal(takers.filter(Boolean).length, 1);
      const lease = T0 + 5000 + takers.indexOf(true) + 1;
      assert.equal(await store.notify.feeds.lease(f.id, T0, T0 + 1000, T0 + 9000, W), false, 'the old holder cannot renew');
      assert.equal(await store.notify.feeds.lease(f.id, T0, lease, lease + 1, W), true, 'the new holder renews');
      await store.notify.feeds.finishRun(f.id, T0, lease); // a stale lease: nothing
      assert.equal((await store.notify.feeds.stalled(T0 + DAY, W)).length, 1);
      await store.notify.feeds.finishRun(f.id, T0, lease + 1);
      assert.deepEqual(await store.notify.feeds.stalled(T0 + DAY, W), []);
      assert.equal(await store.notify.feeds.advance(f.id, T0 + DAY, T0 + 2 * DAY, T0 + DAY, T0 + DAY + 1000, W), true, 'the next run may start');
    });

    it('gives up the leases of runs under way (an embedded store\'s only process starting): taken over at once', async () => {
      const f = feed({ nextRunAt: T0 });
      const idle = feed({ nextRunAt: T0 + DAY });
      await store.notify.feeds.insert(f);
      await store.notify.feeds.insert(idle);
      assert.equal(await store.notify.feeds.advance(f.id, T0, T0 + DAY, T0, T0 + 60_000, W), true);
      assert.equal(await store.notify.feeds.releaseRuns(), 1);
      const [stalled, ...more] = await store.notify.feeds.stalled(T0 + 1, W);
      assert.equal(more.length, 0);
      assert.deepEqual([stalled.feed.id, stalled.runAt], [f.id, T0], 'a minute before its lease would have run out');
      assert.equal(await store.notify.feeds.lease(f.id, T0, stalled.leaseUntil, T0 + 60_001, W), true, 'taken over');
      assert.deepEqual(await store.notify.feeds.stalled(T0 + 2, W), []);
    });
  });
}
