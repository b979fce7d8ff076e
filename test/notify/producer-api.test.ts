// The producer surface through the real HTTP app, on SQLite and PostgreSQL: POST /api/events (one, a batch, bad input), the legacy
// BotOptimizer routes answering exactly as DESIGN.md gives them, and tracked links (a click changes the next
// decision; forged tokens are 404). Kore.ai's proactive API and scheduled work have files of their own.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DEMO_BOT_FILE } from '../../src/provision.ts';
import { ADMIN_TOKEN, eventually, type TestGateway } from '../helpers/gateway.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { startBackendGateway, testBackends } from '../helpers/backends.ts';

type Json = any;
const PRODUCER_KEY = 'test-producer-key-0123456789';

for (const backend of await testBackends()) describe(`notification producer API (${backend.name})`, { skip: backend.skip }, () => {
  let gw: TestGateway;
  let dropSchema = async () => {};
  let base: string;
  let platform: Receiver;
  let inboundToken: string;

  async function http(method: string, path: string, body?: unknown, headers: Record<string, string> = { authorization: `Bearer ${PRODUCER_KEY}` }): Promise<{ status: number; body: Json; headers: Headers }> {
    const response = await fetch(base + path, {
      method, redirect: 'manual',
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: Json = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // HTML
    }
    return { status: response.status, body: parsed, headers: response.headers };
  }
  const event = (body: unknown) => http('POST', '/api/events', body);
  /** A platform user who has talked to the bot: notifications reach them through the platform's webhook. */
  async function platformUser(userId: string): Promise<string> {
    const r = await http('POST', '/api/webhook/incoming', { user_id: userId, username: 'Ada', message: 'hello', platform: 'freshchat', conversation_id: `c-${userId}` }, { authorization: `Bearer ${inboundToken}` });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    // The platform identity is written with the turn, before the 200.
    return (await gw.store.users.byIdentity({ kind: 'platform', value: `freshchat:${userId}` }))!.id;
  }
  const toUser = (userId: string) => platform.requests.map((r) => JSON.parse(r.body)).filter((b) => b.user_id === userId && b.message);

  before(async () => {
    // No quiet hours: this gateway runs on the real clock, and its non-critical sends must not depend on the time of
    // day the suite runs at (quiet hours have their own tests, on an injected clock).
    const env = {
      BOTGATE_PORT: '0', BOTGATE_NOTIFY__PRODUCER_KEY: PRODUCER_KEY, BOTGATE_NOTIFY__EXPLORATION: 'mean', BOTGATE_NOTIFY__TICK_SECONDS: '0.1',
      BOTGATE_NOTIFY__QUIET_HOURS__START: '00:00', BOTGATE_NOTIFY__QUIET_HOURS__END: '00:00',
    };
    ({ gw, drop: dropSchema } = await startBackendGateway(backend, env, { start: false }));
    await gw.bots.load(DEMO_BOT_FILE);
    await gw.start();
    base = await gw.listen();
    platform = await startReceiver((_q, res) => void res.writeHead(200).end());
    const config = await gw.api('POST', '/api/webhook/config', { name: 'freshchat', outgoing_webhook_url: platform.url });
    assert.equal(config.status, 201);
    inboundToken = config.body.inbound_token;
  });
  after(async () => {
    await gw.close();
    await platform.close();
    await dropSchema();
  });

  it('refuses a missing or wrong producer key, and the admin token, with 401', async () => {
    const body = { user_id: 'u', event_type: 'low_balance' };
    for (const headers of [{}, { authorization: 'Bearer nope-nope-nope' }, { 'x-api-key': 'nope' }, { authorization: `Bearer ${ADMIN_TOKEN}` }] as Record<string, string>[]) {
      const r = await http('POST', '/api/events', body, headers);
      assert.equal(r.status, 401);
      assert.equal(r.body.code, 'BG_ERR_UNAUTHORIZED');
    }
    assert.equal((await http('POST', '/kore-webhook', { userInfo: { email: 'a@b.c' }, eventType: 'x' }, {})).status, 401);
    assert.equal((await http('POST', '/feedback', { user_id: 'a', event_type: 'x' }, {})).status, 401);
    assert.equal((await http('POST', '/api/events', body, { 'x-api-key': PRODUCER_KEY })).status, 200);
  });

  it('decides one event and sends the notification through the user\'s channel', async () => {
    const userId = await platformUser('p-ada');
    const r = await event({ user_id: userId, event_type: 'payment_failed', params: { amount: 12 }, idempotency_key: 'pf-1' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual([r.body.decision, r.body.reason], ['notify', 'critical']);
    assert.match(r.body.notification_id, /^ntf_/);
    await eventually(() => toUser('p-ada').some((b) => b.message === 'Your payment failed. Would you like to retry?'));
    const again = await event({ user_id: userId, event_type: 'payment_failed', params: { amount: 12 }, idempotency_key: 'pf-1' });
    assert.deepEqual([again.body.decision, again.body.reason, again.body.duplicate_of], ['skip', 'dedup', r.body.id]);
    // The user answers in the conversation: engagement with the notification (a click), counted once.
    const reply = await http('POST', '/api/webhook/incoming', { user_id: 'p-ada', username: 'Ada', message: 'what happened?', platform: 'freshchat', conversation_id: 'c-p-ada' }, { authorization: `Bearer ${inboundToken}` });
    assert.equal(reply.status, 200);
    await eventually(async () => (await gw.store.notify.notification(r.body.notification_id))?.clickedAt);
    // A user nobody can reach: created on first sight, decided, skipped for want of a channel.
    const lost = await event({ user_id: 'nobody-known', event_type: 'payment_failed' });
    assert.deepEqual([lost.body.decision, lost.body.reason], ['skip', 'no_channel']);
    assert.ok(await gw.store.users.get('nobody-known'));
  });

  it('takes an Idempotency-Key header as the idempotency_key: a retry is a dedup skip; in a batch, <key>:<n>', async () => {
    const userId = await platformUser('p-hdr');
    const headers = { authorization: `Bearer ${PRODUCER_KEY}`, 'idempotency-key': 'hdr-pay-1' };
    const first = await http('POST', '/api/events', { user_id: userId, event_type: 'payment_failed' }, headers);
    assert.deepEqual([first.body.decision, first.body.reason], ['notify', 'critical']);
    const retry = await http('POST', '/api/events', { user_id: userId, event_type: 'payment_failed' }, headers);
    assert.deepEqual([retry.body.decision, retry.body.reason, retry.body.duplicate_of], ['skip', 'dedup', first.body.id]);
    const batch = { events: [{ user_id: userId, event_type: 'payment_failed' }, { user_id: userId, event_type: 'payment_failed', idempotency_key: 'own' }] };
    const b1 = await http('POST', '/api/events', batch, { ...headers, 'idempotency-key': 'hdr-batch' });
    assert.deepEqual(b1.body.decisions.map((d: Json) => d.decision), ['notify', 'notify']);
    const b2 = await http('POST', '/api/events', batch, { ...headers, 'idempotency-key': 'hdr-batch' });
    assert.deepEqual(b2.body.decisions.map((d: Json) => d.duplicate_of), b1.body.decisions.map((d: Json) => d.id));
    const byName = await http('POST', '/api/events', { user_id: userId, event_type: 'payment_failed', idempotency_key: 'hdr-batch:0' }, { authorization: `Bearer ${PRODUCER_KEY}` });
    assert.equal(byName.body.duplicate_of, b1.body.decisions[0].id, 'the n-th event of a batch is keyed <key>:<n>');
    const long = await http('POST', '/api/events', { user_id: userId, event_type: 'payment_failed' }, { ...headers, 'idempotency-key': 'k'.repeat(201) });
    assert.deepEqual([long.status, long.body.code], [400, 'BG_ERR_VALIDATION']);
  });

  it('lets a user opt out in the conversation: "stop offers" writes a preference the policy honours', async () => {
    const userId = await platformUser('p-stop');
    const sent = await event({ user_id: userId, event_type: 'payment_failed', params: { amount: 1 } });
    assert.equal(sent.body.reason, 'critical');
    const said = await http('POST', '/api/webhook/incoming', { user_id: 'p-stop', username: 'Ada', message: 'Stop offers!', platform: 'freshchat', conversation_id: 'c-p-stop' }, { authorization: `Bearer ${inboundToken}` });
    assert.equal(said.body.response.answer, "Done: you won't get offers from us any more.");
    // Opting out answers the notification, but not in its favour: no engagement recorded.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await gw.store.notify.notification(sent.body.notification_id))?.clickedAt, null);
    assert.deepEqual((await gw.store.users.get(userId))?.preferences, { opt_outs: [{ event_type: 'marketing_offer', channel: '*' }] });
    const offer = await event({ user_id: userId, event_type: 'marketing_offer', params: { code: 'X' } });
    assert.deepEqual([offer.body.decision, offer.body.reason], ['skip', 'preference']);
    assert.equal((await event({ user_id: userId, event_type: 'payment_failed', params: { n: 1 } })).body.reason, 'critical');
  });

  it('decides a batch in order, and refuses batches over the limit and malformed events', async () => {
    const events = Array.from({ length: 5 }, (_, i) => ({ user_id: `b${i % 2}`, event_type: 'payment_failed', params: { i } }));
    const r = await event({ events });
    assert.equal(r.status, 200);
    assert.equal(r.body.decisions.length, 5);
    assert.deepEqual(r.body.decisions.map((d: Json) => d.user_id), ['b0', 'b1', 'b0', 'b1', 'b0']);
    const big = await event({ events: Array.from({ length: 1001 }, () => ({ user_id: 'x', event_type: 'y' })) });
    assert.deepEqual([big.status, big.body.code], [413, 'BG_ERR_BATCH_TOO_LARGE']);
    for (const bad of [{}, { user_id: 'x' }, { user_id: 'x', event_type: 'y', params: 'no' }, { user_id: 'x', event_type: 'y', extra: 1 }, { user_id: 'x', event_type: 'y', occurred_at: 'yesterday' }, { events: [] }]) {
      const res = await event(bad);
      assert.equal(res.status, 400, JSON.stringify(bad));
      assert.match(res.body.code, /^BG_ERR_/);
    }
    const text = await fetch(base + '/api/events', { method: 'POST', headers: { authorization: `Bearer ${PRODUCER_KEY}`, 'content-type': 'application/json' }, body: '{"user_id":' });
    assert.equal(text.status, 400);
  });

  it('names the field a refused event lacks, in a batch too (the batch form\'s reasons, not the single event\'s)', async () => {
    const cases: [unknown, RegExp][] = [
      [{ events: [{ user_id: 'u', event_type: 'low_balance' }, { user_id: 'u' }] }, /body\.events\.1 must have "event_type"/],
      [{ events: [] }, /body\.events must NOT have fewer than 1 items/],
      [{ events: [1] }, /body\.events\.0 must be object/],
      [{ user_id: 'u' }, /body must have "event_type"/],
    ];
    for (const [body, message] of cases) {
      const r = await event(body);
      assert.deepEqual([r.status, r.body.code], [400, 'BG_ERR_VALIDATION'], JSON.stringify(body));
      assert.match(r.body.message, message);
    }
    assert.equal((await event({ events: [{ user_id: 'u', event_type: 'low_balance', colour: 'red' }] })).body.code, 'BG_ERR_UNKNOWN_FIELD');
  });

  it('refuses an occurred_at in the future (more than 5 minutes ahead), and decides nothing of such a batch', async () => {
    const ahead = (ms: number) => new Date(Date.now() + ms).toISOString();
    const one = await event({ user_id: 'future-1', event_type: 'low_balance', occurred_at: ahead(3_600_000) });
    assert.deepEqual([one.status, one.body.code], [400, 'BG_ERR_VALIDATION']);
    assert.match(one.body.message, /occurred_at is in the future/);
    const batch = await event({ events: [{ user_id: 'future-2', event_type: 'low_balance' }, { user_id: 'future-2', event_type: 'low_balance', occurred_at: ahead(86_400_000 * 365) }] });
    assert.deepEqual([batch.status, batch.body.code], [400, 'BG_ERR_VALIDATION']);
    assert.match(batch.body.message, /events\[1\]\.occurred_at/);
    const users = await http('GET', '/api/users/future-2', undefined, { authorization: `Bearer ${ADMIN_TOKEN}` });
    assert.equal(users.status, 404, 'nothing of the refused batch was decided');
    const skewed = await event({ user_id: 'future-3', event_type: 'low_balance', occurred_at: ahead(60_000) });
    assert.equal(skewed.status, 200, 'a producer clock a minute fast is fine');
    // A deliver_at more than a year ahead: its notification's expiry would be no date (year 10000); refused.
    const far = await event({ events: [{ user_id: 'future-4', event_type: 'reminder' }, { user_id: 'future-4', event_type: 'reminder', deliver_at: '9999-12-31T00:00:00Z' }] });
    assert.deepEqual([far.status, far.body.code], [400, 'BG_ERR_VALIDATION']);
    assert.match(far.body.message, /events\[1\]\.deliver_at is more than a year ahead/);
    assert.equal((await event({ user_id: 'future-4', event_type: 'reminder', deliver_at: ahead(86_400_000 * 300) })).status, 200);
    // params.kore_channel picks Kore.ai's notify channel, which takes msteams or slack only: a typo is a 400 now,
    // not a delivery Kore refuses, retried for days.
    const typo = await event({ events: [{ user_id: 'kc-1', event_type: 'low_balance' }, { user_id: 'kc-1', event_type: 'low_balance', params: { kore_channel: 'slak' } }] });
    assert.deepEqual([typo.status, typo.body.code], [400, 'BG_ERR_VALIDATION']);
    assert.match(typo.body.message, /^events\[1\]\.params\.kore_channel must be msteams or slack .*got "slak"/);
    assert.equal((await event({ user_id: 'kc-1', event_type: 'low_balance', params: { kore_channel: 'slack' } })).status, 200);
    // RFC 3339 allows a leap second, which no clock here can read: refused, not decided as "now" or a 500.
    for (const field of ['occurred_at', 'deliver_at']) {
      const leap = await event({ user_id: 'leap-1', event_type: 'low_balance', [field]: '2016-12-31T23:59:60Z' });
      assert.deepEqual([leap.status, leap.body.code], [400, 'BG_ERR_VALIDATION'], field);
    }
  });

  it('answers the legacy /kore-webhook and /feedback exactly as specified', async () => {
    const shown = await http('POST', '/kore-webhook', { userInfo: { email: 'Legacy@Example.com' }, eventType: 'payment_failed', parameters: { amount: 5 } });
    assert.equal(shown.status, 200);
    assert.deepEqual(shown.body, { response: { text: 'Your payment failed. Would you like to retry?', type: 'text' }, expectUserResponse: true });
    const user = await gw.store.users.byIdentity({ kind: 'email', value: 'legacy@example.com' });
    assert.ok(user, 'the user is created with the email identity');
    // A type the config does not name gets the default policy (legacy "anything else 0.1"): not worth a send.
    const skipped = await http('POST', '/kore-webhook', { userInfo: { email: 'legacy@example.com' }, eventType: 'newsletter', parameters: {} });
    assert.deepEqual(Object.keys(skipped.body).sort(), ['score', 'status']);
    assert.equal(skipped.body.status, 'skipped');
    // value 0.1 × prior 0.1 × fatigue e^(−0.25) for the one send of the last 24 h, below the cost 0.012.
    assert.ok(Math.abs(skipped.body.score - 0.01 * Math.exp(-0.25)) < 1e-9, String(skipped.body.score));
    assert.deepEqual((await http('POST', '/feedback', { user_id: 'legacy@example.com', event_type: 'payment_failed' })).body, { status: 'recorded' });
    assert.deepEqual((await http('POST', '/feedback', { user_id: 'legacy@example.com', event_type: 'payment_failed' })).body, { status: 'recorded' });
    const sent = await gw.store.notify.latestSent(user.id, 'payment_failed', 0);
    assert.ok(sent?.clickedAt, 'the click is recorded on the notification');
    const stats = await gw.store.notify.typeStats('payment_failed');
    const engagement = (await gw.store.notify.exportUser(user.id))!.engagement[0];
    assert.ok(Math.abs(engagement.clickedW - engagement.shownW) < 1e-9, 'two feedback calls count one click');
    assert.ok(stats.variants.get('')!.clickedW > 0);
    // Nothing left botgate on this route.
    assert.equal(sent?.destination, 'caller');
    assert.equal((await http('POST', '/kore-webhook', { userInfo: {}, eventType: 'x' })).status, 400);
    // A blank email is no address (it made one user of every caller sending spaces): 400, and no user is made.
    const blank = await http('POST', '/kore-webhook', { userInfo: { email: '    ' }, eventType: 'payment_failed' });
    assert.deepEqual([blank.status, blank.body.code], [400, 'BG_ERR_VALIDATION']);
    assert.equal(await gw.store.users.byIdentity({ kind: 'email', value: '' }), null);
    const notAnAddress = await http('POST', '/kore-webhook', { userInfo: { email: 'nope' }, eventType: 'payment_failed' });
    assert.deepEqual([notAnAddress.status, notAnAddress.body.code], [400, 'BG_ERR_VALIDATION']);
    assert.equal(await gw.store.users.byIdentity({ kind: 'email', value: 'nope' }), null);
  });

  it('tracks clicks with signed links: a click raises the next decision\'s score; forged and unknown tokens are 404', async () => {
    await gw.store.notify.putOverride('promo', { value: 1, cost: 0, cooldownHours: 0, priorMean: 0.2, templates: [{ id: 'a', text: 'Deal: {{link}}' }] }, gw.clock.now());
    await gw.notify.engine.reloadOverrides();
    const clicker = await platformUser('p-click');
    const ignorer = await platformUser('p-ignore');
    const first = await event({ events: [{ user_id: clicker, event_type: 'promo', params: { url: 'https://shop.example/deal', n: 1 } }, { user_id: ignorer, event_type: 'promo', params: { url: 'https://shop.example/deal', n: 1 } }] });
    assert.deepEqual(first.body.decisions.map((d: Json) => d.reason), ['sent', 'sent']);
    const delivered = await eventually(() => toUser('p-click').find((b) => /\/r\//.test(b.message)));
    const link = new URL(delivered.message.replace('Deal: ', ''));
    assert.equal(link.origin, base);
    const click = await http('GET', link.pathname, undefined, {});
    assert.equal(click.status, 302);
    assert.equal(click.headers.get('location'), 'https://shop.example/deal');
    assert.equal((await http('GET', link.pathname, undefined, {})).status, 302); // counted once (checked below)
    // A link scanner's HEAD is no click (the ignorer's score stays below the clicker's, checked below).
    const ignored = await eventually(() => toUser('p-ignore').find((b) => /\/r\//.test(b.message)));
    const head = await http('HEAD', new URL(ignored.message.replace('Deal: ', '')).pathname, undefined, {});
    assert.deepEqual([head.status, head.headers.get('allow')], [405, 'GET']);
    const forged = await http('GET', link.pathname.slice(0, -3) + 'AAA', undefined, {});
    assert.deepEqual([forged.status, forged.body.code], [404, 'BG_ERR_LINK_NOT_FOUND']);
    assert.equal((await http('GET', '/r/ntf_unknown.abcdefghijklmnopqrstuv', undefined, {})).status, 404);
    const long = await http('GET', `/r/ntf_${'x'.repeat(300)}.abcdefghijklmnopqrstuv`, undefined, {}); // forged, however long
    assert.deepEqual([long.status, long.body.code], [404, 'BG_ERR_LINK_NOT_FOUND']);
    // A link older than 30 days has expired: 404, and no click is recorded.
    const old = await gw.store.notify.notification(first.body.decisions[1].notification_id);
    const longAgo = Date.now() - 31 * 86_400_000;
    await gw.store.notify.commit({ newUsers: [], keys: [], decisions: [], notifications: [{ ...old!, id: 'ntf_old_link', sentAt: longAgo, clickedAt: null }], engagement: [], typeStats: [], messages: [] }, () => [], Date.now());
    const expired = await http('GET', `/r/${gw.notify.links.token('ntf_old_link')}`, undefined, {});
    assert.deepEqual([expired.status, expired.body.code], [404, 'BG_ERR_LINK_NOT_FOUND']);
    assert.equal((await gw.store.notify.notification('ntf_old_link'))?.clickedAt, null);
    const exported = (await gw.store.notify.exportUser(clicker))!.engagement.find((e) => e.eventType === 'promo')!;
    assert.ok(Math.abs(exported.clickedW - exported.shownW) < 1e-9, 'one click for two visits');
    const next = await event({ events: [{ user_id: clicker, event_type: 'promo', params: { n: 2 } }, { user_id: ignorer, event_type: 'promo', params: { n: 2 } }] });
    const [c, i] = next.body.decisions;
    assert.ok(c.score > i.score, `clicked ${c.score} > ignored ${i.score}`);
    // A target HTTP cannot carry as it is (non-ASCII host and query) is redirected to, encoded; never a 500.
    const intl = await platformUser('p-intl');
    assert.equal((await event({ user_id: intl, event_type: 'promo', params: { url: 'https://例え.jp/x?q=ü', n: 3 } })).body.reason, 'sent');
    const sent = await eventually(() => toUser('p-intl').find((b) => /\/r\//.test(b.message)));
    const away = await http('GET', new URL(sent.message.replace('Deal: ', '')).pathname, undefined, {});
    assert.equal(away.status, 302);
    assert.equal(away.headers.get('location'), 'https://xn--r8jz45g.jp/x?q=%C3%BC');
  });

  it('answers a link with no target with an HTML thank-you page, and documents /r/{token} as it answers: HTML, 400 and 404, no 401', async () => {
    await gw.store.notify.putOverride('thanks', { value: 1, cost: 0, cooldownHours: 0, priorMean: 0.5, templates: [{ id: 'a', text: 'Noted: {{link}}' }] }, gw.clock.now());
    await gw.notify.engine.reloadOverrides();
    const user = await platformUser('p-thanks');
    assert.equal((await event({ user_id: user, event_type: 'thanks', params: {} })).body.reason, 'sent');
    const sent = await eventually(() => toUser('p-thanks').find((b) => /\/r\//.test(b.message)));
    const page = await http('GET', new URL(sent.message.replace('Noted: ', '')).pathname, undefined, {});
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.body, /Thanks!/);
    const tooLong = await http('GET', `/r/${'x'.repeat(600)}`, undefined, {});
    assert.deepEqual([tooLong.status, tooLong.body.code], [400, 'BG_ERR_VALIDATION']);
    const doc = (await http('GET', '/openapi.json', undefined, {})).body;
    const responses = doc.paths['/r/{token}'].get.responses;
    assert.deepEqual(Object.keys(responses).sort(), ['200', '302', '400', '404']);
    assert.deepEqual(Object.keys(responses['200'].content), ['text/html']);
  });

  it('fills {{ link }} written with spaces, as any other variable', async () => {
    await gw.store.notify.putOverride('spaced', { value: 1, cost: 0, priorMean: 0.5, templates: [{ id: 'a', text: 'Go {{ link }} now' }] }, gw.clock.now());
    await gw.notify.engine.reloadOverrides();
    const user = await platformUser('p-spaced');
    assert.equal((await event({ user_id: user, event_type: 'spaced', params: {} })).body.reason, 'sent');
    const sent = await eventually(() => toUser('p-spaced').find((b) => /^Go /.test(b.message)));
    assert.match(sent.message, /^Go http:\/\/[^ ]+\/r\/[^ ]+ now$/);
  });
});
