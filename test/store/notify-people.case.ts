// The notify store's people and schedules, asked of every backend through notify.case.ts: users put and patched,
// a user's export and deletion, feeds and their runs.
import { it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import type { FeedRecord } from '../../src/store/notify-records.ts';
import type { ClaimRequest, Store } from '../../src/store/store.ts';
import { endpointRecord, newId, newMessage, routeAll } from '../helpers/fixtures.ts';
import { DAY, decision, feed, notification, pair, sent, T0, W, type NotifyCases } from './notify-fixtures.ts';

export function notifyPeopleCases(ctx: NotifyCases): void {
  let store: Store;
  beforeEach(() => {
    store = ctx.store();
  });
  const { commit, load, settle } = ctx;

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
}
