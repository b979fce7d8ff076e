// The Kore.ai webhook channel, async: 200 with an empty body once the message is stored; every bot message is
// then delivered to POST_URL as {"text", "to", "from"} with the access token, signed, retried, in order per
// conversation, with endOfTask as a separate final message; a POST_URL that is down gets everything later, in order.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { eventually } from '../helpers/gateway.ts';
import { koreFixture, say, type KoreFixture } from './kore-helpers.ts';

describe('kore webhook channel (async)', () => {
  let k: KoreFixture;
  let postUrl: Receiver;
  let hook: string;
  let endpointId: string;
  let down = false;
  before(async () => {
    k = await koreFixture();
    postUrl = await startReceiver((_q, res) => void res.writeHead(down ? 503 : 200).end());
    // The bot's first channel is sync; the async one answers at its hook instance.
    await k.gw.api('POST', '/api/bots/demo/channels', { mode: 'sync', app_id: k.clientId });
    const channel = await k.gw.api('POST', '/api/bots/demo/channels', { mode: 'async', app_id: k.clientId, post_url: postUrl.url, access_token: 'kore-access-token' });
    assert.equal(channel.status, 201, JSON.stringify(channel.body));
    assert.match(channel.body.secret, /^whsec_/);
    hook = new URL(channel.body.url).pathname;
    assert.match(hook, /^\/chatbot\/hooks\/demo\/hookInstance\/ch_/);
    endpointId = channel.body.endpoint_id;
    await k.gw.api('PATCH', `/api/endpoints/${endpointId}`, { retry_schedule: [0, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2] });
  });
  after(async () => {
    await k.gw.close();
    await postUrl.close();
  });

  const received = (user: string) => postUrl.requests.filter((r) => r.headers['webhook-id'] && JSON.parse(r.body).to === user && r.verified !== false);
  const delivered = (user: string) => {
    const seen = new Set<string>();
    return received(user).filter((r) => (r.headers['webhook-id'] && !seen.has(String(r.headers['webhook-id'])) ? seen.add(String(r.headers['webhook-id'])) : false)).map((r) => JSON.parse(r.body));
  };

  it("names a bad post_url or access_token by the channel's own field names, on create and on change", async () => {
    const create = (extra: Record<string, unknown>) => k.gw.api('POST', '/api/bots/demo/channels', { mode: 'async', app_id: k.clientId, post_url: postUrl.url, ...extra });
    for (const [extra, message] of [
      [{ post_url: 'ftp://example.com/in' }, /^post_url must use http or https$/],
      [{ post_url: 'http://user:pw@example.com/in' }, /^post_url must not carry credentials; use access_token$/],
      [{ access_token: 'two\nlines' }, /^access_token holds a character a header cannot carry/],
    ] as const) {
      const refused = await create(extra);
      assert.deepEqual([refused.status, refused.body.code], [400, 'BG_ERR_VALIDATION'], JSON.stringify(extra));
      assert.match(refused.body.message, message);
    }
    const channel = await create({ name: 'field-names' });
    assert.equal(channel.status, 201);
    const changed = await k.gw.api('PATCH', `/api/channels/${channel.body.id}`, { post_url: 'ftp://example.com/in' });
    assert.deepEqual([changed.status, changed.body.message], [400, 'post_url must use http or https']);
    // An async channel cannot lose its POST_URL: null is refused, not answered 200 with nothing changed.
    const removed = await k.gw.api('PATCH', `/api/channels/${channel.body.id}`, { post_url: null });
    assert.deepEqual([removed.status, removed.body.message], [400, 'an async channel needs post_url']);
    assert.equal((await k.gw.api('DELETE', `/api/channels/${channel.body.id}`)).status, 204);
  });

  it('keeps what the channel sets on its POST_URL endpoint from PATCH /api/endpoints (409 naming its route); the rest is the endpoint\'s', async () => {
    const channel = (await k.gw.api('GET', '/api/bots/demo/channels')).body.data.find((c: { endpoint_id: string | null }) => c.endpoint_id === endpointId);
    for (const change of [{ url: 'https://elsewhere.example.com/' }, { auth: { kind: 'none' } }, { ordered: false }, { event_types: ['*'] }, { content_type: 'form' }, { name: 'mine' }]) {
      const res = await k.gw.api('PATCH', `/api/endpoints/${endpointId}`, change);
      assert.equal(res.status, 409, JSON.stringify(res.body));
      assert.equal(res.body.code, 'BG_ERR_CONFLICT');
      assert.match(res.body.message, new RegExp(`belongs to channel ${channel.id}.*PATCH /api/channels/${channel.id}`));
    }
    const shown = (await k.gw.api('GET', `/api/endpoints/${endpointId}`)).body;
    assert.equal(shown.url, postUrl.url);
    assert.equal((await k.gw.api('DELETE', `/api/endpoints/${endpointId}`)).status, 409);
    // What GET shows of the channel's fields may be sent back unchanged with a change of the endpoint's own (before: 409).
    const { name, provider, url, ordered, event_types, content_type, signing } = shown;
    const sentBack = await k.gw.api('PATCH', `/api/endpoints/${endpointId}`, { name, provider, url, ordered, event_types, content_type, signing, max_attempts: 9 });
    assert.equal(sentBack.status, 200, JSON.stringify(sentBack.body));
    assert.equal(sentBack.body.max_attempts, 9);
    assert.equal((await k.gw.api('PATCH', `/api/endpoints/${endpointId}`, { url, ordered: !ordered })).status, 409);
    const own = await k.gw.api('PATCH', `/api/endpoints/${endpointId}`, { timeout_seconds: 10, custom_headers: { 'x-extra': '1' } });
    assert.equal(own.status, 200, JSON.stringify(own.body));
    // The channel itself changes its POST_URL's token.
    assert.equal((await k.gw.api('PATCH', `/api/channels/${channel.id}`, { access_token: 'kore-access-token' })).status, 200);
    await k.gw.api('PATCH', `/api/endpoints/${endpointId}`, { timeout_seconds: 15, custom_headers: {}, max_attempts: null });
  });

  it('acknowledges at once with an empty body and delivers each bot message to POST_URL', async () => {
    const h = { authorization: `bearer ${await k.token()}` };
    const ack = await k.post(hook, say('what is my balance', 'async-1'), h);
    assert.equal(ack.status, 200);
    assert.equal(ack.text, '');
    await eventually(() => delivered('async-1').length === 2);
    const [text, end] = delivered('async-1');
    assert.deepEqual(text, { text: 'Your balance is not available right now.', to: 'async-1', from: 'demo' });
    assert.deepEqual(end, { endOfTask: true, endReason: 'Fulfilled', to: 'async-1', from: 'demo' }, 'endOfTask travels as a separate final message');
    const request = received('async-1')[0];
    assert.equal(request.headers.authorization, 'Bearer kore-access-token');
    assert.equal(request.verified, true, 'signed with the channel\'s whsec_ secret');
  });

  it('keeps replies waiting while POST_URL is down and delivers them in order when it comes back', async () => {
    const h = { authorization: `bearer ${await k.token()}` };
    down = true;
    for (const text of ['order a pizza', '3', 'Veggie', '1 Elm Road']) {
      assert.equal((await k.post(hook, say(text, 'async-2'), h)).status, 200);
    }
    await eventually(() => postUrl.requests.filter((r) => JSON.parse(r.body).to === 'async-2').length >= 3);
    down = false;
    await eventually(() => delivered('async-2').length === 4, 15_000);
    assert.deepEqual(delivered('async-2').map((b) => (typeof b.text === 'string' ? b.text : b.text.payload.text)), [
      'How many pizzas would you like?',
      'Which toppings?',
      'What is the delivery address?',
      'And a phone number we can call?',
    ]);
    // While the head failed, nothing behind it was sent: the first 503s were all the first reply.
    const tries = postUrl.requests.filter((r) => JSON.parse(r.body).to === 'async-2');
    const firstOk = tries.findIndex((r, i) => i > 0 && r.headers['webhook-id'] !== tries[0].headers['webhook-id']);
    assert.ok(tries.slice(0, firstOk).every((r) => r.headers['webhook-id'] === tries[0].headers['webhook-id']));
  });

  it('holds replies while the channel\'s endpoint is disabled and delivers them, in order, once it is enabled', async () => {
    const h = { authorization: `bearer ${await k.token()}` };
    assert.equal((await k.post(hook, say('order a pizza', 'async-4'), h)).status, 200);
    await eventually(() => delivered('async-4').length === 1);
    assert.equal((await k.gw.api('POST', `/api/endpoints/${endpointId}/disable`)).status, 200);
    for (const text of ['2', 'Pepperoni']) assert.equal((await k.post(hook, say(text, 'async-4'), h)).status, 200);
    const held = await k.gw.api('GET', `/api/deliveries?endpoint_id=${endpointId}&status=pending`);
    assert.equal(held.body.data.length, 2, 'each reply is a delivery waiting for the endpoint');
    assert.equal((await k.gw.api('POST', `/api/endpoints/${endpointId}/enable`)).status, 200);
    await eventually(() => delivered('async-4').length === 3, 15_000);
    assert.deepEqual(delivered('async-4').map((b) => (typeof b.text === 'string' ? b.text : b.text.payload.text)), [
      'How many pizzas would you like?', 'Which toppings?', 'What is the delivery address?',
    ]);
  });

  it('refuses to delete the endpoint a channel delivers to (409), naming the channel', async () => {
    const refused = await k.gw.api('DELETE', `/api/endpoints/${endpointId}`);
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'BG_ERR_CONFLICT');
    assert.match(refused.body.message, /channel ch_/);
    assert.equal((await k.gw.api('GET', `/api/endpoints/${endpointId}`)).status, 200);
  });

  it('runs a turn left pending (stored, then the process stopped) when the gateway looks again', async () => {
    const channel = (await k.gw.channels.forBot('demo'))[1];
    const { message } = await k.gw.turns.receive(channel, {
      userKey: 'async-3', identities: [], eventType: 'message.received',
      payload: say('what is my balance', 'async-3'),
    });
    assert.equal(message.turnStatus, 'pending');
    await eventually(() => delivered('async-3').length === 2, 10_000);
  });
});
