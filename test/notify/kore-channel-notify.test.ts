// Notifications through a Kore.ai async channel: a user who talked to the bot there is found by the `kore`
// identity the channel writes ({botId}:{from.id}), and a notification goes to the POST_URL of the channel they
// used last, in the channel's own format ({"text", "to", "from"}) with its access token — a sync channel cannot
// carry one; a user in a handoff gets only critical ones there. The tests run in order: the export test reads what
// the first one stored.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { eventually } from '../helpers/gateway.ts';
import { koreFixture, say, type KoreFixture } from '../channels/kore-helpers.ts';

const PRODUCER_KEY = 'test-producer-key-0123456789';

describe('notifications through a Kore.ai async channel', () => {
  let k: KoreFixture;
  let first: Receiver;
  let second: Receiver;
  let hooks: string[];
  before(async () => {
    k = await koreFixture({
      BOTGATE_NOTIFY__PRODUCER_KEY: PRODUCER_KEY, BOTGATE_NOTIFY__EXPLORATION: 'mean', // low_balance is worth sending to a new user
      BOTGATE_NOTIFY__QUIET_HOURS__START: '00:00', BOTGATE_NOTIFY__QUIET_HOURS__END: '00:00', // whatever the time the tests run at
    });
    first = await startReceiver((_q, res) => void res.writeHead(200).end());
    second = await startReceiver((_q, res) => void res.writeHead(200).end());
    await k.gw.api('POST', '/api/bots/demo/channels', { mode: 'sync', app_id: k.clientId });
    hooks = [];
    for (const [receiver, token] of [[first, 'token-first'], [second, 'token-second']] as const) {
      const channel = await k.gw.api('POST', '/api/bots/demo/channels', { mode: 'async', app_id: k.clientId, post_url: receiver.url, access_token: token });
      assert.equal(channel.status, 201, JSON.stringify(channel.body));
      hooks.push(new URL(channel.body.url).pathname);
    }
  });
  after(async () => {
    await k.gw.close();
    await first.close();
    await second.close();
  });

  const notify = async (userId: string, n: number, eventType = 'payment_failed') => {
    const r = await k.gw.app.inject({
      method: 'POST', url: '/api/events', headers: { 'x-api-key': PRODUCER_KEY },
      payload: { user_id: userId, event_type: eventType, params: { amount: n }, idempotency_key: `${eventType}-${n}` },
    });
    assert.equal(r.statusCode, 200, r.body);
    return r.json();
  };
  const notifications = (receiver: Receiver, to: string, text = /payment failed/) =>
    receiver.requests.map((r) => ({ body: JSON.parse(r.body), auth: r.headers.authorization })).filter((r) => r.body.to === to && text.test(String(r.body.text)));
  const LOW = /balance is low/;

  it('finds the user by their kore identity and sends to the POST_URL of the async channel they used last', async () => {
    const h = { authorization: `bearer ${await k.token({ appId: k.clientId, sub: 'kn-1' })}` };
    assert.equal((await k.post(hooks[0], say('what is my balance', 'kn-1'), h)).status, 200);
    const user = await k.gw.store.users.byIdentity({ kind: 'kore', value: 'demo:kn-1' });
    assert.ok(user, 'the channel linked a kore identity');

    const d1 = await notify(user.id, 1);
    assert.deepEqual([d1.decision, d1.reason], ['notify', 'critical']);
    await eventually(() => notifications(first, 'kn-1').length === 1);
    const [sent] = notifications(first, 'kn-1');
    assert.deepEqual(sent.body, { text: 'Your payment failed. Would you like to retry?', to: 'kn-1', from: 'demo' });
    assert.equal(sent.auth, 'Bearer token-first');

    // The user moves to the second channel: the next notification follows them there.
    assert.equal((await k.post(hooks[1], say('when are you open', 'kn-1'), h)).status, 200);
    assert.equal((await notify(user.id, 2)).reason, 'critical');
    await eventually(() => notifications(second, 'kn-1').length === 1);
    assert.equal(notifications(second, 'kn-1')[0].auth, 'Bearer token-second');
    assert.equal(notifications(first, 'kn-1').length, 1, 'nothing more on the first');
  });

  it('exports the conversations and messages of the user (what they said, what they were sent), and deletes them with the user', async () => {
    const user = (await k.gw.store.users.byIdentity({ kind: 'kore', value: 'demo:kn-1' }))!;
    const exported = await k.gw.api('GET', `/api/users/${user.id}/export`);
    assert.equal(exported.status, 200, JSON.stringify(exported.body));
    assert.equal(exported.body.conversations.length, 2, 'one per async channel');
    const messages = JSON.stringify(exported.body.messages);
    for (const text of ['what is my balance', 'when are you open', 'Your payment failed. Would you like to retry?']) assert.ok(messages.includes(text), text);
    assert.equal((await k.gw.api('DELETE', `/api/users/${user.id}`)).status, 204);
    assert.equal((await k.gw.api('GET', `/api/users/${user.id}/export`)).status, 404);
    assert.deepEqual(await k.gw.store.conversations.list({ userIds: [user.id] }, { limit: 10 }), []);
  });

  it('makes a deleted user who talks again a new user, found by their identity (not the deleted one)', async () => {
    const h = { authorization: `bearer ${await k.token({ appId: k.clientId, sub: 'kn-1' })}` };
    assert.equal((await k.post(hooks[1], say('when are you open', 'kn-1'), h)).status, 200);
    const again = await eventually(() => k.gw.store.users.byIdentity({ kind: 'kore', value: 'demo:kn-1' }));
    const fetched = await k.gw.api('GET', `/api/users/${again.id}`);
    assert.equal(fetched.status, 200, 'the user of the new conversation exists');
    assert.equal((await k.gw.store.conversations.list({ userIds: [again.id] }, { limit: 10 })).length, 1);
  });

  it('finds the channel used last among more than ten conversations of the user, however old the conversation', async () => {
    const h = { authorization: `bearer ${await k.token({ appId: k.clientId, sub: 'kn-many' })}` };
    assert.equal((await k.post(hooks[0], say('what is my balance', 'kn-many'), h)).status, 200);
    // Ten newer conversations on ten more async channels (to the second receiver), then the oldest one talks again.
    for (let i = 0; i < 10; i++) {
      const channel = await k.gw.api('POST', '/api/bots/demo/channels', { mode: 'async', app_id: k.clientId, post_url: second.url, access_token: `token-${i}` });
      assert.equal((await k.post(new URL(channel.body.url).pathname, say('when are you open', 'kn-many'), h)).status, 200);
    }
    assert.equal((await k.post(hooks[0], say('when are you open', 'kn-many'), h)).status, 200);
    const user = (await k.gw.store.users.byIdentity({ kind: 'kore', value: 'demo:kn-many' }))!;
    assert.equal((await k.gw.store.conversations.list({ userIds: [user.id] }, { limit: 20 })).length, 11);
    assert.equal((await notify(user.id, 5)).reason, 'critical');
    await eventually(() => notifications(first, 'kn-many').length === 1);
    assert.equal(notifications(second, 'kn-many').length, 0);
  });

  it('leaves a user who only used the sync channel without a channel', async () => {
    const h = { authorization: `bearer ${await k.token({ appId: k.clientId, sub: 'kn-2' })}` };
    assert.equal((await k.post('/chatbot/hooks/demo', say('what is my balance', 'kn-2'), h)).status, 200);
    const user = await k.gw.store.users.byIdentity({ kind: 'kore', value: 'demo:kn-2' });
    assert.ok(user);
    assert.deepEqual([(await notify(user.id, 3)).decision, (await notify(user.id, 4)).reason], ['skip', 'no_channel']);
  });

  it('sends a critical notification into a conversation with an agent, skips a non-critical one (in_handoff) until the handoff ends', async () => {
    const h = { authorization: `bearer ${await k.token({ appId: k.clientId, sub: 'kn-3' })}` };
    assert.equal((await k.post(hooks[0], say('talk to an agent', 'kn-3'), h)).status, 200);
    const user = (await k.gw.store.users.byIdentity({ kind: 'kore', value: 'demo:kn-3' }))!;
    const [conversation] = await k.gw.store.conversations.list({ userIds: [user.id] }, { limit: 10 });
    assert.equal(conversation.mode, 'waiting');
    assert.equal((await notify(user.id, 5, 'low_balance')).reason, 'in_handoff', 'waiting for an agent');
    // An agent takes the conversation.
    const agent = await k.gw.api('POST', '/api/agents', { name: 'Alice' });
    const asAgent = { authorization: `Bearer ${agent.body.token}` };
    const listed = (await k.gw.app.inject({ method: 'GET', url: '/api/agent/sessions?status=waiting', headers: asAgent })).json();
    const session = listed.data.find((x: any) => x.conversation_id === conversation.id);
    assert.equal((await k.gw.app.inject({ method: 'POST', url: `/api/agent/sessions/${session.id}/claim`, headers: asAgent })).statusCode, 200);
    assert.equal((await k.gw.store.conversations.get(conversation.id))!.mode, 'agent');

    // Critical: sent to the channel's POST_URL, written into the conversation as a bot message the agent sees.
    const critical = await notify(user.id, 6);
    assert.deepEqual([critical.decision, critical.reason], ['notify', 'critical']);
    await eventually(() => notifications(first, 'kn-3').length === 1);
    assert.equal(notifications(first, 'kn-3')[0].auth, 'Bearer token-first');
    const seen = (await k.gw.app.inject({ method: 'GET', url: `/api/agent/sessions/${session.id}/messages`, headers: asAgent })).json().messages;
    assert.ok(seen.some((m: any) => m.direction === 'outgoing' && /payment failed/.test(m.text)), JSON.stringify(seen));

    // Not critical: not pushed into a conversation with a person, and said so (not no_channel), in the stats too.
    const held = await notify(user.id, 7, 'low_balance');
    assert.deepEqual([held.decision, held.reason], ['skip', 'in_handoff']);
    const stats = await k.gw.api('GET', '/api/notify/stats');
    assert.ok(stats.body.data.some((r: any) => r.event_type === 'low_balance' && r.decision === 'skip' && r.reason === 'in_handoff' && r.count === 2), JSON.stringify(stats.body));

    // The handoff ends: the bot has the conversation again and a non-critical notification goes there.
    assert.equal((await k.post(hooks[0], say('end chat', 'kn-3'), h)).status, 200);
    assert.equal((await k.gw.store.conversations.get(conversation.id))!.mode, 'bot');
    assert.equal((await notify(user.id, 8, 'low_balance')).reason, 'sent');
    await eventually(() => notifications(first, 'kn-3', LOW).length === 1);
  });

  it('sends a non-critical notification to a conversation of the user in bot mode rather than to the one with an agent', async () => {
    const h = { authorization: `bearer ${await k.token({ appId: k.clientId, sub: 'kn-4' })}` };
    assert.equal((await k.post(hooks[1], say('what is my balance', 'kn-4'), h)).status, 200);
    assert.equal((await k.post(hooks[0], say('talk to an agent', 'kn-4'), h)).status, 200);
    const user = (await k.gw.store.users.byIdentity({ kind: 'kore', value: 'demo:kn-4' }))!;
    assert.equal((await notify(user.id, 9, 'low_balance')).reason, 'sent');
    await eventually(() => notifications(second, 'kn-4', LOW).length === 1);
    assert.equal(notifications(first, 'kn-4', LOW).length, 0);
  });

  it('leaves a user with no conversation at all without a channel, critical or not', async () => {
    assert.deepEqual([(await notify('usr_never_seen', 10)).reason, (await notify('usr_never_seen', 11, 'low_balance')).reason], ['no_channel', 'no_channel']);
  });
});
