// The store conformance suite: the same behaviour asked of every backend (SQLite always, PostgreSQL when
// reachable, and always in CI).
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { ItemFailed } from '../../src/group-commit.ts';
import type { AttemptOutcome, ClaimRequest, EndpointRecord, Received, Store } from '../../src/store/store.ts';
import { endpointRecord, newId, newMessage, routeAll } from '../helpers/fixtures.ts';

const T0 = 1_700_000_000_000;
const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;

export function runStoreConformance(name: string, open: () => Promise<Store>, options: { skip?: string | false } = {}): void {
  describe(`store conformance: ${name}`, { skip: options.skip }, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    const claim = (over: Partial<ClaimRequest> = {}) =>
      store.deliveries.claim({
        workerId: 'w1', now: T0, leaseGraceMs: 30_000, limit: 100, excludeEndpointIds: [], endpointCaps: {}, defaultEndpointCap: 100, ...over,
      });
    const outcome = (d: { id: string; messageId: string; endpointId: string }, next: AttemptOutcome['next'], over: Partial<AttemptOutcome> = {}): AttemptOutcome => ({
      workerId: 'w1',
      succeeded: next.status === 'sent',
      next,
      attempt: {
        id: newId('att'), deliveryId: d.id, messageId: d.messageId, endpointId: d.endpointId, attemptedAt: T0,
        statusCode: next.status === 'sent' ? 200 : 500, durationMs: 3.5, errorKind: next.status === 'sent' ? null : 'http_status',
        error: next.status === 'sent' ? null : 'HTTP 500', responseBody: 'ok', expired: false,
      },
      ...over,
    });
    const publish = (messages = [newMessage()], now = T0) => store.messages.publish(messages, routeAll, { now, idempotencyTtlMs: DAY });

    it('migrates once; a second run applies nothing', async () => {
      assert.deepEqual(await store.migrate(), []);
      await store.ping();
    });

    it('keeps settings, and setIfAbsent stores only once', async () => {
      assert.equal(await store.settings.get('k'), null);
      assert.equal(await store.settings.setIfAbsent('k', 'a'), true);
      assert.equal(await store.settings.setIfAbsent('k', 'b'), false);
      assert.equal(await store.settings.get('k'), 'a');
      await store.settings.set('k', 'c');
      assert.equal(await store.settings.get('k'), 'c');
    });

    it('stores, lists, updates and deletes endpoints', async () => {
      const a = endpointRecord({ name: 'a', provider: 'zendesk', eventTypes: ['x.y'], retrySchedule: [0, 1], customHeaders: { 'x-a': '1' }, authPublic: { username: 'u' } });
      const b = endpointRecord({ name: 'b' });
      await store.endpoints.insert(a);
      await store.endpoints.insert(b);
      assert.deepEqual(await store.endpoints.get(a.id), a);
      assert.deepEqual((await store.endpoints.list({}, { limit: 10 })).map((e) => e.id), [b.id, a.id]);
      assert.deepEqual((await store.endpoints.list({ provider: 'zendesk' }, { limit: 10 })).map((e) => e.id), [a.id]);
      assert.deepEqual((await store.endpoints.list({ name: 'b' }, { limit: 10 })).map((e) => e.id), [b.id]);
      assert.deepEqual((await store.endpoints.list({ name: 'B' }, { limit: 10 })).map((e) => e.id), [], 'names are case-sensitive');
      assert.deepEqual((await store.endpoints.list({}, { limit: 1, cursor: b.id })).map((e) => e.id), [a.id]);
      assert.deepEqual((await store.endpoints.list({}, { limit: 1, offset: 1 })).map((e) => e.id), [a.id]);
      const updated = await store.endpoints.update(a.id, { name: 'a2', eventTypes: null, signing: false, updatedAt: T0 + 1 });
      assert.equal(updated?.name, 'a2');
      assert.equal(updated?.eventTypes, null);
      assert.equal(updated?.signing, false);
      assert.equal(await store.endpoints.update('ep_missing', { name: 'x' }), null);
      const off = await store.endpoints.setActive(a.id, false, 'manual', T0);
      assert.equal(off.changed, true);
      assert.equal(off.endpoint?.isActive, false);
      assert.equal(off.endpoint?.disabledReason, 'manual');
      assert.equal((await store.endpoints.setActive(a.id, false, 'again', T0)).changed, false);
      assert.equal((await store.endpoints.list({ isActive: true }, { limit: 10 })).length, 1);
      assert.equal(await store.endpoints.delete(a.id), true);
      assert.equal(await store.endpoints.delete(a.id), false);
      assert.equal(await store.endpoints.get(a.id), null);
    });

    it('publishes the announcement of a flip with it, made from the changed row, by the caller that flipped it only', async () => {
      const gone = endpointRecord({ name: 'gone' });
      const ops = endpointRecord({ name: 'ops' });
      const orders = endpointRecord({ name: 'orders' });
      for (const e of [gone, ops, orders]) await store.endpoints.insert(e);
      const announce = (endpoint: EndpointRecord) => ({
        message: newMessage({ eventType: 'endpoint.disabled', payload: JSON.stringify({ name: endpoint.name, active: endpoint.isActive }), createdAt: T0 }),
        route: (targets: { id: string }[]) => targets.filter((t) => t.id !== endpoint.id && t.id !== orders.id).map((t) => t.id),
      });
      const [first, second] = await Promise.all([
        store.endpoints.setActive(gone.id, false, 'gone', T0, announce),
        store.endpoints.setActive(gone.id, false, 'gone', T0, announce),
      ]);
      assert.deepEqual([first.changed, second.changed].sort(), [false, true]);
      const messages = await store.messages.list({ eventType: 'endpoint.disabled' }, { limit: 10 });
      assert.deepEqual(messages.map((m) => JSON.parse(m.payload ?? 'null')), [{ name: 'gone', active: false }]);
      assert.deepEqual((await store.deliveries.forMessage(messages[0].id)).map((d) => d.endpointId), [ops.id]);
    });

    it('publishes a message and one delivery per matching active endpoint in one call', async () => {
      const all = endpointRecord();
      const filtered = endpointRecord({ eventTypes: ['other.type'] });
      const inactive = endpointRecord({ isActive: false });
      for (const e of [all, filtered, inactive]) await store.endpoints.insert(e);
      const [published] = await publish();
      assert.equal(published.duplicate, false);
      assert.equal(published.deliveryIds.length, 1);
      const deliveries = await store.deliveries.forMessage(published.message.id);
      assert.equal(deliveries[0].endpointId, all.id);
      assert.equal(deliveries[0].status, 'pending');
      assert.equal(deliveries[0].orderingKey, null);
      assert.equal((await store.messages.get(published.message.id))?.payload, JSON.stringify({ n: 1 }));
    });

    it('honours explicit endpoint ids and sets ordering keys only on ordered endpoints', async () => {
      const plain = endpointRecord();
      const fifo = endpointRecord({ ordered: true });
      await store.endpoints.insert(plain);
      await store.endpoints.insert(fifo);
      const [one] = await publish([newMessage({ endpointIds: [fifo.id], orderingKey: 'conv-1' })]);
      const [d] = await store.deliveries.forMessage(one.message.id);
      assert.equal(d.endpointId, fifo.id);
      assert.equal(d.orderingKey, 'conv-1');
      const [two] = await publish([newMessage()]);
      const keys = (await store.deliveries.forMessage(two.message.id)).map((x) => [x.endpointId, x.orderingKey]);
      assert.deepEqual(new Map(keys as [string, string | null][]), new Map([[plain.id, null], [fifo.id, '']]));
    });

    it('gives a named endpoint its delivery while disabled, held until it is enabled; routing by type skips it', async () => {
      const off = endpointRecord({ isActive: false });
      await store.endpoints.insert(off);
      const [named, routed] = await publish([newMessage({ endpointIds: [off.id] }), newMessage()]);
      assert.equal(named.deliveryIds.length, 1, 'a channel\'s reply to its disabled POST_URL is kept');
      assert.equal(routed.deliveryIds.length, 0, 'a message routed by event type goes to active endpoints only');
      assert.equal((await claim()).length, 0, 'held while the endpoint is disabled');
      await store.endpoints.setActive(off.id, true, null, T0);
      assert.deepEqual((await claim()).map((d) => d.id), named.deliveryIds);
    });

    it('makes a delivery waiting for a later retry due when its endpoint is enabled again', async () => {
      const ep = endpointRecord();
      await store.endpoints.insert(ep);
      await publish([newMessage({ endpointIds: [ep.id] })]);
      const [d] = await claim();
      await store.deliveries.finish([outcome(d, { status: 'pending', nextAttemptAt: T0 + HOUR })], T0);
      await store.endpoints.setActive(ep.id, false, 'manual', T0 + 1000);
      assert.equal((await claim({ now: T0 + 2000 })).length, 0);
      await store.endpoints.setActive(ep.id, true, null, T0 + 2000);
      assert.equal((await store.deliveries.get(d.id))?.nextAttemptAt, T0 + 2000);
      assert.deepEqual((await claim({ now: T0 + 2000 })).map((x) => x.id), [d.id]);
      // Enabling an endpoint that is active changes nothing.
      await store.deliveries.finish([outcome(d, { status: 'pending', nextAttemptAt: T0 + HOUR })], T0 + 2000);
      await store.endpoints.setActive(ep.id, true, null, T0 + 3000);
      assert.equal((await store.deliveries.get(d.id))?.nextAttemptAt, T0 + HOUR);
    });

    it('returns the original answer for an idempotency key within its time to live, a new one after', async () => {
      await store.endpoints.insert(endpointRecord());
      const [first] = await publish([newMessage({ idempotencyKey: 'k1' })]);
      const [again, sameBatch] = await publish([newMessage({ idempotencyKey: 'k1' }), newMessage({ idempotencyKey: 'k1' })], T0 + 1000);
      for (const dup of [again, sameBatch]) {
        assert.equal(dup.duplicate, true);
        assert.equal(dup.message.id, first.message.id);
        assert.deepEqual(dup.deliveryIds, first.deliveryIds);
      }
      const [later] = await publish([newMessage({ idempotencyKey: 'k1', createdAt: T0 + DAY + 1 })], T0 + DAY + 1);
      assert.equal(later.duplicate, false);
      assert.notEqual(later.message.id, first.message.id);
    });

    it('claims due deliveries once, with a lease, and skips excluded and inactive endpoints', async () => {
      const a = endpointRecord({ timeoutSeconds: 10 });
      const b = endpointRecord();
      await store.endpoints.insert(a);
      await store.endpoints.insert(b);
      await publish([newMessage(), newMessage({ createdAt: T0 + 5000 })]);
      const due = await claim({ excludeEndpointIds: [b.id] });
      assert.equal(due.length, 1);
      assert.equal(due[0].endpointId, a.id);
      assert.equal(due[0].payload, JSON.stringify({ n: 1 }));
      const row = await store.deliveries.get(due[0].id);
      assert.equal(row?.status, 'sending');
      assert.equal(row?.lockedBy, 'w1');
      assert.equal(row?.lockedUntil, T0 + 30_000 + 10_000);
      assert.equal((await claim({ workerId: 'w2', excludeEndpointIds: [b.id] })).length, 0);
      await store.endpoints.setActive(b.id, false, 'x', T0);
      assert.equal((await claim({ workerId: 'w2' })).length, 0, 'inactive endpoint and not-yet-due messages wait');
      await store.endpoints.setActive(b.id, true, null, T0);
      assert.equal((await claim({ workerId: 'w2' })).length, 1);
      assert.equal((await claim({ workerId: 'w2', now: T0 + 5000 })).length, 2);
    });

    it('stores the deliveries a publish lease takes as sending, held by its worker: no claim sees them, the holder finishes them', async () => {
      const plain = endpointRecord();
      const refused = endpointRecord();
      const fifo = endpointRecord({ ordered: true });
      for (const e of [plain, refused, fifo]) await store.endpoints.insert(e);
      const asked: string[] = [];
      const lease = { workerId: 'w1', take: (endpointId: string) => (asked.push(endpointId), endpointId === refused.id ? null : T0 + 60_000) };
      const keyed = newMessage({ idempotencyKey: 'k1' });
      const [published] = await store.messages.publish([keyed], routeAll, { now: T0, idempotencyTtlMs: DAY, lease });
      assert.deepEqual(asked.sort(), [plain.id, refused.id].sort(), 'asked for the deliveries outside an ordering sequence only');
      assert.deepEqual(published.leased, [{
        id: published.leased![0].id, messageId: keyed.id, endpointId: plain.id, eventType: keyed.eventType, attempts: 0, oneShot: false, orderingKey: null,
        payload: keyed.payload, leaseUntil: T0 + 60_000,
      }]);
      const rows = new Map((await store.deliveries.forMessage(keyed.id)).map((d) => [d.endpointId, d]));
      assert.equal(published.deliveryIds.length, 3);
      assert.deepEqual([rows.get(plain.id)?.status, rows.get(plain.id)?.lockedBy, rows.get(plain.id)?.lockedUntil], ['sending', 'w1', T0 + 60_000]);
      assert.deepEqual([rows.get(refused.id)?.status, rows.get(refused.id)?.lockedBy], ['pending', null]);
      assert.deepEqual([rows.get(fifo.id)?.status, rows.get(fifo.id)?.orderingKey], ['pending', '']);
      // A claim takes only what was stored pending; the leased one is the holder's to finish.
      const claimed = await claim({ workerId: 'w2' });
      assert.deepEqual(claimed.map((d) => d.endpointId).sort(), [refused.id, fifo.id].sort());
      const lent = { id: rows.get(plain.id)!.id, messageId: keyed.id, endpointId: plain.id };
      await store.deliveries.finish([outcome(lent, { status: 'sent' })], T0 + 10);
      const sent = await store.deliveries.get(lent.id);
      assert.deepEqual([sent?.status, sent?.attempts, sent?.lockedBy], ['sent', 1, null]);
      // A duplicate stores nothing and leases nothing.
      const [again] = await store.messages.publish([newMessage({ idempotencyKey: 'k1' })], routeAll, { now: T0 + 1, idempotencyTtlMs: DAY, lease });
      assert.equal(again.duplicate, true);
      assert.equal(again.leased?.length ?? 0, 0);
      assert.equal(asked.length, 2);
    });

    it('returns a publish-leased delivery whose holder is gone to pending once its lease ends', async () => {
      await store.endpoints.insert(endpointRecord());
      const lease = { workerId: 'w1', take: () => T0 + 60_000 };
      const [published] = await store.messages.publish([newMessage()], routeAll, { now: T0, idempotencyTtlMs: DAY, lease });
      assert.equal(await store.deliveries.reapExpiredLeases(T0 + 60_000), 0);
      assert.equal(await store.deliveries.reapExpiredLeases(T0 + 60_001), 1);
      assert.equal((await store.deliveries.get(published.deliveryIds[0]))?.status, 'pending');
      assert.equal((await claim({ workerId: 'w2', now: T0 + 60_001 })).length, 1);
    });

    it('caps claims per endpoint', async () => {
      const a = endpointRecord();
      const b = endpointRecord();
      await store.endpoints.insert(a);
      await store.endpoints.insert(b);
      await publish(Array.from({ length: 5 }, () => newMessage()));
      const got = await claim({ endpointCaps: { [a.id]: 1 }, defaultEndpointCap: 3 });
      const per = (id: string) => got.filter((d) => d.endpointId === id).length;
      assert.equal(per(a.id), 1);
      assert.equal(per(b.id), 3);
    });

    it('finds a healthy endpoint\'s work behind a long backlog of an endpoint it must skip', async () => {
      const dead = endpointRecord();
      const healthy = endpointRecord();
      await store.endpoints.insert(dead);
      await store.endpoints.insert(healthy);
      await publish(Array.from({ length: 1500 }, () => newMessage({ endpointIds: [dead.id] })));
      await publish(Array.from({ length: 5 }, () => newMessage({ endpointIds: [healthy.id], createdAt: T0 + 1000 })), T0 + 1000);
      const got = await claim({ now: T0 + 2000, limit: 50, excludeEndpointIds: [dead.id] });
      assert.equal(got.length, 5);
      assert.ok(got.every((d) => d.endpointId === healthy.id));
      const capped = await claim({ now: T0 + 2000, limit: 50, workerId: 'w2', endpointCaps: { [dead.id]: 3 } });
      assert.equal(capped.length, 3, 'a capped endpoint gets only its room, even with a long backlog');
    });

    it('delivers FIFO per ordering key on ordered endpoints; other keys are not blocked', async () => {
      const fifo = endpointRecord({ ordered: true });
      await store.endpoints.insert(fifo);
      const [m1, m2, m3] = await publish([
        newMessage({ orderingKey: 'a' }),
        newMessage({ orderingKey: 'a' }),
        newMessage({ orderingKey: 'b' }),
      ]);
      const first = await claim();
      assert.deepEqual(first.map((d) => d.messageId).sort(), [m1.message.id, m3.message.id].sort());
      assert.equal((await claim()).length, 0, 'the second of key a waits for the first');
      const head = first.find((d) => d.messageId === m1.message.id)!;
      await store.deliveries.finish([outcome(head, { status: 'pending', nextAttemptAt: T0 + 5000 })], T0);
      assert.equal((await claim({ now: T0 + 1000 })).length, 0, 'a failing head blocks its key');
      const retried = await claim({ now: T0 + 5000 });
      assert.deepEqual(retried.map((d) => d.messageId), [m1.message.id]);
      await store.deliveries.finish([outcome(retried[0], { status: 'sent' })], T0 + 5000);
      assert.deepEqual((await claim({ now: T0 + 5000 })).map((d) => d.messageId), [m2.message.id]);
    });

    it('releases the deliveries waiting behind a failing head when the endpoint is no longer ordered', async () => {
      const fifo = endpointRecord({ ordered: true });
      await store.endpoints.insert(fifo);
      const [m1, m2] = await publish([newMessage({ orderingKey: 'a' }), newMessage({ orderingKey: 'a' })]);
      const [head] = await claim();
      assert.equal(head.messageId, m1.message.id);
      await store.deliveries.finish([outcome(head, { status: 'pending', nextAttemptAt: T0 + HOUR })], T0);
      assert.equal((await claim({ now: T0 + 1000 })).length, 0, 'held behind the failing head');
      await store.endpoints.update(fifo.id, { ordered: false, updatedAt: T0 + 1000 });
      assert.deepEqual((await claim({ now: T0 + 1000 })).map((d) => d.messageId), [m2.message.id]);
      assert.equal((await store.deliveries.get(head.id))?.orderingKey, null);
      // Ordered again: what is published from then on is in sequence.
      await store.endpoints.update(fifo.id, { ordered: true, updatedAt: T0 + 2000 });
      const [m3] = await publish([newMessage({ orderingKey: 'a' })], T0 + 2000);
      assert.equal((await store.deliveries.forMessage(m3.message.id))[0].orderingKey, 'a');
    });

    it('finishes attempts: status, attempt rows, failing_since; a lost lease does not move the row', async () => {
      const e = endpointRecord();
      await store.endpoints.insert(e);
      await publish([newMessage(), newMessage(), newMessage()]);
      const [d1, d2, d3] = await claim();
      const failed = await store.deliveries.finish([outcome(d1, { status: 'pending', nextAttemptAt: T0 + 5000 })], T0);
      assert.equal(failed.failingSince[e.id], T0);
      assert.equal((await store.endpoints.get(e.id))?.failingSince, T0);
      await store.deliveries.finish([outcome(d2, { status: 'failed' }, { workerId: 'someone-else' })], T0 + 1);
      assert.equal((await store.deliveries.get(d2.id))?.status, 'sending', 'lease held by w1 is not moved by another worker');
      await store.deliveries.finish([outcome(d3, { status: 'sent' })], T0 + 2);
      const sent = await store.deliveries.get(d3.id);
      assert.equal(sent?.status, 'sent');
      assert.equal(sent?.attempts, 1);
      assert.equal(sent?.sentAt, T0 + 2);
      assert.equal(sent?.lockedBy, null);
      const ep = await store.endpoints.get(e.id);
      assert.equal(ep?.failingSince, null);
      assert.equal(ep?.lastSuccessAt, T0 + 2);
      const retry = await store.deliveries.get(d1.id);
      assert.equal(retry?.status, 'pending');
      assert.equal(retry?.nextAttemptAt, T0 + 5000);
      assert.equal(retry?.lastStatusCode, 500);
      const attempts = await store.deliveries.attempts(d1.id);
      assert.equal(attempts.length, 1);
      assert.equal(attempts[0].errorKind, 'http_status');
      assert.equal(attempts[0].durationMs, 3.5);
    });

    it('publishes a finish\'s announcements with it, for the deliveries it really moved', async () => {
      const e = endpointRecord();
      const watch = endpointRecord({ eventTypes: ['message.attempt.exhausted'] });
      await store.endpoints.insert(e);
      await store.endpoints.insert(watch);
      await publish([newMessage({ endpointIds: [e.id] }), newMessage({ endpointIds: [e.id] })]);
      const [mine, lost] = await claim();
      const announcement = (id: string) => newMessage({ eventType: 'message.attempt.exhausted', payload: JSON.stringify({ delivery_id: id }), endpointIds: undefined });
      const messages = new Map([[mine.id, announcement(mine.id)], [lost.id, announcement(lost.id)]]);
      const route = (targets: { id: string }[]) => targets.filter((t) => t.id === watch.id).map((t) => t.id);
      await store.deliveries.finish([outcome(mine, { status: 'failed' }), outcome(lost, { status: 'failed' }, { workerId: 'someone-else' })], T0 + 1, { messages, route });
      const announced = await store.messages.list({ endpointId: watch.id }, { limit: 10 });
      assert.deepEqual(announced.map((m) => JSON.parse(m.payload!).delivery_id), [mine.id], 'only the delivery this finish failed');
    });

    it('releases leases without an attempt and reaps expired ones', async () => {
      await store.endpoints.insert(endpointRecord({ timeoutSeconds: 1 }));
      await publish([newMessage(), newMessage()]);
      const [a, b] = await claim();
      assert.equal(await store.deliveries.release([a.id], 'w2', T0), 0, 'only the holder releases');
      assert.equal(await store.deliveries.release([a.id], 'w1', T0 + 10), 1);
      const released = await store.deliveries.get(a.id);
      assert.equal(released?.status, 'pending');
      assert.equal(released?.attempts, 0);
      assert.equal(released?.nextAttemptAt, T0 + 10);
      assert.equal(await store.deliveries.reapExpiredLeases(T0 + 30_000), 0);
      assert.equal(await store.deliveries.reapExpiredLeases(T0 + 31_001), 1);
      assert.equal((await store.deliveries.get(b.id))?.status, 'pending');
    });

    it('counts deliveries by status, with the oldest pending one', async () => {
      await store.endpoints.insert(endpointRecord());
      await store.endpoints.insert(endpointRecord());
      await publish([newMessage({ createdAt: T0 }), newMessage({ createdAt: T0 + 1 }), newMessage({ createdAt: T0 + 2 })]);
      const claimed = await claim({ limit: 4, now: T0 + 2 }); // 6 deliveries: the 4 oldest leased
      await store.deliveries.finish([outcome(claimed[0], { status: 'sent' }), outcome(claimed[1], { status: 'failed' }), outcome(claimed[2], { status: 'sent' })], T0 + 5);
      const stats = await store.deliveries.stats();
      assert.deepEqual(stats.byStatus, { pending: 2, sending: 1, sent: 2, failed: 1 });
      assert.equal(stats.oldestPendingCreatedAt, T0 + 2);
      assert.equal(await store.deliveries.reapExpiredLeases(T0 + DAY), 1);
      assert.deepEqual((await store.deliveries.stats()).byStatus, { pending: 3, sending: 0, sent: 2, failed: 1 });
      assert.equal((await store.deliveries.stats()).oldestPendingCreatedAt, T0 + 1);
    });

    it('resends: unknown, in progress, and a failed delivery becomes one-shot and due', async () => {
      await store.endpoints.insert(endpointRecord());
      await publish();
      assert.equal(await store.deliveries.resend('dlv_nope', T0), 'not_found');
      const [d] = await claim();
      assert.equal(await store.deliveries.resend(d.id, T0), 'in_progress');
      await store.deliveries.finish([outcome(d, { status: 'failed' })], T0);
      const resent = await store.deliveries.resend(d.id, T0 + 100);
      assert.ok(typeof resent === 'object');
      assert.equal(resent.status, 'pending');
      assert.equal(resent.oneShot, true);
      const [again] = await claim({ now: T0 + 100 });
      assert.equal(again.oneShot, true);
    });

    it('lists deliveries with filters and cursor paging, and messages by endpoint and time', async () => {
      const a = endpointRecord({ provider: 'zendesk' });
      const b = endpointRecord();
      await store.endpoints.insert(a);
      await store.endpoints.insert(b);
      await publish([newMessage({ eventType: 'x' }), newMessage({ eventType: 'y', createdAt: T0 + 10 })]);
      assert.equal((await store.deliveries.list({}, { limit: 10 })).length, 4);
      assert.equal((await store.deliveries.list({ provider: 'zendesk' }, { limit: 10 })).length, 2);
      assert.equal((await store.deliveries.list({ eventType: 'y', endpointId: b.id }, { limit: 10 })).length, 1);
      assert.equal((await store.deliveries.list({ status: 'sent' }, { limit: 10 })).length, 0);
      assert.equal((await store.deliveries.list({ since: T0 + 5 }, { limit: 10 })).length, 2);
      assert.equal((await store.deliveries.list({ until: T0 + 5 }, { limit: 10 })).length, 2);
      const page1 = await store.deliveries.list({}, { limit: 3 });
      const page2 = await store.deliveries.list({}, { limit: 3, cursor: page1[2].id });
      assert.equal(page2.length, 1);
      assert.ok(!page1.some((d) => d.id === page2[0].id));
      assert.equal((await store.messages.list({ endpointId: a.id }, { limit: 10 })).length, 2);
      assert.equal((await store.messages.list({ eventType: 'x' }, { limit: 10 })).length, 1);
      assert.equal((await store.messages.list({ since: T0 + 5 }, { limit: 10 })).length, 1);
    });

    it('counts and requeues failed deliveries of an endpoint in a window, in batches', async () => {
      const e = endpointRecord();
      await store.endpoints.insert(e);
      await publish([newMessage(), newMessage(), newMessage({ createdAt: T0 + DAY })]);
      const claimed = await claim({ now: T0 + DAY });
      await store.deliveries.finish(claimed.map((d) => outcome(d, { status: 'failed' })), T0 + DAY);
      assert.equal(await store.deliveries.countFailed(e.id, T0, T0 + 1), 2);
      const first = await store.deliveries.requeueFailed({ endpointId: e.id, since: T0, until: T0 + 1, afterSeq: 0, limit: 1 }, T0 + DAY);
      assert.equal(first.count, 1);
      const second = await store.deliveries.requeueFailed({ endpointId: e.id, since: T0, until: T0 + 1, afterSeq: first.lastSeq!, limit: 10 }, T0 + DAY);
      assert.equal(second.count, 1);
      const third = await store.deliveries.requeueFailed({ endpointId: e.id, since: T0, until: T0 + 1, afterSeq: second.lastSeq!, limit: 10 }, T0 + DAY);
      assert.deepEqual(third, { count: 0, lastSeq: null });
      const stats = await store.deliveries.stats();
      assert.equal(stats.byStatus.pending, 2);
      assert.equal(stats.byStatus.failed, 1);
      assert.equal(stats.oldestPendingCreatedAt, T0);
      assert.equal(await store.deliveries.nextDueAt(), T0 + DAY);
    });

    it('runs jobs with a lease that a restart can take over', async () => {
      const job = { id: newId('job'), kind: 'recover', params: { a: 1 }, progress: {}, status: 'queued' as const, total: 5, done: 0, error: null, lockedBy: null, lockedUntil: null, createdAt: T0, updatedAt: T0 };
      await store.jobs.insert(job);
      const taken = await store.jobs.claim('w1', T0, T0 + 1000);
      assert.equal(taken?.id, job.id);
      assert.equal(taken?.status, 'running');
      assert.equal(await store.jobs.claim('w2', T0 + 500, T0 + 1500), null);
      await store.jobs.update(job.id, { done: 3, progress: { afterSeq: 7 } }, T0 + 600);
      const again = await store.jobs.claim('w2', T0 + 1001, T0 + 2000);
      assert.equal(again?.lockedBy, 'w2');
      assert.deepEqual(again?.progress, { afterSeq: 7 });
      // w1, which lost its lease, writes nothing more to the job; w2 does.
      assert.equal(await store.jobs.update(job.id, { done: 4, progress: { afterSeq: 9 } }, T0 + 1050, 'w1'), false);
      assert.deepEqual((await store.jobs.get(job.id))?.progress, { afterSeq: 7 });
      assert.equal(await store.jobs.update(job.id, { done: 4 }, T0 + 1060, 'w2'), true);
      await store.jobs.update(job.id, { status: 'done', done: 5 }, T0 + 1100);
      assert.equal((await store.jobs.get(job.id))?.status, 'done');
      assert.equal(await store.jobs.claim('w3', T0 + 9999, T0 + 10_000), null);
    });

    it('purges old payloads and response bodies in batches but keeps the rows', async () => {
      await store.endpoints.insert(endpointRecord());
      await publish([newMessage(), newMessage(), newMessage({ createdAt: T0 + 2 * DAY, idempotencyKey: 'new' })]);
      const claimed = await claim();
      await store.deliveries.finish(claimed.map((d) => outcome(d, { status: 'sent' })), T0);
      const first = await store.retention.purge(T0 + DAY, 1);
      assert.equal(first.messages, 1);
      assert.equal(first.attempts, 1);
      const second = await store.retention.purge(T0 + DAY, 10);
      assert.equal(second.messages, 1);
      assert.equal(second.attempts, 1);
      const messages = await store.messages.list({}, { limit: 10 });
      assert.equal(messages.length, 3);
      assert.equal(messages.filter((m) => m.expired && m.payload === null).length, 2);
      const [attempt] = await store.deliveries.attempts(claimed[0].id);
      assert.equal(attempt.expired, true);
      assert.equal(attempt.responseBody, null);
      assert.equal(await store.retention.purgeIdempotencyKeys(T0 + 3 * DAY), 1);
    });

    it('keeps the payload of a message a delivery still has to send (held on a disabled endpoint), past the age', async () => {
      const off = endpointRecord({ isActive: false });
      await store.endpoints.insert(off);
      const [held] = await publish([newMessage({ endpointIds: [off.id] })]);
      const [done] = await publish([newMessage({ endpointIds: [] })]);
      assert.equal((await store.retention.purge(T0 + DAY, 10)).messages, 1);
      assert.equal((await store.messages.get(done.message.id))?.expired, true);
      const kept = await store.messages.get(held.message.id);
      assert.deepEqual([kept?.expired, kept?.payload], [false, JSON.stringify({ n: 1 })], 'sent on enable, whole');
    });

    it('walks past kept payloads with a cursor: a batch looks at the next messages, not again at those it kept', async () => {
      const off = endpointRecord({ isActive: false });
      await store.endpoints.insert(off);
      const [held] = await publish([newMessage({ endpointIds: [off.id], createdAt: T0 - 2 })]);
      const [a] = await publish([newMessage({ endpointIds: [], createdAt: T0 - 1 })]);
      const [b] = await publish([newMessage({ endpointIds: [], createdAt: T0 })]);
      const first = await store.retention.purge(T0 + DAY, 1);
      assert.deepEqual([first.messages, first.next], [0, { createdAt: T0 - 2, id: held.message.id }], 'the kept one, looked at once');
      const second = await store.retention.purge(T0 + DAY, 1, first.next);
      assert.deepEqual([second.messages, second.next], [1, { createdAt: T0 - 1, id: a.message.id }]);
      const third = await store.retention.purge(T0 + DAY, 2, second.next);
      assert.deepEqual([third.messages, third.next], [1, null], 'fewer than the limit: the last old one');
      assert.deepEqual([(await store.messages.get(held.message.id))?.expired, (await store.messages.get(b.message.id))?.expired], [false, true]);
    });

    it('keeps apps, bots (versioned) and channels', async () => {
      await store.apps.insert({ id: 'cs-1', name: 'kore', secretSealed: 's1', createdAt: T0, updatedAt: T0 });
      assert.equal((await store.apps.byName('kore'))?.id, 'cs-1');
      assert.equal((await store.apps.update('cs-1', { secretSealed: 's2', updatedAt: T0 + 1 }))?.secretSealed, 's2');
      assert.equal((await store.apps.list({ limit: 10 })).length, 1);
      const v1 = await store.bots.save({ id: 'demo', name: 'Demo', source: 'bot.yaml', definition: '{}', knowledge: '[]', updatedAt: T0 }, T0);
      const v2 = await store.bots.save({ id: 'demo', name: 'Demo 2', source: 'bot.yaml', definition: '{"a":1}', knowledge: '[]', updatedAt: T0 + 5 }, T0 + 5);
      assert.equal(v1.version, 1);
      assert.equal(v2.version, 2);
      assert.equal(v2.createdAt, T0);
      assert.equal((await store.bots.get('demo'))?.definition, '{"a":1}');
      const channel = (id: string) => ({ id, name: null, botId: 'demo', kind: 'kore-webhook', mode: 'sync' as const, appId: 'cs-1', endpointId: null, syncTimeoutSeconds: 15, provider: null, inboundTokenHash: id === 'ch_b' ? 'hash-b' : null, settings: { limit: id }, createdAt: T0, updatedAt: T0 });
      await store.channels.insert(channel('ch_b'));
      await store.channels.insert(channel('ch_a'));
      assert.deepEqual((await store.channels.forBot('demo')).map((c) => c.id), ['ch_a', 'ch_b']);
      assert.equal((await store.channels.update('ch_b', { mode: 'async', endpointId: 'ep_1', updatedAt: T0 + 1 }))?.mode, 'async');
      assert.deepEqual((await store.channels.byInboundToken('hash-b'))?.settings, { limit: 'ch_b' });
      assert.equal(await store.channels.byInboundToken('nope'), null);
      assert.deepEqual((await store.channels.ofKind('kore-webhook')).map((c) => c.id), ['ch_a', 'ch_b']);
      // What an app, an endpoint or a name is used by: every field given must hold.
      await store.channels.update('ch_a', { name: 'support', updatedAt: T0 + 1 });
      const where = async (filter: Parameters<typeof store.channels.where>[0]) => (await store.channels.where(filter)).map((c) => c.id);
      assert.deepEqual(await where({ appId: 'cs-1' }), ['ch_a', 'ch_b']);
      assert.deepEqual(await where({ appId: 'cs-2' }), []);
      assert.deepEqual(await where({ endpointId: 'ep_1' }), ['ch_b']);
      assert.deepEqual(await where({ name: 'support' }), ['ch_a']);
      assert.deepEqual(await where({ name: 'support', appId: 'cs-1' }), ['ch_a']);
      assert.deepEqual(await where({ name: 'support', endpointId: 'ep_1' }), []);
      assert.equal(await store.channels.delete('ch_a'), true);
      assert.equal(await store.apps.delete('cs-1'), true);
      assert.equal(await store.apps.get('cs-1'), null);
    });

    const incoming = (text: string, at = T0) => newMessage({ eventType: 'message.received', payload: JSON.stringify({ text }), createdAt: at, endpointIds: [] });
    const receive = (channelId: string, userKey: string, text: string, identities: { kind: string; value: string }[] = [], at = T0) =>
      store.conversations.receive({ conversationId: newId('msg').replace('msg_', 'conv_'), botId: 'demo', channelId, userKey, identities, newUserId: newId('msg').replace('msg_', 'usr_'), message: incoming(text, at), now: at }, routeAll);

    it('purges a conversation\'s incoming messages but its newest one and those whose turn has not run', async () => {
      const a = [await receive('ch_r', 'u1', 'one'), await receive('ch_r', 'u1', 'two', [], T0 + 1), await receive('ch_r', 'u1', 'three', [], T0 + 2)];
      assert.equal(await store.conversations.dropPendingTurns(a[0].conversation.id), 3, 'their turns ran');
      const waiting = [await receive('ch_r', 'u2', 'still waiting'), await receive('ch_r', 'u2', 'and me', [], T0 + 1)];
      assert.equal((await store.retention.purge(T0 + DAY, 10)).messages, 2);
      const expired = async (m: { message: { id: string } }) => (await store.messages.get(m.message.id))?.expired;
      assert.deepEqual([await expired(a[0]), await expired(a[1]), await expired(a[2])], [true, true, false], 'the newest addresses later replies');
      assert.deepEqual([await expired(waiting[0]), await expired(waiting[1])], [false, false], 'their turns need them');
    });

    it("finds each user's latest conversation per channel in bot mode and in a handoff, the one that talked last first", async () => {
      const ann = [{ kind: 'email', value: 'ann@example.com' }];
      const first = await receive('ch_0', 'ann', 'hi', ann);
      const others = [];
      for (let i = 1; i < 12; i++) others.push(await receive(`ch_${i}`, `ann-${i}`, 'hi', ann, T0 + i));
      await receive('ch_5', 'ann-5b', 'hi', ann, T0 + 60); // a second conversation on ch_5: the later one counts
      await receive('ch_0', 'ann', 'again', ann, T0 + 100); // the oldest conversation talks again
      await store.conversations.act(others[10].conversation.id, () => ({ mode: 'agent', messages: [] }), routeAll, T0 + 200); // ch_11: with an agent
      // ch_4: a newer conversation waits for an agent, an older one in a handoff too: the bot's and the newer one count
      const waiting = [await receive('ch_4', 'ann-4w', 'hi', ann, T0 + 70), await receive('ch_4', 'ann-4x', 'hi', ann, T0 + 80)];
      for (const w of waiting) await store.conversations.act(w.conversation.id, () => ({ mode: 'waiting', messages: [] }), routeAll, T0 + 200);
      const bob = await receive('ch_b', 'bob', 'hi', [{ kind: 'email', value: 'bob@example.com' }], T0 + 50);
      const [annId, bobId] = [first.conversation.userId!, bob.conversation.userId!];
      const latest = await store.conversations.latestPerChannel([annId, bobId, 'usr_nobody']);
      assert.deepEqual(latest.map((c) => c.lastMessageAt), latest.map((c) => c.lastMessageAt).sort((a, b) => b - a));
      assert.deepEqual(latest.filter((c) => c.userId === bobId).map((c) => c.id), [bob.conversation.id]);
      assert.deepEqual(
        latest.filter((c) => c.userId === annId).map((c) => `${c.channelId}/${c.userKey}/${c.mode}`),
        ['ch_0/ann/bot', 'ch_4/ann-4x/waiting', 'ch_5/ann-5b/bot', 'ch_11/ann-11/agent', 'ch_10/ann-10/bot', 'ch_9/ann-9/bot', 'ch_8/ann-8/bot', 'ch_7/ann-7/bot',
          'ch_6/ann-6/bot', 'ch_4/ann-4/bot', 'ch_3/ann-3/bot', 'ch_2/ann-2/bot', 'ch_1/ann-1/bot'],
      );
      assert.deepEqual(await store.conversations.latestPerChannel([]), []);
    });

    it('opens a conversation per channel and user, and links people across channels by identity', async () => {
      const a = await receive('ch_1', 'u1', 'hello', [{ kind: 'kore', value: 'ch_1:u1' }, { kind: 'email', value: 'ann@example.com' }]);
      const b = await receive('ch_1', 'u1', 'again', [{ kind: 'kore', value: 'ch_1:u1' }], T0 + 1);
      const c = await receive('ch_2', 'ann-2', 'hi', [{ kind: 'email', value: 'ann@example.com' }], T0 + 2);
      assert.equal(a.conversation.id, b.conversation.id);
      assert.notEqual(a.conversation.id, c.conversation.id);
      assert.ok(a.conversation.userId);
      assert.equal(c.conversation.userId, a.conversation.userId);
      assert.equal(b.conversation.lastMessageAt, T0 + 1);
      assert.equal((await store.conversations.get(a.conversation.id))?.lastMessageAt, T0 + 1, 'stored too');
      assert.deepEqual(await store.users.identities(a.conversation.userId!), [{ kind: 'email', value: 'ann@example.com' }, { kind: 'kore', value: 'ch_1:u1' }]);
      assert.equal((await store.users.byIdentity({ kind: 'email', value: 'ann@example.com' }))?.id, a.conversation.userId);
      assert.equal(a.message.turnStatus, 'pending');
      assert.deepEqual(a.message.conversation, { conversationId: a.conversation.id, direction: 'incoming', replyTo: null });
      assert.deepEqual((await store.conversations.withPendingTurns(10)).sort(), [a.conversation.id, c.conversation.id].sort());
      // Paged by a cursor, in id order.
      const [first, second] = [a.conversation.id, c.conversation.id].sort();
      assert.deepEqual(await store.conversations.withPendingTurns(1), [first]);
      assert.deepEqual(await store.conversations.withPendingTurns(1, first), [second]);
      assert.deepEqual(await store.conversations.withPendingTurns(1, second), []);
      assert.equal((await store.conversations.list({ userId: a.conversation.userId! }, { limit: 10 })).length, 2);
      assert.equal((await store.messages.list({ conversationId: a.conversation.id }, { limit: 10 })).length, 2);
      // A deleted channel's conversation: its waiting turns are ended, the messages stay.
      assert.equal(await store.conversations.dropPendingTurns(a.conversation.id), 2);
      assert.equal(await store.conversations.dropPendingTurns(a.conversation.id), 0);
      assert.deepEqual(await store.conversations.withPendingTurns(10), [c.conversation.id]);
      assert.equal((await store.messages.list({ conversationId: a.conversation.id }, { limit: 10 })).length, 2);
    });

    it('links a conversation to the user of the first of its identities that is known, whatever was stored first', async () => {
      // bob@example.com is known first (a user made through the API), then the Kore identity (another person so far).
      assert.deepEqual(await store.users.attach('usr_email', [{ kind: 'email', value: 'bob@example.com' }], T0), { conflict: null, created: true });
      const kore = await receive('ch_1', 'u9', 'hi', [{ kind: 'kore', value: 'demo:u9' }], T0 + 1);
      const both = await receive('ch_2', 'u9', 'hi', [{ kind: 'kore', value: 'demo:u9' }, { kind: 'email', value: 'bob@example.com' }], T0 + 2);
      assert.equal(both.conversation.userId, kore.conversation.userId, 'the channel identity, listed first, decides');
      const reversed = await receive('ch_3', 'u9', 'hi', [{ kind: 'email', value: 'bob@example.com' }, { kind: 'kore', value: 'demo:u9' }], T0 + 3);
      assert.equal(reversed.conversation.userId, 'usr_email');
    });

    it('refuses to attach identities another user has, naming the first of them in the order given, and changes nothing', async () => {
      await store.users.attach('usr_owner', [{ kind: 'phone', value: '+15550001' }, { kind: 'email', value: 'own@example.com' }], T0);
      const taken = [{ kind: 'phone', value: '+15550001' }, { kind: 'email', value: 'own@example.com' }];
      assert.deepEqual(await store.users.attach('usr_other', [{ kind: 'email', value: 'free@example.com' }, ...taken], T0), { conflict: taken[0], created: false });
      assert.deepEqual(await store.users.attach('usr_other', [...taken].reverse(), T0), { conflict: taken[1], created: false });
      assert.equal(await store.users.get('usr_other'), null);
      assert.equal(await store.users.byIdentity({ kind: 'email', value: 'free@example.com' }), null);
    });

    it('receives a batch with its turns run in the same transaction: the row gets the turn and the message time', async () => {
      const first = await receive('ch_1', 'u1', 'hello', [{ kind: 'kore', value: 'ch_1:u1' }]);
      await store.conversations.takeTurn(first.conversation.id, () => ({ state: 'greeted', memory: {}, lastPrompt: [], messages: [] }), routeAll, T0);
      const input = (userKey: string, text: string, at: number) => ({
        conversationId: newId('msg').replace('msg_', 'conv_'), botId: 'demo', channelId: 'ch_1', userKey, identities: [{ kind: 'kore', value: 'ch_1:u1' }], knownUserId: first.conversation.userId,
        newUserId: newId('msg').replace('msg_', 'usr_'), message: incoming(text, at), now: at,
      });
      const run = (conversation: { state: string | null }, m: { payload: string | null }) => ({
        state: `${conversation.state}+${JSON.parse(m.payload!).text}`, memory: { last: JSON.parse(m.payload!).text }, lastPrompt: [], messages: [],
      });
      const all = await store.conversations.receiveAll([input('u1', 'again', T0 + 5), input('u2', 'new here', T0 + 6)], run, routeAll, T0 + 7);
      assert.ok(all.every((r) => !(r instanceof ItemFailed)));
      const [known, fresh] = all as Received[];
      assert.equal(known.conversation.id, first.conversation.id);
      assert.ok(known.turn && fresh.turn);
      const stored = await store.conversations.get(first.conversation.id);
      assert.equal(stored?.state, 'greeted+again');
      assert.deepEqual(stored?.memory, { last: 'again' });
      assert.equal(stored?.lastMessageAt, T0 + 5);
      assert.equal(stored?.updatedAt, T0 + 7);
      const other = await store.conversations.get(fresh.conversation.id);
      assert.equal(other?.state, 'null+new here');
      assert.equal(other?.lastMessageAt, T0 + 6);
      assert.equal(other?.userId, first.conversation.userId, 'a known person is linked to a new conversation by their identities');
    });

    it('links a new conversation by its identities, not by a remembered user that is gone', async () => {
      const at = T0 + 50;
      const received = await store.conversations.receive({
        conversationId: newId('msg').replace('msg_', 'conv_'), botId: 'demo', channelId: 'ch_9', userKey: 'back-again',
        identities: [{ kind: 'email', value: 'back@example.com' }], knownUserId: 'usr_deleted_meanwhile',
        newUserId: newId('msg').replace('msg_', 'usr_'), message: incoming('hello again', at), now: at,
      }, routeAll);
      const userId = received.conversation.userId;
      assert.ok(userId && userId !== 'usr_deleted_meanwhile');
      assert.equal((await store.users.byIdentity({ kind: 'email', value: 'back@example.com' }))?.id, userId);
    });

    it('runs turns one at a time, in arrival order, with their writes and replies committed together', async () => {
      const ep = endpointRecord({ ordered: true });
      await store.endpoints.insert(ep);
      const first = await receive('ch_1', 'u1', 'one');
      const second = await receive('ch_1', 'u1', 'two', [], T0 + 1);
      const conversationId = first.conversation.id;
      const seen: string[] = [];
      const run = (conversation: { memory: Record<string, string> }, message: { id: string; payload: string | null }) => {
        const text = JSON.parse(message.payload!).text as string;
        seen.push(text);
        return {
          state: text === 'one' ? 'waiting' : null,
          memory: { ...conversation.memory, [text]: 'yes' },
          lastPrompt: [{ text: `asked after ${text}` }],
          messages: [newMessage({ eventType: 'message.created', payload: JSON.stringify({ text: `re: ${text}` }), endpointIds: [ep.id], orderingKey: conversationId, conversation: { conversationId, direction: 'outgoing' as const, replyTo: message.id } })],
        };
      };
      const [t1, t2] = await Promise.all([
        store.conversations.takeTurn(conversationId, run, routeAll, T0 + 10),
        store.conversations.takeTurn(conversationId, run, routeAll, T0 + 11),
      ]);
      assert.deepEqual(seen, ['one', 'two']);
      assert.ok(t1 && t2);
      const last = [t1, t2].find((t) => t.incoming.id === second.message.id)!;
      assert.deepEqual(last.conversation.memory, { one: 'yes', two: 'yes' });
      assert.equal(last.conversation.state, null);
      assert.equal(last.published[0].deliveryIds.length, 1);
      assert.equal(await store.conversations.takeTurn(conversationId, run, routeAll, T0 + 12), null);
      assert.deepEqual(await store.conversations.withPendingTurns(10), []);
      const replies = await store.conversations.replies(first.message.id);
      assert.equal(replies.length, 1);
      assert.equal(JSON.parse(replies[0].payload!).text, 're: one');
      assert.equal(replies[0].conversation?.direction, 'outgoing');
      const stored = await store.conversations.get(conversationId);
      assert.deepEqual(stored?.lastPrompt, [{ text: 'asked after two' }]);
      assert.equal((await store.messages.get(first.message.id))?.turnStatus, 'done');
      assert.equal((await store.messages.list({ conversationId, direction: 'outgoing' }, { limit: 10 })).length, 2);
    });

    it('opens, assigns and closes handoff sessions with the conversation\'s mode, one claimant winning', async () => {
      const first = await receive('ch_h', 'u-h', 'talk to a human');
      const conversationId = first.conversation.id;
      let transcriptSeen: string[] = [];
      const opened = await store.conversations.takeTurn(conversationId, (conversation) => ({
        state: null, memory: conversation.memory, lastPrompt: [], messages: [], mode: 'waiting',
        handoff: { kind: 'open', id: 'hof_1', reason: 'asked' },
        announce: (transcript) => {
          transcriptSeen = transcript.map((m) => JSON.parse(m.payload!).text);
          return [newMessage({ eventType: 'handoff.requested', payload: JSON.stringify({ transcript: transcriptSeen }), endpointIds: [] })];
        },
      }), routeAll, T0 + 1);
      assert.equal(opened?.conversation.mode, 'waiting');
      assert.deepEqual(transcriptSeen, ['talk to a human']);
      assert.equal(opened?.published.length, 1);
      assert.equal((await store.handoffs.get('hof_1'))?.status, 'waiting');
      assert.deepEqual((await store.handoffs.waitingSince(T0 + 2, 10)).map((h) => h.id), ['hof_1']);
      await store.agents.insert({ id: 'agt_1', name: 'Ann', tokenHash: 'th1', isActive: true, createdAt: T0, updatedAt: T0 });
      await store.agents.insert({ id: 'agt_2', name: 'Bob', tokenHash: 'th2', isActive: true, createdAt: T0, updatedAt: T0 });
      assert.equal((await store.agents.byTokenHash('th2'))?.name, 'Bob');
      const claim = (agentId: string) => store.conversations.act(conversationId, (_c, handoff) => {
        if (!handoff || handoff.status !== 'waiting') throw new Error('taken');
        return { mode: 'agent', handoff: { kind: 'assign', id: handoff.id, agentId }, messages: [] };
      }, routeAll, T0 + 3);
      const results = await Promise.allSettled([claim('agt_1'), claim('agt_2')]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one agent wins');
      const held = (await store.handoffs.get('hof_1'))!;
      assert.equal(held.status, 'active');
      assert.ok(held.agentId === 'agt_1' || held.agentId === 'agt_2');
      assert.equal((await store.conversations.get(conversationId))?.mode, 'agent');
      // Closed by the other agent (as when its holder was deactivated): the session records who closed it.
      const closer = held.agentId === 'agt_1' ? 'agt_2' : 'agt_1';
      const closed = await store.conversations.act(conversationId, (_c, handoff) => ({
        mode: 'bot', state: 'satisfaction', handoff: { kind: 'close', id: handoff!.id, by: 'agent', agentId: closer, resumeState: 'satisfaction' }, messages: [],
      }), routeAll, T0 + 4);
      assert.equal(closed.handoff?.status, 'closed');
      assert.equal(closed.handoff?.closedBy, 'agent');
      assert.equal(closed.handoff?.agentId, closer);
      assert.equal(closed.conversation.mode, 'bot');
      assert.equal(closed.conversation.state, 'satisfaction');
      assert.equal((await store.handoffs.list({ status: 'waiting' }, { limit: 10 })).length, 0);
      assert.equal((await store.handoffs.list({ conversationId }, { limit: 10 })).length, 1);
    });

    it('never hands the same delivery to two concurrent claims', async () => {
      await store.endpoints.insert(endpointRecord());
      await publish(Array.from({ length: 200 }, () => newMessage()));
      const results = await Promise.all(['a', 'b', 'c', 'd'].map((w) => claim({ workerId: w, limit: 80 })));
      const ids = results.flat().map((d) => d.id);
      assert.equal(new Set(ids).size, ids.length);
      assert.equal(ids.length, 200);
    });
  });
}
