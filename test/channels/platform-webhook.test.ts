// The generic third-party platform webhook, POST /api/webhook/incoming, with a real loopback receiver standing for
// the platform: the reply in the answer and delivered to the outgoing webhook URL (signed, with the platform's token
// and headers), deduplication, every bad request answered in the platform's error shape, and the rate limit shared
// by two gateways on one PostgreSQL schema. Configs, history and signed sources have files of their own.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, type TestGateway } from '../helpers/gateway.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { freshSchema, postgresAvailability } from '../helpers/postgres.ts';
import { type Json, BALANCE, PIZZA, until, awayFromMinuteEdge, assertPlatformError, platformGateway, client, platformFixture } from './platform-helpers.ts';

describe('platform webhook (SQLite)', () => {
  const f = platformFixture();
  const { path, createConfig, repliesAt } = f;
  let c: ReturnType<typeof client>;
  before(() => ({ c } = f));

  describe('incoming messages', () => {
    let cfg: Json;
    before(async () => {
      cfg = await createConfig('freshchat', { auth_token: 'freshchat-api-key', custom_headers: { 'X-Freshchat-Account': 'acme' } });
    });

    it('answers with the bot\'s reply and delivers the same reply to the outgoing webhook, signed, with the platform\'s token', async () => {
      const sent = { user_id: 'fc-user-1', username: 'Ada', message: 'what is my balance', platform: 'freshchat', conversation_id: 'fc-conv-1', timestamp: new Date().toISOString(), metadata: { channel: 'web' } };
      const res = await c.incoming(cfg.inbound_token, sent);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.match(res.body.message_id, /^msg_/);
      assert.match(res.body.response_id, /^msg_/);
      assert.deepEqual(res.body, {
        success: true,
        response: {
          answer: BALANCE,
          response_type: 'text',
          user_info: { user_id: 'fc-user-1', username: 'Ada', conversation_id: 'fc-conv-1', mode: 'bot' },
          messages: [{ message: BALANCE, response_type: 'text' }],
        },
        message_id: res.body.message_id,
        response_id: res.body.response_id,
        duplicate: false,
      });

      const [reply] = await until(() => repliesAt('freshchat').length >= 1 && repliesAt('freshchat'));
      const body = JSON.parse(reply.body);
      assert.deepEqual(Object.keys(body).sort(), ['conversation_id', 'message', 'platform', 'response_type', 'timestamp', 'user_id']);
      assert.deepEqual({ ...body, timestamp: undefined }, { user_id: 'fc-user-1', conversation_id: 'fc-conv-1', platform: 'freshchat', message: BALANCE, response_type: 'text', timestamp: undefined });
      assert.ok(Math.abs(Date.parse(body.timestamp) - Date.now()) < 60_000, body.timestamp);
      assert.equal(reply.method, 'POST');
      assert.equal(reply.headers.authorization, 'Bearer freshchat-api-key');
      assert.equal(reply.headers['x-freshchat-account'], 'acme');
      assert.match(String(reply.headers['content-type']), /^application\/json/);
      assert.equal(reply.verified, true, 'signed with the config\'s whsec_ secret');
      assert.equal(reply.headers['webhook-id'], res.body.response_id, 'the delivered message is the response');
    });

    it('answers several replies, quick replies and metadata as the bot\'s customData; without a conversation_id botgate\'s own is used', async () => {
      const pizza = await c.incoming(cfg.inbound_token, { user_id: 'fc-user-2', message: 'order a pizza' });
      assert.equal(pizza.body.response.answer, PIZZA);
      const conversation = pizza.body.response.user_info.conversation_id;
      assert.match(conversation, /^cv_|^conv|^[a-z]+_/);
      assert.equal(pizza.body.response.user_info.username, null);
      const toppings = await c.incoming(cfg.inbound_token, { user_id: 'fc-user-2', message: '2' });
      assert.equal(toppings.body.response.response_type, 'quick_replies');
      assert.deepEqual(toppings.body.response.messages, [{ message: 'Which toppings?', response_type: 'quick_replies', quick_replies: ['Cheese', 'Pepperoni', 'Veggie'] }]);
      assert.equal(toppings.body.response.user_info.conversation_id, conversation, 'one conversation per user');
      const delivered = await until(() => {
        const mine = repliesAt('freshchat').map((r) => JSON.parse(r.body)).filter((b) => b.user_id === 'fc-user-2');
        return mine.length === 2 && mine;
      });
      assert.deepEqual(delivered.map((b) => b.conversation_id), [conversation, conversation]);
      assert.deepEqual(delivered[1].quick_replies, ['Cheese', 'Pepperoni', 'Veggie']);
      assert.equal(delivered[1].response_type, 'quick_replies');

      const rich = await c.incoming(cfg.inbound_token, { user_id: 'fc-user-3', message: 'what is my balance', metadata: { balance: '$42.00' } });
      assert.equal(rich.body.response.answer, 'Your balance is $42.00.');
    });

    it('accepts the platform named in any case, the scheme "bearer" in any case, and a message of exactly 10 KB', async () => {
      const named = await c.incoming(null, { user_id: 'fc-user-4', message: 'what is my balance', platform: 'FreshChat' }, { authorization: `bearer ${cfg.inbound_token}` });
      assert.equal(named.status, 200, JSON.stringify(named.body));
      assert.equal(named.body.response.answer, BALANCE);
      const full = await c.incoming(cfg.inbound_token, { user_id: 'fc-user-4', message: 'é'.repeat(5120) });
      assert.equal(full.status, 200, JSON.stringify(full.body).slice(0, 300));
    });
  });

  describe('deduplication', () => {
    let cfg: Json;
    let other: Json;
    before(async () => {
      cfg = await createConfig('dedup');
      other = await createConfig('dedup-other');
    });
    /** Delivered replies for a user, once the reply to a later, distinct sentinel message has arrived (ordered endpoint). */
    async function settledReplies(name: string, token: string, user: string) {
      const sentinel = await c.incoming(token, { user_id: user, message: 'order a pizza', message_id: `sentinel-${user}` });
      assert.equal(sentinel.body.duplicate, false);
      return until(() => {
        const mine = repliesAt(name).map((r) => JSON.parse(r.body)).filter((b) => b.user_id === user);
        return mine.at(-1)?.message === PIZZA && mine.slice(0, -1);
      });
    }
    const incomingOf = async (name: string, user: string) => (await c.history(`platform=${name}&message_type=incoming`)).filter((m) => m.user_id === user);

    for (const [how, key, extra] of [
      ['message_id', 'm-1', (k: string) => ({ body: { message_id: k }, headers: {} })],
      ['metadata.message_id', 'm-2', (k: string) => ({ body: { metadata: { message_id: k } }, headers: {} })],
      ['the Idempotency-Key header', 'm-3', (k: string) => ({ body: {}, headers: { 'idempotency-key': k } })],
    ] as const) {
      it(`answers a message seen before (${how}) with the original reply, processed once`, async () => {
        const user = `dd-${key}`;
        const first = await c.incoming(cfg.inbound_token, { user_id: user, message: 'what is my balance', ...extra(key).body }, extra(key).headers);
        assert.equal(first.status, 200);
        assert.equal(first.body.duplicate, false);
        // The same id again, even with other text: the original reply, not a new turn.
        const again = await c.incoming(cfg.inbound_token, { user_id: user, message: 'order a pizza', ...extra(key).body }, extra(key).headers);
        assert.equal(again.status, 200, JSON.stringify(again.body));
        assert.equal(again.body.duplicate, true);
        assert.deepEqual({ ...again.body, duplicate: false }, first.body);
        assert.deepEqual((await settledReplies('dedup', cfg.inbound_token, user)).map((b) => b.message), [BALANCE], 'one delivery');
        const stored = await incomingOf('dedup', user);
        assert.deepEqual(stored.map((m) => m.message).sort(), ['order a pizza', 'what is my balance'], 'the message and the sentinel, once each');
        assert.equal(stored.find((m) => m.message === 'what is my balance').id, first.body.message_id);
      });
    }

    it('takes a message with long integers (kept as their digits, not refused): two long message ids are two messages', async () => {
      const body = (id: string) => `{"user_id":"dd-long","message":"what is my balance","message_id":${id},"metadata":{"balance":12345678901234567890}}`;
      const first = await c.incoming(cfg.inbound_token, body('42345678901234567890'));
      const second = await c.incoming(cfg.inbound_token, body('42345678901234567891'));
      assert.deepEqual([first.status, second.status, second.body.duplicate], [200, 200, false], JSON.stringify(second.body));
    });

    it('processes a message sent several times at once exactly once', async () => {
      const user = 'dd-burst';
      const all = await Promise.all(Array.from({ length: 5 }, () => c.incoming(cfg.inbound_token, { user_id: user, message: 'what is my balance', message_id: 'burst-1' })));
      assert.ok(all.every((r) => r.status === 200), JSON.stringify(all.map((r) => r.body)));
      assert.equal(all.filter((r) => r.body.duplicate === false).length, 1, JSON.stringify(all.map((r) => r.body.duplicate)));
      const original = all.find((r) => r.body.duplicate === false)!.body;
      for (const r of all) assert.deepEqual({ ...r.body, duplicate: false }, original);
      assert.deepEqual((await settledReplies('dedup', cfg.inbound_token, user)).map((b) => b.message), [BALANCE]);
      assert.equal((await incomingOf('dedup', user)).length, 2);
    });

    it('does not take the same message_id from another user for a duplicate (nor answer with their reply)', async () => {
      const alice = await c.incoming(cfg.inbound_token, { user_id: 'dd-alice', message: 'what is my balance', message_id: 'm-collide' });
      const bob = await c.incoming(cfg.inbound_token, { user_id: 'dd-bob', message: 'hello', message_id: 'm-collide' });
      assert.equal(bob.status, 200);
      assert.equal(bob.body.duplicate, false);
      assert.notEqual(bob.body.message_id, alice.body.message_id);
      assert.match(bob.body.response.answer, /^Hi there!/, 'Bob\'s own answer, not Alice\'s balance');
    });

    it('does not take the same message_id from another config for a duplicate', async () => {
      const mine = await c.incoming(cfg.inbound_token, { user_id: 'dd-x', message: 'what is my balance', message_id: 'shared-id' });
      const theirs = await c.incoming(other.inbound_token, { user_id: 'dd-x', message: 'what is my balance', message_id: 'shared-id' });
      assert.equal(mine.body.duplicate, false);
      assert.equal(theirs.status, 200);
      assert.equal(theirs.body.duplicate, false);
      assert.notEqual(theirs.body.message_id, mine.body.message_id);
      await until(() => repliesAt('dedup-other').some((r) => JSON.parse(r.body).user_id === 'dd-x'));
      assert.equal((await incomingOf('dedup-other', 'dd-x')).length, 1);
    });
  });

  describe('bad requests', () => {
    let bad: Json;
    before(async () => {
      bad = await createConfig('badplatform', { provider: 'badprov' });
    });
    const ok = { user_id: 'bad-1', message: 'what is my balance' };

    it('missing token: 401', async () => {
      const res = await c.incoming(null, ok);
      assertPlatformError(res, 401, 'BG_ERR_TOKEN_INVALID');
      assert.equal(res.headers['www-authenticate'], 'Bearer');
      assertPlatformError(await c.incoming(null, ok, { authorization: 'Basic Zm9vOmJhcg==' }), 401, 'BG_ERR_TOKEN_INVALID');
    });
    it('wrong token: 401 (also an admin token, and a malformed body does not matter without a token)', async () => {
      assertPlatformError(await c.incoming('bgp_not-a-real-token', ok), 401, 'BG_ERR_TOKEN_INVALID');
      assertPlatformError(await c.incoming(ADMIN_TOKEN, ok), 401, 'BG_ERR_TOKEN_INVALID');
      assertPlatformError(await c.incoming('wrong', '{not json'), 401, 'BG_ERR_TOKEN_INVALID');
    });
    it('platform mismatch: 400', async () => {
      assertPlatformError(await c.incoming(bad.inbound_token, { ...ok, platform: 'freshchat' }), 400, 'BG_ERR_PLATFORM_MISMATCH');
    });
    it('message over 10 KB: 413 (counted in UTF-8 bytes); body over platform.body_limit_bytes: 413', async () => {
      assertPlatformError(await c.incoming(bad.inbound_token, { ...ok, message: 'a'.repeat(10 * 1024 + 1) }), 413, 'BG_ERR_MESSAGE_TOO_LARGE');
      assertPlatformError(await c.incoming(bad.inbound_token, { ...ok, message: 'é'.repeat(5121) }), 413, 'BG_ERR_MESSAGE_TOO_LARGE');
      assertPlatformError(await c.incoming(bad.inbound_token, { ...ok, metadata: { pad: 'x'.repeat(70 * 1024) } }), 413, 'BG_ERR_PAYLOAD_TOO_LARGE');
      const small = await createConfig('smallplatform', { max_message_bytes: 16 });
      assertPlatformError(await c.incoming(small.inbound_token, { user_id: 'small-1', message: 'what is my balance' }), 413, 'BG_ERR_MESSAGE_TOO_LARGE');
      assert.equal((await c.incoming(small.inbound_token, { user_id: 'small-1', message: 'order a pizza' })).status, 200);
      assert.deepEqual((await c.history('platform=smallplatform&message_type=incoming')).map((m) => m.message), ['order a pizza']);
    });
    it('malformed JSON: 400', async () => {
      assertPlatformError(await c.incoming(bad.inbound_token, '{"user_id": "bad-1", "message": '), 400, 'BG_ERR_INVALID_JSON');
      // An empty body counts as no body (as on the whole API): the body is missing.
      assertPlatformError(await c.incoming(bad.inbound_token, ''), 400, 'BG_ERR_VALIDATION');
      assertPlatformError(await c.incoming(bad.inbound_token, '{"user_id":"bad-1","message":"hi","__proto__":{"x":1}}'), 400, 'BG_ERR_VALIDATION');
    });
    it('missing user_id or message, or the wrong types: 400', async () => {
      assertPlatformError(await c.incoming(bad.inbound_token, { message: 'what is my balance' }), 400, 'BG_ERR_VALIDATION');
      assertPlatformError(await c.incoming(bad.inbound_token, { user_id: 'bad-1' }), 400, 'BG_ERR_VALIDATION');
      assertPlatformError(await c.incoming(bad.inbound_token, { user_id: 'bad-1', message: '' }), 400, 'BG_ERR_VALIDATION');
      // Only whitespace names no user and says nothing: refused as an empty one is, nothing stored.
      for (const blank of [{ user_id: '   ', message: 'what is my balance' }, { user_id: '\u00a0\t', message: 'hi' }, { user_id: 'bad-blank', message: '  \n ' }, { user_id: '\u200b', message: 'hi' }, { user_id: 'bad-blank', message: '\u2060\ufeff' }]) {
        const res = await c.incoming(bad.inbound_token, blank);
        assertPlatformError(res, 400, 'BG_ERR_VALIDATION');
        assert.match(res.body.error.message, /blank/);
      }
      assert.deepEqual((await c.history('platform=badplatform&message_type=incoming')).filter((m) => !m.user_id?.trim() || m.user_id === 'bad-blank'), []);
      assertPlatformError(await c.incoming(bad.inbound_token, { user_id: 42, message: 'hi' }), 400, 'BG_ERR_VALIDATION');
      assertPlatformError(await c.incoming(bad.inbound_token, { user_id: 'bad-1', message: 'hi', metadata: 'x' }), 400, 'BG_ERR_VALIDATION');
      assertPlatformError(await c.incoming(bad.inbound_token, []), 400, 'BG_ERR_VALIDATION');
      // A message id too long for the store's dedup index (PostgreSQL answered 500): refused, and nothing stored.
      assertPlatformError(await c.incoming(bad.inbound_token, { user_id: 'bad-long', message: 'hi', metadata: { message_id: 'm'.repeat(3000) } }), 400, 'BG_ERR_VALIDATION');
      // An Idempotency-Key too long to keep was ignored: a retry ran the bot twice. Refused instead.
      assertPlatformError(await c.incoming(bad.inbound_token, { user_id: 'bad-long', message: 'hi' }, { 'idempotency-key': 'k'.repeat(300) }), 400, 'BG_ERR_VALIDATION');
      // As long a metadata.message_id (it was kept up to 1,024 bytes, past the documented 256).
      assertPlatformError(await c.incoming(bad.inbound_token, { user_id: 'bad-long', message: 'hi', metadata: { message_id: 'm'.repeat(257) } }), 400, 'BG_ERR_VALIDATION');
      assert.deepEqual((await c.history('platform=badplatform&message_type=incoming')).filter((m) => m.user_id === 'bad-long'), []);
    });
    it('unknown field: 400', async () => {
      assertPlatformError(await c.incoming(bad.inbound_token, { ...ok, text: 'typo' }), 400, 'BG_ERR_UNKNOWN_FIELD');
    });
    it('wrong content type: 415', async () => {
      assertPlatformError(await c.incoming(bad.inbound_token, JSON.stringify(ok), { 'content-type': 'text/plain' }), 415, 'BG_ERR_UNSUPPORTED_MEDIA_TYPE');
      assertPlatformError(await c.incoming(bad.inbound_token, 'user_id=bad-1&message=hi', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'BG_ERR_UNSUPPORTED_MEDIA_TYPE');
      assertPlatformError(await c.send(`/api/webhook/incoming/${bad.id}`, JSON.stringify(ok), { 'content-type': 'text/plain' }), 415, 'BG_ERR_UNSUPPORTED_MEDIA_TYPE');
    });
    it('a GET on the route: 405 in the platform shape; an unknown path under it: 404', async () => {
      assertPlatformError(await c.send('/api/webhook/incoming', '', { authorization: `Bearer ${bad.inbound_token}` }, 'GET'), 405, 'BG_ERR_METHOD_NOT_ALLOWED');
      assertPlatformError(await c.send('/api/webhook/incoming/a/b', '', { authorization: `Bearer ${bad.inbound_token}` }, 'POST'), 404, 'BG_ERR_ROUTE_NOT_FOUND');
    });
    it('an unknown config on the signed route: 404; a config without a signature scheme there: 401', async () => {
      assertPlatformError(await c.signed('ch_does_not_exist', JSON.stringify(ok), {}), 404, 'BG_ERR_PLATFORM_NOT_FOUND');
      assertPlatformError(await c.signed(bad.id, JSON.stringify(ok), { authorization: `Bearer ${bad.inbound_token}` }), 401, 'BG_ERR_SIGNATURE_INVALID');
    });
    it('an inactive config: 403', async () => {
      const off = await createConfig('offplatform', { is_active: false });
      assert.equal(off.is_active, false);
      assertPlatformError(await c.incoming(off.inbound_token, { user_id: 'off-1', message: 'what is my balance' }), 403, 'BG_ERR_PLATFORM_INACTIVE');
      assert.deepEqual(await c.history('platform=offplatform'), []);
    });
    it('rate limit: the 4th request of a minute with rate_limit_per_minute 3 gets 429 with Retry-After', async () => {
      const limited = await createConfig('limited', { rate_limit_per_minute: 3 });
      await awayFromMinuteEdge();
      for (let i = 0; i < 3; i++) assert.equal((await c.incoming(limited.inbound_token, { user_id: 'rl-1', message: 'what is my balance' })).status, 200);
      const res = await c.incoming(limited.inbound_token, { user_id: 'rl-1', message: 'what is my balance' });
      assertPlatformError(res, 429, 'BG_ERR_RATE_LIMITED');
      const retryAfter = Number(res.headers['retry-after']);
      assert.equal(res.body.error.message, `More than 3 requests this minute for this platform; retry in ${retryAfter} s`);
      // One request a minute is one request, not "1 requests".
      const single = await createConfig('single', { rate_limit_per_minute: 1 });
      await awayFromMinuteEdge();
      assert.equal((await c.incoming(single.inbound_token, { user_id: 'rl-2', message: 'what is my balance' })).status, 200);
      const second = await c.incoming(single.inbound_token, { user_id: 'rl-2', message: 'what is my balance' });
      assertPlatformError(second, 429, 'BG_ERR_RATE_LIMITED');
      assert.match(second.body.error.message, /^More than 1 request this minute for this platform; retry in \d+ s$/);
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, String(res.headers['retry-after']));
      // Other configs have their own allowance.
      assert.equal((await c.incoming(bad.inbound_token, { ...ok, message: 'x', platform: 'nope' })).status, 400);
      assert.equal((await c.history('platform=limited&message_type=incoming')).length, 3, 'the refused request was not stored');
    });
    it('after all the bad requests the history holds none of them', async () => {
      assert.deepEqual(await c.history('platform=badplatform'), []);
      assert.deepEqual(await c.history('platform=badprov'), []);
      const all = await c.history('');
      assert.equal(all.some((m) => m.user_id === 'bad-1' || m.user_id === 'off-1'), false);
      assert.equal(repliesAt('badplatform').length, 0);
    });
  });
});

const postgres = await postgresAvailability();

describe('platform webhook on PostgreSQL', { skip: 'skip' in postgres ? postgres.skip : false }, () => {
  it('two gateways on one schema share the rate limit: 5 a minute, 3 requests to each → 5 succeed, 1 gets 429', async () => {
    const { url } = postgres as { url: string };
    const schema = await freshSchema(url);
    const env = { BOTGATE_DATABASE_URL: url, BOTGATE_DATABASE_SCHEMA: schema.schema };
    const rx = await startReceiver();
    const gateways: TestGateway[] = [];
    try {
      gateways.push(await platformGateway(env));
      gateways.push(await platformGateway(env));
      const created = await gateways[0].api('POST', '/api/webhook/config', { name: 'shared', outgoing_webhook_url: rx.url, rate_limit_per_minute: 5 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const [a, b] = gateways.map(client);
      await awayFromMinuteEdge();
      const results = await Promise.all([a, b, a, b, a, b].map((cl, i) => cl.incoming(created.body.inbound_token, { user_id: `pg-${i}`, message: 'what is my balance' })));
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429], JSON.stringify(results.map((r) => r.body)));
      const refused = results.find((r) => r.status === 429)!;
      assertPlatformError(refused, 429, 'BG_ERR_RATE_LIMITED');
      assert.ok(Number(refused.headers['retry-after']) >= 1);
      for (const r of results.filter((x) => x.status === 200)) assert.equal(r.body.response.answer, BALANCE);
      // Either gateway sees the same history: five messages in, five replies out.
      assert.equal((await b.history('platform=shared&message_type=incoming')).length, 5);
      await rx.waitFor(5);
      // Deletes racing on both gateways: one removed the config (204), the others found nothing (404).
      const deletes = await Promise.all([0, 1, 0, 1].map((g) => gateways[g].api('DELETE', `/api/webhook/config/${created.body.id}`)));
      assert.deepEqual(deletes.map((d) => d.status).sort(), [204, 404, 404, 404]);
    } finally {
      for (const g of gateways) await g.close();
      await rx.close();
      await schema.drop();
    }
  });
});
