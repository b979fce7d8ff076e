// Each step of the notification policy, driven through the real engine on a real (in-memory SQLite) store with
// a hand-moved clock: no sleeps, no timing.
import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock, createSeededRandom } from '../../src/clock.ts';
import { createIdGenerator } from '../../src/ids.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { createNotifyEngine, type NotifyEngineService } from '../../src/notify/engine.ts';
import { recordOnlyRouter, type NotificationRouter } from '../../src/notify/router.ts';
import { notifySettings, typeSettings, type NotifySettings } from '../../src/notify/settings.ts';
import { optedOut } from '../../src/notify/batch.ts';

const H = 3_600_000;
// Noon UTC: outside quiet hours for a user in UTC.
const NOON = Date.UTC(2026, 2, 2, 12);

let clock: ReturnType<typeof createManualClock>;
let store: Store;
let engine: NotifyEngineService;

async function setup(settings: Partial<NotifySettings> = {}, router: NotificationRouter = recordOnlyRouter): Promise<void> {
  clock = createManualClock(NOON);
  const newId = createIdGenerator(clock);
  store = createSqliteStore({ file: ':memory:', newId });
  await store.migrate();
  engine = createNotifyEngine({
    store, clock, random: createSeededRandom(7), newId, router, workerId: 'gw-test',
    // Mean exploration and no attention cost: these tests pin the value rule exactly (the attention cost has its own test).
    settings: notifySettings({ exploration: 'mean', fatigueCost: false, ...settings }),
  });
  await engine.reloadOverrides();
}

const one = async (userId: string, eventType: string, params: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  (await engine.decide([{ userId, eventType, params, ...extra }]))[0];

describe('notification policy', () => {
  beforeEach(() => setup({ types: { marketing_offer: { value: 0.3, cost: 0.01, cooldownHours: 24, ttlHours: 6, priorMean: 0.05, templates: [{ id: 'a', text: 'Offer {{params.code|for you}}' }] } } }));

  it('notifies a worthwhile event and stores the decision with its reason', async () => {
    const d = await one('u1', 'low_balance', { balance: 3 });
    assert.equal(d.decision, 'notify');
    assert.equal(d.reason, 'sent');
    assert.ok(d.notificationId && d.variant === 'a');
    assert.ok(d.score! > 0);
    const stored = await store.notify.decisions({ userId: 'u1' }, { limit: 10 });
    assert.deepEqual(stored.map((s) => [s.decision, s.reason]), [['notify', 'sent']]);
    const n = await store.notify.notification(d.notificationId!);
    assert.equal(n?.status, 'sent');
    assert.equal(n?.text, 'Your account balance is low. Would you like to top up?');
  });

  it('skips an event seen in the last 24 h: by the caller\'s key, or by its content', async () => {
    const first = await one('u1', 'low_balance', { balance: 3 }, { idempotencyKey: 'evt-1' });
    const again = await one('u1', 'low_balance', { balance: 4 }, { idempotencyKey: 'evt-1' });
    assert.deepEqual([again.decision, again.reason, again.duplicateOf], ['skip', 'dedup', first.id]);
    const at = NOON - H;
    const a = await one('u2', 'payment_failed', { id: 9 }, { occurredAt: at });
    const b = await one('u2', 'payment_failed', { id: 9 }, { occurredAt: at });
    assert.equal(a.decision, 'notify');
    assert.deepEqual([b.decision, b.reason], ['skip', 'dedup']);
    // Inside one batch too.
    const [c, d] = await engine.decide([{ userId: 'u3', eventType: 'payment_failed', params: {}, occurredAt: at }, { userId: 'u3', eventType: 'payment_failed', params: {}, occurredAt: at }]);
    assert.deepEqual([c.reason, d.reason], ['critical', 'dedup']);
    // After 24 h the key is free again.
    clock.advance(25 * H);
    const later = await one('u1', 'low_balance', { balance: 3 }, { idempotencyKey: 'evt-1' });
    assert.notEqual(later.reason, 'dedup');
  });

  it('takes an event without occurred_at as of when it came: two sends a moment apart are two events, though decided in one group', async () => {
    // Calls arriving while a batch is decided are decided together; each keeps its own time (and content key).
    const calls = [];
    for (let i = 0; i < 3; i++) {
      calls.push(engine.decide([{ userId: 'u1', eventType: 'payment_failed', params: { invoice: 7 } }]));
      clock.advance(5);
    }
    const decided = (await Promise.all(calls)).map(([d]) => [d.reason, d.decidedAt - NOON]);
    assert.deepEqual(decided, [['critical', 0], ['critical', 5], ['critical', 10]]);
    // The same content at the same time is still one event.
    const [a, b] = await engine.decide([{ userId: 'u2', eventType: 'payment_failed', params: { invoice: 7 } }, { userId: 'u2', eventType: 'payment_failed', params: { invoice: 7 } }]);
    assert.deepEqual([a.reason, b.reason, b.duplicateOf], ['critical', 'dedup', a.id]);
  });

  it('counts the send of an event stamped a little ahead of the clock as of now: the cooldown and cap of the next events see it', async () => {
    const M = 60_000;
    const ahead = await one('u1', 'low_balance', { b: 1 }, { occurredAt: NOON + 4 * M }); // a producer's clock 4 minutes fast
    assert.equal(ahead.reason, 'sent');
    assert.equal((await store.notify.notification(ahead.notificationId!))?.sentAt, NOON);
    clock.advance(M);
    assert.equal((await one('u1', 'low_balance', { b: 2 })).reason, 'cooldown');
    await setup({ types: Object.fromEntries(['n1', 'n2', 'n3', 'n4'].map((name) => [name, { value: 1, priorMean: 0.5 }])) });
    for (const name of ['n1', 'n2', 'n3']) assert.equal((await one('u2', name, {}, { occurredAt: NOON + 4 * M })).reason, 'sent');
    clock.advance(M);
    assert.equal((await one('u2', 'n4', {})).reason, 'cap');
  });

  it('counts a key still held now for an event stamped a little ahead of the clock, past the key\'s expiry', async () => {
    const first = await one('u1', 'payment_failed', {}, { idempotencyKey: 'pay-7' });
    clock.advance(24 * H - 60_000); // the key expires in a minute
    // The producer's clock runs 2 minutes fast: the event says it happened after the key's expiry. The store would
    // not take over a key held now, so the engine counts it as seen rather than failing its commit again and again.
    const again = await one('u1', 'payment_failed', {}, { idempotencyKey: 'pay-7', occurredAt: clock.now() + 2 * 60_000 });
    assert.deepEqual([again.decision, again.reason, again.duplicateOf], ['skip', 'dedup', first.id]);
  });

  it('keeps a replayed old event\'s key for the dedup window after it was seen, past the scheduler\'s purge', async () => {
    await setup({ types: { old_alert: { critical: true, ttlHours: 1000 } } });
    const occurredAt = NOON - 72 * H;
    const first = await one('u1', 'old_alert', {}, { idempotencyKey: 'replay-7', occurredAt });
    assert.equal(first.decision, 'notify');
    await store.notify.purgeKeys(clock.now() - 24 * H, 5000); // what the scheduler's tick does
    const again = await one('u1', 'old_alert', {}, { idempotencyKey: 'replay-7', occurredAt });
    assert.deepEqual([again.decision, again.reason, again.duplicateOf], ['skip', 'dedup', first.id]);
  });

  it('applies an admin override of a pattern type to the types it matches, the type\'s own override last', async () => {
    await store.notify.putOverride('security_*', { templates: [{ id: 'x', text: 'Security notice' }] }, clock.now());
    await store.notify.putOverride('promo_*', { critical: true, templates: [{ id: 'p', text: 'Promo' }] }, clock.now());
    await store.notify.putOverride('security_reset', { templates: [{ id: 'y', text: 'Your password was reset' }] }, clock.now());
    await engine.reloadOverrides();
    assert.equal(engine.type('security_login').templates[0].text, 'Security notice');
    assert.equal(engine.type('security_login').critical, true, 'the config pattern\'s fields stay');
    assert.equal(engine.type('security_reset').templates[0].text, 'Your password was reset');
    const promo = engine.type('promo_summer');
    assert.deepEqual([promo.known, promo.critical], [true, true]);
    assert.equal((await one('u9', 'promo_summer')).reason, 'critical');
  });

  it('judges each event\'s key by its own time, whatever else its batch holds', async () => {
    assert.equal((await one('u7', 'payment_failed', {}, { idempotencyKey: 'x' })).reason, 'critical');
    clock.advance(30 * H);
    // The key expired 6 h ago; another event of the batch happened 20 h ago (its reads reach back that far).
    const [again, other] = await engine.decide([
      { userId: 'u7', eventType: 'payment_failed', params: {}, idempotencyKey: 'x' },
      { userId: 'u8', eventType: 'payment_failed', params: {}, occurredAt: clock.now() - 20 * H },
    ]);
    assert.deepEqual([again.reason, other.reason], ['critical', 'critical']);
  });

  it('takes the caller\'s key instead of the content, and one user\'s key is not another\'s', async () => {
    // Two events the same to the content key (same params, same moment) but keyed apart by the caller: both count.
    const [k1, k2] = await engine.decide([
      { userId: 'u4', eventType: 'payment_failed', params: { amount: 5 }, idempotencyKey: 'pay-1' },
      { userId: 'u4', eventType: 'payment_failed', params: { amount: 5 }, idempotencyKey: 'pay-2' },
    ]);
    assert.deepEqual([k1.reason, k2.reason], ['critical', 'critical']);
    // The same key from another user's event is another event.
    const [alice, bob] = await engine.decide([
      { userId: 'alice', eventType: 'payment_failed', params: {}, idempotencyKey: 'order-1' },
      { userId: 'bob', eventType: 'payment_failed', params: {}, idempotencyKey: 'order-1' },
    ]);
    assert.deepEqual([alice.reason, bob.reason], ['critical', 'critical']);
    assert.equal((await one('bob', 'payment_failed', {}, { idempotencyKey: 'order-1' })).reason, 'dedup');
  });

  it('sends critical types past cooldown, cap, quiet hours and a global mute, but not past an explicit opt-out', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await one('u1', 'payment_failed', { attempt: i })).reason, 'critical');
    assert.equal((await one('u1', 'security_login', { ip: '1' })).reason, 'critical');
    await engine.updateUser('u1', { preferences: { muted: true } });
    assert.equal((await one('u1', 'payment_failed', { attempt: 9 })).reason, 'critical');
    await engine.updateUser('u1', { tz: 'Asia/Tokyo' }); // 21:00 UTC is 06:00 in Tokyo: quiet hours
    clock.set(Date.UTC(2026, 2, 2, 21));
    assert.equal((await one('u1', 'payment_failed', { attempt: 10 })).reason, 'critical');
    await engine.updateUser('u1', { preferences: { opt_outs: [{ event_type: 'payment_failed', channel: '*' }] } });
    assert.deepEqual([(await one('u1', 'payment_failed', { attempt: 11 })).reason], ['preference']);
  });

  it('honours opt-outs per type and the global mute for non-critical types', async () => {
    await engine.updateUser('u1', { preferences: { opt_outs: [{ event_type: 'low_balance', channel: '*' }] } });
    assert.equal((await one('u1', 'low_balance', { b: 1 })).reason, 'preference');
    assert.equal((await one('u1', 'trial_expiring', { b: 1 })).reason, 'sent');
    await engine.updateUser('u2', { preferences: { muted: true } });
    assert.equal((await one('u2', 'trial_expiring', { b: 1 })).reason, 'preference');
  });

  it('matches opt-outs by type, by prefix* pattern and * (non-critical only), on a channel of any case', () => {
    const settings = notifySettings({});
    const offer = typeSettings(settings, 'marketing_offer');
    const security = typeSettings(settings, 'security_login');
    assert.ok(security.critical);
    const out = (event_type: string, channel = '*') => ({ opt_outs: [{ event_type, channel }] });
    assert.ok(optedOut(out('marketing_offer'), offer, 'freshchat'));
    assert.ok(optedOut(out('marketing_*'), offer, 'freshchat'));
    assert.ok(optedOut(out('*'), offer, 'freshchat'));
    assert.ok(!optedOut(out('market*x'), offer, 'freshchat'));
    assert.ok(!optedOut(out('billing_*'), offer, 'freshchat'));
    assert.ok(optedOut(out('security_login'), security, null), 'a critical type by its name');
    assert.ok(!optedOut(out('security_*'), security, null), 'not by a pattern');
    assert.ok(optedOut(out('marketing_offer', 'Freshchat'), offer, 'freshchat'));
    assert.ok(optedOut(out('marketing_offer', 'freshchat'), offer, 'FreshChat'));
    assert.ok(!optedOut(out('marketing_offer', 'zendesk'), offer, 'freshchat'));
    assert.ok(!optedOut(out('marketing_offer', 'freshchat'), offer, null), 'a channel opt-out is not an opt-out of every channel');
  });

  it('keeps a cooldown per type and a rolling cap of 3 non-critical per 24 h', async () => {
    await setup({ quietHours: { start: '03:00', end: '03:00' } }); // no quiet hours: this test runs through the night
    assert.equal((await one('u1', 'low_balance', { b: 1 })).reason, 'sent');
    clock.advance(H);
    assert.equal((await one('u1', 'low_balance', { b: 2 })).reason, 'cooldown');
    clock.advance(12 * H);
    assert.equal((await one('u1', 'low_balance', { b: 3 })).reason, 'sent');
    clock.advance(H);
    assert.equal((await one('u1', 'trial_expiring', { b: 1 })).reason, 'sent');
    clock.advance(H);
    assert.equal((await one('u1', 'cart_abandoned', { b: 1 })).reason, 'cap');
    assert.equal((await one('u1', 'payment_failed', { b: 1 })).reason, 'critical');
    clock.advance(11 * H); // the first send leaves the 24 h window
    assert.equal((await one('u1', 'cart_abandoned', { b: 2 })).reason, 'sent');
  });

  it('holds non-critical events in quiet hours, sends them when the window opens, drops them after their TTL', async () => {
    await engine.updateUser('u1', { tz: 'America/New_York' });
    clock.set(Date.UTC(2026, 2, 3, 4)); // 23:00 in New York
    const d = await one('u1', 'low_balance', { b: 1 });
    assert.deepEqual([d.decision, d.reason], ['defer', 'quiet_hours']);
    const held = await store.notify.notification(d.notificationId!);
    assert.equal(held?.dueAt, Date.UTC(2026, 2, 3, 13)); // 08:00 EST
    clock.set(Date.UTC(2026, 2, 3, 12));
    assert.deepEqual((await engine.runDue()).sent, []);
    clock.set(Date.UTC(2026, 2, 3, 13));
    const due = await engine.runDue();
    assert.deepEqual(due.sent.map((s) => s.id), [d.notificationId]);
    assert.equal((await store.notify.notification(d.notificationId!))?.status, 'sent');
    // A held one whose TTL passes before the window opens is dropped as expired.
    await engine.updateUser('u2', { tz: 'America/New_York' });
    clock.set(Date.UTC(2026, 2, 4, 4));
    const e = await one('u2', 'marketing_offer', { code: 'X' });
    assert.equal(e.reason, 'quiet_hours');
    clock.set(Date.UTC(2026, 2, 4, 13));
    const dropped = await engine.runDue();
    assert.deepEqual(dropped.dropped, [{ id: e.notificationId, reason: 'expired' }]);
  });

  it('judges quiet hours when the message would leave: a late event (occurred_at before 22:00, decided after) is held', async () => {
    await engine.updateUser('u3', { tz: 'UTC' });
    clock.set(Date.UTC(2026, 2, 3, 22, 15));
    const late = await one('u3', 'low_balance', { b: 2 }, { occurredAt: Date.UTC(2026, 2, 3, 21, 45) });
    assert.deepEqual([late.decision, late.reason], ['defer', 'quiet_hours']);
    assert.equal((await store.notify.notification(late.notificationId!))?.dueAt, Date.UTC(2026, 2, 4, 8));
  });

  it('coalesces: a new event of a pending (user, type) updates it, latest wins', async () => {
    await engine.updateUser('u1', { tz: 'America/New_York' });
    clock.set(Date.UTC(2026, 2, 3, 4));
    const first = await one('u1', 'low_balance', { balance: 9 });
    const second = await one('u1', 'low_balance', { balance: 2 });
    assert.deepEqual([second.decision, second.reason, second.notificationId], ['defer', 'coalesced', first.notificationId]);
    const n = await store.notify.notification(first.notificationId!);
    assert.deepEqual(n?.params, { balance: 2 });
    clock.set(Date.UTC(2026, 2, 3, 13));
    assert.equal((await engine.runDue()).sent.length, 1);
  });

  it('coalesces by when events happened: an older event arriving late neither replaces the newer facts nor moves them', async () => {
    await engine.updateUser('u1', { tz: 'America/New_York' });
    const night = Date.UTC(2026, 2, 3, 4);
    clock.set(night);
    const first = await one('u1', 'low_balance', { balance: 2 }, { occurredAt: night - 60_000 });
    const older = await one('u1', 'low_balance', { balance: 9 }, { occurredAt: night - 30 * 60_000, deliverAt: night + 20 * H });
    assert.deepEqual([older.decision, older.reason, older.notificationId], ['defer', 'coalesced', first.notificationId]);
    let n = await store.notify.notification(first.notificationId!);
    assert.deepEqual([n?.params, n?.dueAt, n?.occurredAt], [{ balance: 2 }, Date.UTC(2026, 2, 3, 13), night - 60_000]);
    // In one batch too, whatever the order the events come in.
    await engine.decide([
      { userId: 'u1', eventType: 'low_balance', params: { balance: 1 }, occurredAt: night },
      { userId: 'u1', eventType: 'low_balance', params: { balance: 5 }, occurredAt: night - 10 * 60_000 },
    ]);
    n = await store.notify.notification(first.notificationId!);
    assert.deepEqual(n?.params, { balance: 1 });
    clock.set(Date.UTC(2026, 2, 3, 13));
    assert.deepEqual((await engine.runDue()).sent.map((s) => s.id), [first.notificationId]);
  });

  it('coalesces into a waiting notification with a later deliver_at: it lives the TTL past its new time, then is sent', async () => {
    await engine.updateUser('u1', { tz: 'America/New_York' });
    clock.set(Date.UTC(2026, 2, 3, 4)); // night in New York: held by quiet hours
    const first = await one('u1', 'marketing_offer', { code: 'A' });
    assert.equal(first.reason, 'quiet_hours');
    const later = Date.UTC(2026, 2, 4, 15); // past the type's 6 h TTL from the first event
    const second = await one('u1', 'marketing_offer', { code: 'B' }, { deliverAt: later });
    assert.deepEqual([second.reason, second.notificationId], ['coalesced', first.notificationId]);
    clock.set(later);
    const due = await engine.runDue();
    assert.deepEqual([due.sent.map((n) => n.id), due.dropped.length], [[first.notificationId], 0]);
  });

  it('schedules an event for deliver_at and checks it then', async () => {
    const d = await one('u1', 'low_balance', { b: 1 }, { deliverAt: NOON + 2 * H });
    assert.deepEqual([d.decision, d.reason], ['defer', 'scheduled']);
    clock.advance(H);
    assert.equal((await engine.runDue()).sent.length, 0);
    clock.advance(H);
    assert.deepEqual((await engine.runDue()).sent.map((s) => s.id), [d.notificationId]);
  });

  it('decides a late event now when its deliver_at has passed too: deferred as scheduled only for a time still ahead', async () => {
    const late = await one('u1', 'low_balance', { b: 1 }, { occurredAt: NOON - 2 * H, deliverAt: NOON - H });
    assert.deepEqual([late.decision, late.reason], ['notify', 'sent']);
    const critical = await one('u2', 'payment_failed', { b: 1 }, { occurredAt: NOON - 2 * H, deliverAt: NOON - H });
    assert.deepEqual([critical.decision, critical.reason], ['notify', 'critical']);
    const ahead = await one('u3', 'low_balance', { b: 1 }, { occurredAt: NOON - 2 * H, deliverAt: NOON + H });
    assert.deepEqual([ahead.decision, ahead.reason], ['defer', 'scheduled']);
  });

  it('holds a due notification the cap stops as pending for the cap, not for what held it before', async () => {
    await setup({ types: Object.fromEntries(['n1', 'n2', 'n3', 'n4'].map((name) => [name, { value: 1, priorMean: 0.5, ttlHours: 48 }])) });
    await engine.updateUser('u1', { tz: 'America/New_York' });
    clock.set(Date.UTC(2026, 2, 3, 4)); // 23:00 in New York: all four are held for the morning
    const held = await engine.decide(['n1', 'n2', 'n3', 'n4'].map((eventType) => ({ userId: 'u1', eventType, params: {} })));
    assert.deepEqual(held.map((d) => d.reason), ['quiet_hours', 'quiet_hours', 'quiet_hours', 'quiet_hours']);
    clock.set(Date.UTC(2026, 2, 3, 13));
    const due = await engine.runDue();
    assert.deepEqual([due.sent.length, due.held], [3, 1]);
    const fourth = await store.notify.notification(held[3].notificationId!);
    assert.deepEqual([fourth?.status, fourth?.reason], ['pending', 'cap']);
    assert.ok((await store.notify.outcomeCounts(0)).some((o) => o.eventType === 'n4' && o.status === 'pending' && o.reason === 'cap'));
  });

  it('lets batchable types wait in a digest window', async () => {
    await setup({ types: { news: { value: 1, digestMinutes: 30, priorMean: 0.5, templates: [{ id: 'a', text: '{{params.count}} new items' }] } } });
    const a = await one('u1', 'news', { count: 1 });
    const b = await one('u1', 'news', { count: 2 });
    assert.deepEqual([a.reason, b.reason, b.notificationId], ['digest', 'coalesced', a.notificationId]);
    clock.advance(30 * 60_000);
    const due = await engine.runDue();
    assert.deepEqual(due.sent.map((s) => s.text), ['2 new items']);
  });

  it('scores value × p̂ × fatigue against cost: one ignored message lowers p̂ but never to zero; a click raises it', async () => {
    // marketing: 0.3 × 0.05 = 0.015 ≥ 0.01 for a new user.
    const first = await one('u1', 'marketing_offer', { code: 'A' });
    assert.equal(first.reason, 'sent');
    assert.ok(Math.abs(first.score! - 0.015) < 1e-9, String(first.score));
    clock.advance(25 * H);
    const second = await one('u1', 'marketing_offer', { code: 'B' });
    assert.ok(second.score! < first.score! && second.score! > 0, `${second.score}`);
    // A user who clicked scores higher than one who ignored.
    clock.advance(25 * H);
    const n = await one('u2', 'marketing_offer', { code: 'C' });
    assert.equal(await engine.recordClick(n.notificationId!), 'recorded');
    assert.equal(await engine.recordClick(n.notificationId!), 'duplicate');
    clock.advance(25 * H);
    const clicked = await one('u2', 'marketing_offer', { code: 'D' });
    const ignored = await one('u1', 'marketing_offer', { code: 'E' });
    assert.ok(clicked.score! > ignored.score!, `${clicked.score} > ${ignored.score}`);
  });

  it('keeps engagement counts finite past 1,024 half-lives: the same events 1,000 days later are decided alike', async () => {
    // A half-life of 6 h: the weights 2^((t − 2026-01-01)/half-life) passed 2^1024 (Infinity) in September 2026, and
    // from then on every decayed count was NaN. The simulation spans 150 days (600 half-lives, past one rebase).
    const DAY = 24 * H;
    const simulate = async (start: number) => {
      await setup({
        halfLifeDays: 0.25, exploration: 'thompson', fatigueCost: true,
        types: { promo: { value: 0.5, cost: 0.03, cooldownHours: 0, priorMean: 0.1, templates: [{ id: 'a', text: 'A' }, { id: 'b', text: 'B' }] } },
      });
      clock.set(start);
      const out: [string, string, string | null, number | null][] = [];
      for (let day = 0; day < 150; day++) {
        for (const hour of [9, 13, 17]) {
          clock.set(start + day * DAY + hour * H);
          const decided = await engine.decide(['u0', 'u1', 'u2', 'u3'].map((userId) => ({ userId, eventType: 'promo', params: { day, hour } })));
          for (const [i, d] of decided.entries()) {
            out.push([d.decision, d.reason, d.variant, d.score]);
            // u0 clicks everything, u1 variant b, u2 nothing, u3 every third day.
            if (d.notificationId && (i === 0 || (i === 1 && d.variant === 'b') || (i === 3 && day % 3 === 0))) await engine.recordClick(d.notificationId);
          }
        }
      }
      const { shift } = await store.notify.loadState({ userIds: [], keys: [], types: [], now: clock.now(), sendsSince: clock.now() });
      return { out, shift };
    };
    const { out: early, shift: earlyShift } = await simulate(Date.UTC(2026, 0, 1));
    const { out: later, shift: laterShift } = await simulate(Date.UTC(2026, 0, 1) + 1000 * DAY);
    // Rebased once past 500 half-lives (day 125); the later run rebased at its start (4,000 half-lives), then once more.
    assert.deepEqual([earlyShift, laterShift], [501, 4501]);
    assert.ok(early.every(([, , , score]) => score !== null && Number.isFinite(score)), 'every score is a number');
    assert.ok(new Set(early.map(([, reason]) => reason)).size > 1, 'sent and skipped both happen');
    assert.deepEqual(later.map(([decision, reason, variant]) => [decision, reason, variant]), early.map(([decision, reason, variant]) => [decision, reason, variant]));
    for (const [i, [, , , score]] of later.entries()) assert.ok(Math.abs(score! - early[i][3]!) <= 1e-9 * early[i][3]!, `decision ${i}: ${score} vs ${early[i][3]}`);
  });

  it('charges a send the attention it takes from the user\'s other notifications of the next 24 h', async () => {
    await setup({ fatigueCost: true, quietHours: { start: '03:00', end: '03:00' }, types: { promo: { value: 0.3, cost: 0.012, priorMean: 0.1, templates: [{ id: 'a', text: 'P' }] } } });
    // A user with no other notifications: promo is worth 0.3 × 0.1 = 0.03 ≥ 0.012.
    assert.equal((await one('quiet', 'promo', { n: 1 })).reason, 'sent');
    // A user who gets low balance warnings every few hours: the same promo would cost them more than it brings.
    for (let i = 0; i < 8; i++) {
      assert.equal((await one('busy', 'low_balance', { i })).reason, i === 0 ? 'sent' : 'cooldown');
      clock.advance(6 * H);
      if (i % 2 === 1) await one('busy', 'low_balance', { again: i });
    }
    const busy = await one('busy', 'promo', { n: 1 });
    assert.equal(busy.reason, 'below_value');
    assert.ok(busy.score! >= 0.012, `the promo alone is worth ${busy.score}: only the attention cost stops it`);
  });

  it('skips below value, with the score', async () => {
    await setup({ types: { marketing_offer: { value: 0.3, cost: 0.05, priorMean: 0.05 } } });
    const d = await one('u1', 'marketing_offer', {});
    assert.equal(d.reason, 'below_value');
    assert.ok(d.score! > 0 && d.score! < 0.05);
  });

  it('expires events older than their TTL, and refuses unknown types in strict mode', async () => {
    assert.equal((await one('u1', 'low_balance', {}, { occurredAt: NOON - 25 * H })).reason, 'expired');
    assert.notEqual((await one('u1', 'brand_new_type', {})).reason, 'unknown_type'); // the default type's policy
    await setup({ strict: true });
    assert.equal((await one('u1', 'brand_new_type', {})).reason, 'unknown_type');
  });

  it('skips with no_channel when no destination takes the user', async () => {
    await setup({}, { prepare: async () => ({ candidates: () => [] }) });
    assert.equal((await one('u1', 'payment_failed', {})).reason, 'no_channel');
  });

  it('does not coalesce critical types: a second payment_failed while one waits is its own notification', async () => {
    const first = await one('u1', 'payment_failed', { invoice: 1 }, { deliverAt: NOON + H });
    const second = await one('u1', 'payment_failed', { invoice: 2 }, { deliverAt: NOON + H });
    assert.deepEqual([first.reason, second.reason], ['scheduled', 'scheduled']);
    assert.notEqual(first.notificationId, second.notificationId);
    const third = await one('u1', 'payment_failed', { invoice: 3 });
    assert.equal(third.reason, 'critical', 'sent now, not folded into a waiting one');
    const marketing = [await one('u1', 'marketing_offer', { code: 'A' }, { deliverAt: NOON + H }), await one('u1', 'marketing_offer', { code: 'B' }, { deliverAt: NOON + H })];
    assert.deepEqual(marketing.map((d) => d.reason), ['scheduled', 'coalesced'], 'a non-critical one is');
  });

  it('renders a missing template value with its fallback and logs it', async () => {
    const warnings: Record<string, unknown>[] = [];
    const newId = createIdGenerator(clock);
    const logged = createNotifyEngine({
      store, clock, random: createSeededRandom(7), newId, router: recordOnlyRouter, workerId: 'gw-test',
      settings: notifySettings({ exploration: 'mean', fatigueCost: false, types: { promo: { value: 1, cost: 0, templates: [{ id: 'a', text: 'Hi {{params.name|there}}, {{params.code}} inside' }] } } }),
      log: { warn: (object) => void warnings.push(object) },
    });
    await logged.reloadOverrides();
    const [d] = await logged.decide([{ userId: 'u9', eventType: 'promo', params: {} }]);
    assert.equal(d.reason, 'sent');
    assert.equal((await store.notify.notification(d.notificationId!))?.text, 'Hi there,  inside');
    assert.equal(warnings.length, 1);
    assert.deepEqual(warnings[0].missing, ['params.name', 'params.code']);
  });

  it('picks variants by Thompson sampling: the clicked variant wins, and a frozen one is always used', async () => {
    await setup({ types: { promo: { value: 1, cost: 0, priorMean: 0.5, templates: [{ id: 'a', text: 'A' }, { id: 'b', text: 'B' }] } }, capPer24h: 1e9 });
    const shown: Record<string, number> = { a: 0, b: 0 };
    for (let i = 0; i < 300; i++) {
      const d = await one(`u${i}`, 'promo', { i });
      shown[d.variant!]++;
      if (d.variant === 'b' || i % 10 === 0) await engine.recordClick(d.notificationId!);
    }
    assert.ok(shown.b > 200, JSON.stringify(shown));
    await store.notify.putOverride('promo', { frozenVariant: 'a' }, clock.now());
    await engine.reloadOverrides();
    for (let i = 0; i < 20; i++) assert.equal((await one(`v${i}`, 'promo', { i })).variant, 'a');
  });
});
