// The Kore.ai webhook channel, sync: a client that signs its JWT with `jose` (both claim styles) gets the demo
// bot's answers; the PizzaBot order fires its Sarufi-shaped webhook; every JWT fault and bad input is refused.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { eventually } from '../helpers/gateway.ts';
import { koreFixture, say, type KoreFixture } from './kore-helpers.ts';

describe('kore webhook channel (sync)', () => {
  let k: KoreFixture;
  let orders: Receiver;
  let channelUrl: string;
  let ordersId: string;
  before(async () => {
    k = await koreFixture();
    orders = await startReceiver();
    ordersId = (await k.gw.api('POST', '/api/endpoints', { name: 'orders', url: orders.url, event_types: ['order.confirmed'] })).body.id;
    const channel = await k.gw.api('POST', '/api/bots/demo/channels', { mode: 'sync', app_id: k.clientId });
    assert.equal(channel.status, 201, JSON.stringify(channel.body));
    channelUrl = new URL(channel.body.url).pathname;
    assert.equal(channelUrl, '/chatbot/hooks/demo');
  });
  after(async () => {
    await k.gw.close();
    await orders.close();
  });

  const auth = async (claims?: Record<string, unknown>) => ({ authorization: `bearer ${await k.token(claims)}` });

  it('answers with both ways real clients identify the app: {appId, sub} and {iss, aud, sub, isAnonymous}', async () => {
    const byAppId = await k.post(channelUrl, say('hello', 'style-a'), await auth({ appId: k.clientId, sub: 'style-a' }));
    assert.equal(byAppId.status, 200, byAppId.text);
    assert.match(JSON.stringify(byAppId.body.text), /Hi there!/);
    const byIss = await k.post(channelUrl, say('hello', 'style-b'), await auth({ iss: k.clientId, aud: 'https://idproxy.kore.ai/authorize', sub: 'style-b', isAnonymous: true }));
    assert.equal(byIss.status, 200, byIss.text);
    const upper = await k.post(channelUrl, say('hello', 'style-c'), { authorization: `Bearer ${await k.token()}` });
    assert.equal(upper.status, 200, 'any case of "bearer"');
  });

  it('takes a PizzaBot order through a choice menu and fires order.confirmed with Sarufi\'s body', async () => {
    const h = await auth();
    const turn = async (text: string) => {
      const res = await k.post(channelUrl, say(text, 'pizza-user', { from: { id: 'pizza-user', userInfo: { firstName: 'Ada', email: 'Ada@Example.com' } }, customData: { balance: '12.00' } }), h);
      assert.equal(res.status, 200, res.text);
      return res.body;
    };
    assert.equal((await turn('I want to order a pizza')).text, 'How many pizzas would you like?');
    const toppings = (await turn('2')).text;
    assert.equal(toppings.type, 'template');
    assert.equal(toppings.payload.template_type, 'quick_replies');
    assert.deepEqual(toppings.payload.quick_replies.map((q: { title: string }) => q.title), ['Cheese', 'Pepperoni', 'Veggie']);
    await turn('Pepperoni');
    await turn('12 Main St');
    const summary = await turn('555-1234');
    assert.deepEqual(summary.text, ['2 × Pepperoni to 12 Main St (phone 555-1234). Shall I place the order?', '1. Confirm', '2. Cancel']);
    const fallback = await turn('maybe');
    assert.equal(fallback.text[0], 'Please answer 1 to confirm or 2 to cancel.');
    assert.equal(fallback.endOfTask, undefined);
    const done = await turn('1');
    assert.equal(done.text, 'Your order is placed, Ada! It will be with you in about 30 minutes.');
    assert.equal(done.endOfTask, true);
    assert.equal(done.endReason, 'Fulfilled');
    const [hook] = await orders.waitFor(1);
    assert.equal(hook.verified, true);
    const body = JSON.parse(hook.body);
    assert.equal(body.event, 'order.confirmed');
    assert.equal(body.bot_id, 'demo');
    assert.equal(body.state, 'order_confirmed');
    assert.equal(body.choice_confirmation, '1', 'the option key, as Sarufi receivers read it');
    assert.deepEqual(body.memory, { number_of_pizzas: '2', pizza_toppings: 'Pepperoni', address: '12 Main St', phone_number: '555-1234', choice_confirmation: '1' });
    for (const [key, value] of Object.entries(body.memory)) assert.equal(body[key], value, `${key} at the top level`);
    assert.equal(body.user.id, 'pizza-user');
    assert.equal(body.user.firstName, 'Ada');
    // The conversation is linked to a user through the e-mail, and every message is in the history.
    const conversations = (await k.gw.api('GET', '/api/conversations?user_key=pizza-user')).body.data;
    assert.equal(conversations.length, 1);
    assert.ok(conversations[0].user_id);
    const user = await k.gw.store.users.byIdentity({ kind: 'email', value: 'ada@example.com' });
    assert.equal(user?.id, conversations[0].user_id);
    const history = (await k.gw.api('GET', `/api/messages?conversation_id=${conversations[0].id}&per_page=100`)).body.data;
    assert.equal(history.filter((m: { direction: string }) => m.direction === 'incoming').length, 7);
    assert.ok(history.filter((m: { direction: string }) => m.direction === 'outgoing').length >= 7);
    const incoming = history.find((m: { direction: string; payload: { message: { text: string } } }) => m.direction === 'incoming' && m.payload.message.text === '12 Main St');
    assert.equal(incoming.payload.customData.balance, '12.00', 'customData is stored with the message');
    // The last answer is stored as it was answered: its text and the end of the task in one outgoing message.
    const lastReplies = history.filter((m: { reply_to: string | null }) => m.reply_to === history.find((m: { direction: string; payload: { message?: { text: string } } }) => m.direction === 'incoming' && m.payload.message?.text === '1').id);
    assert.deepEqual(lastReplies.map((m: { payload: unknown }) => m.payload), [{ text: done.text, endOfTask: true, endReason: 'Fulfilled' }]);
  });

  it('keeps an event webhook for a disabled endpoint waiting there, sent once the endpoint is enabled', async () => {
    const h = await auth();
    assert.equal((await k.gw.api('POST', `/api/endpoints/${ordersId}/disable`)).status, 200);
    const before = orders.requests.length;
    for (const text of ['I want to order a pizza', '1', 'Cheese', '1 Elm Road', '555-0000', '1']) {
      assert.equal((await k.post(channelUrl, say(text, 'held-order'), h)).status, 200);
    }
    const held = (await k.gw.api('GET', `/api/deliveries?endpoint_id=${ordersId}&status=pending`)).body.data;
    assert.equal(held.length, 1, 'the order.confirmed webhook waits for the endpoint');
    assert.equal((await k.gw.api('POST', `/api/endpoints/${ordersId}/enable`)).status, 200);
    const [hook] = (await orders.waitFor(before + 1)).slice(before);
    assert.equal(JSON.parse(hook.body).address, '1 Elm Road');
  });

  it('takes a client\'s message with a long integer in customData (kept as it parses, not refused and lost)', async () => {
    const payload = '{"message":{"text":"hello"},"from":{"id":"long-int"},"customData":{"account":12345678901234567890}}';
    const res = await k.gw.app.inject({ method: 'POST', url: channelUrl, payload, headers: { ...(await auth({ appId: k.clientId, sub: 'long-int' })), 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 200, res.body);
  });

  it('links by e-mail written any way (spaces, case), and never by a blank one', async () => {
    const as = async (from: string, email: string) => {
      const res = await k.post(channelUrl, say('hello', from, { from: { id: from, userInfo: { email } } }), await auth({ appId: k.clientId, sub: from }));
      assert.equal(res.status, 200, res.text);
      return (await k.gw.api('GET', `/api/conversations?user_key=${from}`)).body.data[0].user_id as string;
    };
    assert.equal(await as('mail-a', 'w1@x.io'), await as('mail-b', '  W1@X.IO '), 'one person, one user');
    const blankA = await as('blank-a', ' ');
    const blankB = await as('blank-b', '');
    assert.notEqual(blankA, blankB, 'a blank e-mail joins nobody');
    assert.equal(await k.gw.store.users.byIdentity({ kind: 'email', value: ' ' }), null);
    // Nor by one that is no address: the message is taken, the "email" is not an identity.
    assert.notEqual(await as('nope-a', 'nope'), await as('nope-b', 'NOPE'));
    assert.equal(await k.gw.store.users.byIdentity({ kind: 'email', value: 'nope' }), null);
    const put = await k.gw.api('PUT', '/api/users/someone', { identities: [{ kind: 'email', id: '   ' }] });
    assert.deepEqual([put.status, put.body.code], [400, 'BG_ERR_VALIDATION']);
    // An e-mail too long for the identities' index (PostgreSQL answered 500): a 400 in Kore's shape.
    const long = await k.post(channelUrl, say('hello', 'mail-long', { from: { id: 'mail-long', userInfo: { email: `${'e'.repeat(3000)}@x.io` } } }), await auth({ appId: k.clientId, sub: 'mail-long' }));
    assert.equal(long.status, 400, long.text);
    assert.equal(JSON.parse(long.text).bg_code, 'BG_ERR_VALIDATION');
  });

  it('uses customData and userInfo in templates, answers from the knowledge base, and says when it does not know', async () => {
    const h = await auth();
    const balance = await k.post(channelUrl, { ...say('what is my balance', 'kb-user'), customData: { balance: '42.50 EUR' } }, h);
    assert.equal(balance.body.text, 'Your balance is 42.50 EUR.');
    const kb = await k.post(channelUrl, say('when are you open', 'kb-user'), h);
    assert.match(kb.body.text, /open every day from 11:00 until we close at 23:00/);
    // "refunds" is a word of the pages, not of any intent: not the help intent's "how does this work".
    const refunds = await k.post(channelUrl, say('how do refunds work', 'kb-user'), h);
    assert.match(refunds.body.text, /Refunds go back to the card or wallet you paid with/);
    const unknown = await k.post(channelUrl, say('who won the football match', 'kb-user'), h);
    assert.match(unknown.body.text, /I don't know that one yet/);
  });

  it('session.new discards the flow position; a global intent interrupts a flow', async () => {
    const h = await auth();
    await k.post(channelUrl, say('order a pizza', 'session-user'), h);
    const fresh = await k.post(channelUrl, { ...say('hello', 'session-user'), session: { new: true } }, h);
    assert.match(JSON.stringify(fresh.body.text), /Hi there!/, 'starts intent identification afresh');
    await k.post(channelUrl, say('order a pizza', 'session-user'), h);
    const cancelled = await k.post(channelUrl, say('cancel', 'session-user'), h);
    assert.equal(cancelled.body.endOfTask, true);
    assert.equal(cancelled.body.endReason, 'Cancelled');
  });

  it('answers two messages of one user sent at once in order, each with its own replies', async () => {
    const h = await auth();
    const texts = ['order a pizza', 'two', 'cheese', 'Main St 1', '555'];
    const answers = await Promise.all(texts.map((text) => k.post(channelUrl, say(text, 'race-user'), h)));
    for (const a of answers) assert.equal(a.status, 200);
    // Whatever order the requests arrived in, turns ran in arrival order: replaying the stored incoming messages
    // in id order gives exactly the answers each request got.
    const conversation = (await k.gw.api('GET', '/api/conversations?user_key=race-user')).body.data[0];
    const incoming = (await k.gw.api('GET', `/api/messages?conversation_id=${conversation.id}&direction=incoming&per_page=10`)).body.data.reverse();
    const arrival = incoming.map((m: { payload: { message: { text: string } } }) => m.payload.message.text);
    assert.deepEqual([...arrival].sort(), [...texts].sort());
    const expectedFirst = arrival[0] === 'order a pizza' ? 'How many pizzas would you like?' : null;
    for (const [i, m] of incoming.entries()) {
      const replies = (await k.gw.store.conversations.replies(m.id)).map((r) => JSON.parse(r.payload!).text).filter(Boolean);
      const answer = answers[texts.indexOf(arrival[i])].body;
      assert.deepEqual(Array.isArray(answer.text) ? answer.text : [answer.text], replies, `the answer to "${arrival[i]}" is its own turn's`);
    }
    if (expectedFirst) assert.equal(answers[0].body.text, expectedFirst);
  });

  describe('refuses bad tokens with 401 in Kore\'s error shape', () => {
    const expect401 = async (headers: Record<string, string>, why: RegExp, body: unknown = say('hello', 'jwt-user')) => {
      const res = await k.post(channelUrl, body, headers);
      assert.equal(res.status, 401, res.text);
      assert.deepEqual(Object.keys(res.body).sort(), ['bg_code', 'errors']);
      assert.equal(res.body.errors[0].code, 401);
      assert.equal(res.body.bg_code, 'BG_ERR_TOKEN_INVALID');
      assert.match(res.body.errors[0].msg, why);
    };

    it('missing, malformed, alg none, other algorithms, bad signature', async () => {
      await expect401({}, /Authorization: bearer/);
      await expect401({ authorization: 'bearer not-a-jwt' }, /not a JWT/);
      await expect401({ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, /Authorization: bearer/);
      const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
      const payload = Buffer.from(JSON.stringify({ appId: k.clientId, sub: 'x', exp: Math.floor(Date.now() / 1000) + 60 })).toString('base64url');
      await expect401({ authorization: `bearer ${header}.${payload}.` }, /HS256, not none/);
      await expect401({ authorization: `bearer ${await k.token(undefined, { alg: 'HS512' })}` }, /HS256, not HS512/);
      await expect401({ authorization: `bearer ${await k.token(undefined, { secret: 'not-the-client-secret-at-all' })}` }, /signature/);
      const good = await k.token();
      await expect401({ authorization: `bearer ${good.slice(0, -3)}abc` }, /signature/);
    });

    it('expired, not yet valid, issued in the future (beyond the 60 s skew)', async () => {
      const now = Math.floor(Date.now() / 1000);
      await expect401({ authorization: `bearer ${await k.token(undefined, { expiresIn: now - 120 })}` }, /expired/);
      await expect401({ authorization: `bearer ${await k.token(undefined, { notBefore: now + 600 })}` }, /not valid yet/);
      const future = await new SignJWT({ appId: k.clientId, sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now + 600).setExpirationTime(now + 3600).sign(new TextEncoder().encode(k.secret));
      await expect401({ authorization: `bearer ${future}` }, /future/);
      const withinSkew = await k.post(channelUrl, say('hello', 'skew-user'), { authorization: `bearer ${await k.token(undefined, { expiresIn: now - 30 })}` });
      assert.equal(withinSkew.status, 200, 'a token expired 30 s ago is within the skew');
    });

    it('another app, and userIdentity that is not from.id', async () => {
      const other = await k.gw.api('POST', '/api/apps', { name: 'other-app' });
      // Signed by another app: it does not verify with this channel's app secret.
      await expect401({ authorization: `bearer ${await k.token({ appId: other.body.client_id, sub: 'x' }, { secret: other.body.client_secret })}` }, /signature/);
      // Signed with this secret but naming another client id (appId, else iss).
      await expect401({ authorization: `bearer ${await k.token({ appId: other.body.client_id, sub: 'x' })}` }, /another app/);
      await expect401({ authorization: `bearer ${await k.token({ iss: 'cs-someone-else', sub: 'x' })}` }, /another app/);
      // appId present but not a string names no app: iss is read only when appId is absent.
      await expect401({ authorization: `bearer ${await k.token({ appId: 123, iss: k.clientId, sub: 'x' })}` }, /another app/);
      await expect401({ authorization: `bearer ${await k.token({ appId: k.clientId, sub: 'x', userIdentity: 'mallory' })}` }, /userIdentity/);
      const same = await k.post(channelUrl, say('hello', 'alice'), { authorization: `bearer ${await k.token({ appId: k.clientId, sub: 'whoever', userIdentity: 'alice' })}` });
      assert.equal(same.status, 200, 'sub is not compared with from.id; userIdentity equal to from.id is fine');
    });

    it('before the body is read: a caller without a valid token learns nothing of the body the route wants', async () => {
      await expect401({}, /Authorization: bearer/, { message: { text: 'hi' } });
      await expect401({ authorization: 'bearer garbage' }, /not a JWT/, { from: 7 });
      await expect401({ authorization: `bearer ${await k.token(undefined, { secret: 'not-the-client-secret-at-all' })}` }, /signature/, {});
      // Nor whether it is JSON, its type or its size: the token is checked before the body is read at all.
      await expect401({}, /Authorization: bearer/, '{"message": {');
      await expect401({ authorization: 'bearer garbage' }, /not a JWT/, 'not json');
      await expect401({}, /Authorization: bearer/, JSON.stringify(say('x'.repeat(20_000))));
      const plain = await k.gw.app.inject({ method: 'POST', url: channelUrl, headers: { 'content-type': 'text/plain' }, payload: 'hello' });
      assert.deepEqual([plain.statusCode, JSON.parse(plain.body).bg_code], [401, 'BG_ERR_TOKEN_INVALID']);
      // The bot and hook instance come first: an unknown one is 404 whatever the body.
      const unknown = await k.post('/chatbot/hooks/no-such-bot', '{"message": {', await auth());
      assert.deepEqual([unknown.status, unknown.body.bg_code], [404, 'BG_ERR_BOT_NOT_FOUND']);
      // With a valid token, the body's problems are told.
      const res = await k.post(channelUrl, { message: { text: 'hi' } }, await auth());
      assert.deepEqual([res.status, res.body.bg_code], [400, 'BG_ERR_VALIDATION']);
      const bad = await k.post(channelUrl, '{"message": {', await auth());
      assert.deepEqual([bad.status, bad.body.bg_code], [400, 'BG_ERR_INVALID_JSON']);
    });
  });

  it('keeps channel names unique across Kore.ai channels and platform configs: 409, nothing half made', async () => {
    const endpointsBefore = (await k.gw.api('GET', '/api/endpoints')).body.data.length;
    assert.equal((await k.gw.api('POST', '/api/bots/demo/channels', { mode: 'sync', app_id: k.clientId, name: 'shared-name' })).status, 201);
    for (const [method, url, body] of [
      ['POST', '/api/bots/demo/channels', { mode: 'sync', app_id: k.clientId, name: 'shared-name' }],
      ['POST', '/api/bots/demo/channels', { mode: 'async', app_id: k.clientId, name: 'shared-name', post_url: 'https://bots.example.com/hook' }],
      ['POST', '/api/webhook/config', { name: 'shared-name', outgoing_webhook_url: 'https://app.example.com/out' }],
    ] as const) {
      const res = await k.gw.api(method, url, body);
      assert.equal(res.status, 409, `${url} → ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'BG_ERR_CONFLICT');
    }
    const other = await k.gw.api('POST', '/api/bots/demo/channels', { mode: 'sync', app_id: k.clientId, name: 'other-name' });
    const renamed = await k.gw.api('PATCH', `/api/channels/${other.body.id}`, { name: 'shared-name' });
    assert.equal(renamed.status, 409, JSON.stringify(renamed.body));
    // A name of only spaces is no name, as for platform configs, agents and endpoints.
    for (const [method, url, body] of [
      ['POST', '/api/bots/demo/channels', { mode: 'sync', app_id: k.clientId, name: '   ' }],
      ['POST', '/api/bots/demo/channels', { mode: 'async', app_id: k.clientId, name: ' \t ', post_url: 'https://bots.example.com/hook' }],
      ['PATCH', `/api/channels/${other.body.id}`, { name: '  ' }],
    ] as const) {
      const res = await k.gw.api(method, url, body);
      assert.equal(res.status, 400, `${method} ${url} → ${JSON.stringify(res.body)}`);
      assert.match(res.body.message, /name must be 1 to 200 characters, not only white space or format characters/);
    }
    assert.equal((await k.gw.api('GET', '/api/endpoints')).body.data.length, endpointsBefore, 'no endpoint left behind by a refused async channel');
  });

  it('refuses bad input with clear 4xx in Kore\'s shape and stores nothing', async () => {
    const h = await auth();
    const before = (await k.gw.api('GET', '/api/messages?per_page=1000')).body.data.length;
    const cases: [unknown, number, RegExp][] = [
      ['{"message": {"text": "hi"', 400, /JSON/],
      [{ from: { id: 'u' } }, 400, /message/],
      [{ message: {}, from: { id: 'u' } }, 400, /text/],
      [{ message: { text: 'hi' } }, 400, /from/],
      [{ message: { text: 'hi' }, from: {} }, 400, /id/],
      [{ message: { text: 42 }, from: { id: 'u' } }, 400, /text/],
      [{ message: { text: 'hi' }, from: { id: 'u' }, session: { new: 'yes' } }, 400, /new/],
      [{ message: { text: 'x'.repeat(11_000) }, from: { id: 'u' } }, 413, /larger/],
      [{ message: { text: 'hi' }, from: { id: 'u\u0000v' } }, 400, /NUL/],
      [{ message: { text: 'hi' }, from: { id: '   ' } }, 400, /from\.id.*blank/],
      [{ message: { text: 'hi' }, from: { id: '\u200b\u200d' } }, 400, /from\.id.*blank/],
    ];
    for (const [body, status, message] of cases) {
      const res = await k.post(channelUrl, body, h);
      assert.equal(res.status, status, `${JSON.stringify(body).slice(0, 60)} → ${res.text}`);
      assert.ok(res.body.errors?.[0]?.msg, res.text);
      assert.match(res.body.errors[0].msg, message);
      assert.equal(res.body.errors[0].code, status);
    }
    for (const weird of ['null', '[]', '"text"', '{"message": null, "from": null}', '{"message": {"text": "hi"}, "from": {"id": ""}}', '{"__proto__": {"x": 1}, "message": {"text": "hi"}, "from": {"id": "u"}}', '{"message": {"text": "hi", "attachments": "nope"}, "from": {"id": "u"}}', '{"message": {"text": "hi"}, "from": {"id": "u"}, "customData": []}']) {
      const res = await k.post(channelUrl, weird, h);
      assert.ok(res.status >= 400 && res.status < 500, `${weird} → ${res.status} ${res.text}`);
      assert.ok(res.body.errors?.[0]?.msg, res.text);
    }
    // A long text is bounded by the body limit alone (10 KB by default, kore.body_limit_bytes), not by a text length of its own.
    const long = await k.post(channelUrl, say('x'.repeat(9_500), 'long-text'), h);
    assert.equal(long.status, 200, long.text);
    const noBody = await k.gw.app.inject({ method: 'POST', url: channelUrl, headers: h });
    assert.equal(noBody.statusCode, 400);
    const unknownBot = await k.post('/chatbot/hooks/no-such-bot', say('hi'), h);
    assert.equal(unknownBot.status, 404);
    assert.equal(unknownBot.body.bg_code, 'BG_ERR_BOT_NOT_FOUND');
    const unknownInstance = await k.post(`${channelUrl}/hookInstance/ch_nope`, say('hi'), h);
    assert.equal(unknownInstance.status, 404);
    assert.equal(unknownInstance.body.bg_code, 'BG_ERR_CHANNEL_NOT_FOUND');
    const badUrl = await k.gw.app.inject({ method: 'POST', url: '/chatbot/hooks/%zz', headers: h, payload: say('hi') });
    assert.equal(badUrl.statusCode, 400);
    assert.equal(JSON.parse(badUrl.body).bg_code, 'BG_ERR_VALIDATION', 'Kore\'s shape for a bad URL too');
    assert.ok(JSON.parse(badUrl.body).errors?.[0]?.msg);
    const wrongMethod = await k.gw.app.inject({ method: 'GET', url: channelUrl });
    assert.equal(wrongMethod.statusCode, 405);
    assert.equal(wrongMethod.headers.allow, 'POST');
    assert.equal(JSON.parse(wrongMethod.body).bg_code, 'BG_ERR_METHOD_NOT_ALLOWED', 'Kore\'s shape for a wrong method');
    assert.ok(JSON.parse(wrongMethod.body).errors);
    const after = (await k.gw.api('GET', '/api/messages?per_page=1000')).body.data.length;
    assert.equal(after, before + 2, 'nothing refused was stored (the long text and its answer were)');
  });
});
