// The notification engine's store (store/notify-records.ts), asked of every backend: the state a batch of
// events is decided on, commits, due claims with leases, analytics and overrides here; clicks and weights in
// notify-weights.case.ts; users, their export and deletion, and feeds in notify-people.case.ts. Run by
// sqlite.test.ts and postgres.test.ts like conformance.case.ts; the concurrent cases race on one store, which on
// PostgreSQL means several pooled connections.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { KeysTaken, type DecisionRecord, type NotificationRecord, type NotifyWrites } from '../../src/store/notify-records.ts';
import type { Store } from '../../src/store/store.ts';
import { endpointRecord, newMessage, routeAll } from '../helpers/fixtures.ts';
import { DAY, decision, notification, pair, sent, T0, W } from './notify-fixtures.ts';
import { notifyWeightCases } from './notify-weights.case.ts';
import { notifyPeopleCases } from './notify-people.case.ts';

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

    notifyWeightCases({ store: () => store, commit, variants, load, settle });
    notifyPeopleCases({ store: () => store, commit, variants, load, settle });
  });
}
