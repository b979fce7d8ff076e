// Live-agent handoff through the real HTTP API, with loopback receivers standing for the chat platform and a
// subscriber of the lifecycle messages: the user asks for an agent, an agent reads the transcript and claims
// (a second agent claiming at once gets 409), both sides write, the agent closes and the bot resumes at the
// state given. Then the other ways a session ends (a user close phrase, no agent in time), Kore.ai channels
// (async: agent messages go to POST_URL; sync: handoff unavailable), and every bad agent request.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { DEMO_BOT_FILE } from '../../src/provision.ts';
import { ADMIN_TOKEN, eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { rememberSecrets } from '../helpers/signatures.ts';
import { startBackendGateway, testBackends } from '../helpers/backends.ts';

type Json = any;

for (const backend of await testBackends()) {
  describe(`live-agent handoff (${backend.name})`, { skip: backend.skip }, () => {
    let gw: TestGateway;
    let dropSchema = async () => {};
    let base: string;
    let platform: Receiver;
    let subscriber: Receiver;
    let narrow: Receiver;
    let inboundToken: string;
    const agents: Record<string, { id: string; token: string }> = {};

    async function http(method: string, path: string, body?: unknown, token = ADMIN_TOKEN): Promise<{ status: number; body: Json; headers: Headers }> {
      const response = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      const parsed = text ? JSON.parse(text) : null;
      rememberSecrets(parsed);
      return { status: response.status, body: parsed, headers: response.headers };
    }
    const user = (userId: string, message: string, conversationId = `fc-${userId}`) =>
      http('POST', '/api/webhook/incoming', { user_id: userId, username: 'Ada', message, platform: 'freshchat', conversation_id: conversationId }, inboundToken);
    const agent = (name: string) => ({
      get: (path: string) => http('GET', `/api/agent${path}`, undefined, agents[name].token),
      post: (path: string, body?: unknown) => http('POST', `/api/agent${path}`, body ?? {}, agents[name].token),
    });

    /** What reached the platform for a user, in arrival order (each delivery once). */
    function atPlatform(userId: string, receiver = platform): Json[] {
      const seen = new Set<string>();
      return receiver.requests
        .filter((r) => r.verified === true && r.headers['webhook-id'] && !seen.has(String(r.headers['webhook-id'])) && seen.add(String(r.headers['webhook-id'])))
        .map((r) => JSON.parse(r.body))
        .filter((b) => b.user_id === userId);
    }
    const replies = (userId: string) => atPlatform(userId).filter((b) => !b.type);
    const events = (userId: string, receiver = platform) => atPlatform(userId, receiver).filter((b) => b.type);

    before(async () => {
      const env = { BOTGATE_PORT: '0', BOTGATE_HANDOFF__AGENT_WAIT_MINUTES: '0.03', BOTGATE_HANDOFF__SWEEP_SECONDS: '0.2' };
      ({ gw, drop: dropSchema } = await startBackendGateway(backend, env, { start: false }));
      await gw.bots.load(DEMO_BOT_FILE);
      await gw.start();
      base = await gw.listen();
      platform = await startReceiver((_q, res) => void res.writeHead(200).end());
      subscriber = await startReceiver((_q, res) => void res.writeHead(200).end());
      const config = await http('POST', '/api/webhook/config', { name: 'freshchat', outgoing_webhook_url: platform.url, auth_token: 'freshchat-api-key' });
      assert.equal(config.status, 201, JSON.stringify(config.body));
      inboundToken = config.body.inbound_token;
      const sub = await http('POST', '/api/endpoints', { name: 'helpdesk', url: subscriber.url, event_types: ['handoff.*'] });
      assert.equal(sub.status, 201, JSON.stringify(sub.body));
      narrow = await startReceiver((_q, res) => void res.writeHead(200).end());
      assert.equal((await http('POST', '/api/endpoints', { name: 'pager', url: narrow.url, event_types: ['handoff.requested'] })).status, 201);
      for (const name of ['alice', 'bob', 'carol']) {
        const created = await http('POST', '/api/agents', { name });
        assert.equal(created.status, 201);
        assert.match(created.body.token, /^bga_/);
        agents[name] = { id: created.body.id, token: created.body.token };
      }
    });
    after(async () => {
      await gw.close();
      await platform.close();
      await subscriber.close();
      await narrow.close();
      await dropSchema();
    });

    it('runs a whole handoff: request with transcript, claim race, messages both ways, close and resume', async () => {
      // The bot answers first, then the user asks for a person.
      const first = await user('u1', 'what is my balance');
      assert.equal(first.body.response.answer, 'Your balance is not available right now.');
      const asked = await user('u1', 'can I talk to a real person');
      assert.equal(asked.status, 200);
      assert.equal(asked.body.response.response_type, 'handoff');
      assert.equal(asked.body.response.user_info.mode, 'waiting');
      assert.match(asked.body.response.answer, /Connecting you to a person/);

      // The request reaches the platform and the subscriber, with the conversation so far.
      const requested = await eventually(() => events('u1').find((e) => e.type === 'handoff.requested'));
      assert.equal(requested.conversation_id, 'fc-u1');
      assert.equal(requested.platform, 'freshchat');
      assert.equal(requested.sender_type, 'user');
      assert.equal(requested.message, 'can I talk to a real person');
      assert.deepEqual(requested.transcript.map((l: Json) => l.text), [
        'what is my balance', 'Your balance is not available right now.', 'can I talk to a real person', 'Connecting you to a person. Please wait a moment.',
      ]);
      await eventually(() => events('u1', subscriber).some((e) => e.type === 'handoff.requested' && e.session_id === requested.session_id));
      for (const key of ['user_id', 'conversation_id', 'platform', 'message', 'sender', 'sender_type', 'timestamp', 'session_id']) assert.ok(key in requested, key);

      // While waiting, the bot stays silent and the user's words go to the agent side.
      const meanwhile = await user('u1', 'what is my balance');
      assert.equal(meanwhile.body.response.answer, '');
      assert.equal(meanwhile.body.response.response_type, 'handoff');
      await eventually(() => events('u1').some((e) => e.type === 'handoff.message' && e.message === 'what is my balance' && e.sender_type === 'user'));

      // An agent lists waiting sessions and reads the conversation.
      const waiting = await agent('alice').get('/sessions?status=waiting');
      const session = waiting.body.data.find((s: Json) => s.session_id === requested.session_id || s.id === requested.session_id);
      assert.ok(session, JSON.stringify(waiting.body));
      assert.equal(session.user_id, 'u1');
      assert.equal(session.platform, 'freshchat');
      const read = await agent('alice').get(`/sessions/${session.id}/messages`);
      assert.equal(read.status, 200);
      assert.deepEqual(read.body.messages.filter((m: Json) => m.direction === 'incoming').map((m: Json) => m.text), ['what is my balance', 'can I talk to a real person', 'what is my balance']);

      // Two agents claim at once: exactly one wins.
      const claims = await Promise.all([agent('alice').post(`/sessions/${session.id}/claim`), agent('bob').post(`/sessions/${session.id}/claim`)]);
      assert.deepEqual(claims.map((c) => c.status).sort(), [200, 409]);
      const loser = claims.find((c) => c.status === 409)!;
      assert.equal(loser.body.code, 'BG_ERR_SESSION_TAKEN');
      const winnerName = claims[0].status === 200 ? 'alice' : 'bob';
      const otherName = winnerName === 'alice' ? 'bob' : 'alice';
      const winner = agent(winnerName);
      const assigned = await eventually(() => events('u1').find((e) => e.type === 'handoff.assigned'));
      assert.equal(assigned.sender, agents[winnerName].id);
      assert.equal(assigned.sender_type, 'agent');

      // Both sides write; the loser may not.
      assert.equal((await agent(otherName).post(`/sessions/${session.id}/messages`, { text: 'me too' })).status, 409);
      const wrote = await winner.post(`/sessions/${session.id}/messages`, { text: 'Hi Ada, I can see your card was declined.' });
      assert.equal(wrote.status, 202, JSON.stringify(wrote.body));
      const agentReply = await eventually(() => replies('u1').find((r) => r.response_type === 'agent'));
      assert.deepEqual({ ...agentReply, timestamp: 'x' }, {
        user_id: 'u1', conversation_id: 'fc-u1', platform: 'freshchat', message: 'Hi Ada, I can see your card was declined.', response_type: 'agent', timestamp: 'x',
      });
      const answer = await user('u1', 'yes that is right, order a pizza was not what I meant');
      assert.equal(answer.body.response.answer, '', 'the bot never answers while an agent has the conversation');
      await eventually(() => events('u1', subscriber).some((e) => e.type === 'handoff.message' && e.sender_type === 'user' && e.message.startsWith('yes that is right')));
      await eventually(() => events('u1', subscriber).some((e) => e.type === 'handoff.message' && e.sender_type === 'agent' && e.sender === agents[winnerName].id));

      // The agent closes, and the bot resumes at the satisfaction question.
      const closed = await winner.post(`/sessions/${session.id}/close`, { resume_state: 'feedback' });
      assert.equal(closed.status, 200, JSON.stringify(closed.body));
      assert.equal(closed.body.status, 'closed');
      assert.equal(closed.body.resume_state, 'feedback');
      assert.equal(closed.body.closed_by, 'agent');
      await eventually(() => events('u1').some((e) => e.type === 'handoff.closed' && e.sender === agents[winnerName].id));
      await eventually(() => replies('u1').some((r) => /How did we do/.test(r.message)));
      const after = await user('u1', '1');
      assert.equal(after.body.response.user_info.mode, 'bot');
      assert.notEqual(after.body.response.answer, '', 'the bot answers again, at the state it resumed at');

      // Everything reached the platform in order: bot replies, the agent's words, the goodbye, the question.
      const texts = replies('u1').map((r) => r.message);
      const order = ['Your balance is not available right now.', 'Connecting you to a person. Please wait a moment.', 'Hi Ada, I can see your card was declined.'];
      assert.deepEqual(texts.slice(0, 3), order);
      assert.ok(texts.findIndex((t) => /How did we do/.test(t)) > 2);
      // The session is closed for good.
      assert.equal((await winner.post(`/sessions/${session.id}/messages`, { text: 'one more thing' })).body.code, 'BG_ERR_SESSION_CLOSED');
      assert.equal((await winner.post(`/sessions/${session.id}/messages`, { text: 'one more thing' })).status, 409);
    });

    it('sends a subscriber only the handoff types its filter lists: a pager for requests never gets the chat', async () => {
      await user('u5', 'talk to a human');
      const [session] = (await agent('bob').get('/sessions?status=waiting')).body.data.filter((s: Json) => s.user_id === 'u5');
      assert.equal((await agent('bob').post(`/sessions/${session.id}/claim`)).status, 200);
      await user('u5', 'my card number is 4111 1111 1111 1111');
      assert.equal((await agent('bob').post(`/sessions/${session.id}/close`, {})).status, 200);
      await eventually(() => events('u5', subscriber).some((e) => e.type === 'handoff.closed'));
      await eventually(() => events('u5', narrow).length > 0);
      assert.deepEqual(events('u5', narrow).map((e) => e.type), ['handoff.requested']);
      assert.ok(events('u5', subscriber).some((e) => e.type === 'handoff.message'), 'the handoff.* subscriber has the chat');
    });

    it('ends the session when the user says a close phrase', async () => {
      await user('u2', 'human');
      const [session] = (await agent('carol').get('/sessions?status=waiting')).body.data.filter((s: Json) => s.user_id === 'u2');
      assert.equal((await agent('carol').post(`/sessions/${session.id}/claim`)).status, 200);
      const bye = await user('u2', 'End chat!');
      assert.match(bye.body.response.answer, /back with the bot/);
      assert.equal(bye.body.response.user_info.mode, 'bot');
      const closed = await eventually(() => events('u2').find((e) => e.type === 'handoff.closed'));
      assert.equal(closed.sender_type, 'user');
      assert.equal((await agent('carol').get(`/sessions/${session.id}`)).body.closed_by, 'user');
      assert.equal((await agent('carol').post(`/sessions/${session.id}/messages`, { text: 'hello?' })).status, 409);
      assert.equal((await user('u2', 'what is my balance')).body.response.answer, 'Your balance is not available right now.');
    });

    it('gives the conversation back to the bot when no agent claims it in time', async () => {
      await user('u3', 'talk to an agent');
      const closed = await eventually(() => events('u3').find((e) => e.type === 'handoff.closed'), 10_000);
      assert.equal(closed.sender_type, 'system');
      await eventually(() => replies('u3').some((r) => /No one is free right now/.test(r.message)));
      const [session] = (await agent('carol').get('/sessions?status=closed')).body.data.filter((s: Json) => s.user_id === 'u3');
      assert.equal(session.closed_by, 'timeout');
      assert.equal((await agent('carol').post(`/sessions/${session.id}/claim`)).status, 409, 'too late to claim');
      assert.equal((await user('u3', 'what is my balance')).body.response.answer, 'Your balance is not available right now.');
    });

    it('refuses bad agent requests with coded errors', async () => {
      assert.equal((await http('GET', '/api/agent/sessions', undefined, 'bga_not-a-token')).status, 401);
      assert.equal((await http('GET', '/api/agent/sessions', undefined, ADMIN_TOKEN)).status, 401, 'the admin token is not an agent token');
      const none = await fetch(`${base}/api/agent/sessions`);
      assert.equal(none.status, 401);
      assert.equal((await agent('alice').get('/sessions/hof_nope')).status, 404);
      const unknown = await agent('alice').post('/sessions/hof_nope/claim');
      assert.deepEqual([unknown.status, unknown.body.code], [404, 'BG_ERR_SESSION_NOT_FOUND']);
      assert.equal((await agent('alice').post('/sessions/hof_nope/messages', { text: 'x' })).status, 404);
      assert.equal((await agent('alice').post('/sessions/hof_nope/close')).status, 404);
      await user('u4', 'live chat');
      const [session] = (await agent('alice').get('/sessions?status=waiting')).body.data.filter((s: Json) => s.user_id === 'u4');
      const early = await agent('alice').post(`/sessions/${session.id}/messages`, { text: 'before claiming' });
      assert.deepEqual([early.status, early.body.code], [409, 'BG_ERR_CONFLICT']);
      assert.equal((await agent('alice').post(`/sessions/${session.id}/messages`, { text: '' })).status, 400);
      assert.equal((await agent('alice').post(`/sessions/${session.id}/messages`, { text: 'x', extra: 1 })).status, 400);
      assert.equal((await agent('alice').post(`/sessions/${session.id}/close`, { resume_state: 'no_such_state' })).status, 400);
      // Nor one that hands over again: the user would be promised a person as the session ends.
      const handingOver = await agent('alice').post(`/sessions/${session.id}/close`, { resume_state: 'payment_person' });
      assert.deepEqual([handingOver.status, handingOver.body.code], [400, 'BG_ERR_VALIDATION']);
      // Many agents claiming at once: exactly one wins.
      const names = ['alice', 'bob', 'carol'];
      const results = await Promise.all(names.flatMap((n) => [agent(n).post(`/sessions/${session.id}/claim`), agent(n).post(`/sessions/${session.id}/claim`)]));
      const holders = new Set(results.filter((r) => r.status === 200).map((r) => r.body.agent_id));
      assert.equal(holders.size, 1, 'one agent holds the session');
      assert.ok(results.every((r) => r.status === 200 || (r.status === 409 && r.body.code === 'BG_ERR_SESSION_TAKEN')));
      // A deactivated agent's token stops working.
      const holder = names.find((n) => agents[n].id === [...holders][0])!;
      assert.equal((await http('PATCH', `/api/agents/${agents[holder].id}`, { is_active: false })).status, 200);
      assert.equal((await agent(holder).get('/sessions')).status, 401);
      assert.equal((await http('PATCH', `/api/agents/${agents[holder].id}`, { is_active: true })).status, 200);
      assert.equal((await agent(holder).post(`/sessions/${session.id}/close`)).status, 200);
      assert.equal((await http('GET', '/api/agents/agt_nope')).status, 404);
      // A name of only spaces is refused on PATCH as on create.
      assert.equal((await http('POST', '/api/agents', { name: '   ' })).status, 400);
      const blank = await http('PATCH', `/api/agents/${agents.alice.id}`, { name: '  ' });
      assert.deepEqual([blank.status, blank.body.code], [400, 'BG_ERR_VALIDATION']);
      assert.equal((await http('GET', `/api/agents/${agents.alice.id}`)).body.name, 'alice');
    });

    it('frees a deactivated agent\'s sessions: another agent takes over or closes them', async () => {
      const dave = await http('POST', '/api/agents', { name: 'dave' });
      agents.dave = { id: dave.body.id, token: dave.body.token };
      await user('u6', 'talk to a human');
      const [session] = (await agent('dave').get('/sessions?status=waiting')).body.data.filter((s: Json) => s.user_id === 'u6');
      assert.equal((await agent('dave').post(`/sessions/${session.id}/claim`)).status, 200);
      assert.equal((await agent('bob').post(`/sessions/${session.id}/claim`)).status, 409, 'held by an active agent');
      assert.equal((await http('PATCH', `/api/agents/${agents.dave.id}`, { is_active: false })).status, 200);
      const taken = await agent('bob').post(`/sessions/${session.id}/claim`);
      assert.equal(taken.status, 200, JSON.stringify(taken.body));
      assert.equal(taken.body.agent_id, agents.bob.id);
      assert.equal((await agent('bob').post(`/sessions/${session.id}/messages`, { text: 'Bob here, taking over.' })).status, 202);
      assert.equal((await agent('bob').post(`/sessions/${session.id}/close`, {})).status, 200);
    });

    it('sends the handoff lifecycle to a subscriber created a moment before the request', async () => {
      await user('u7', 'what is my balance'); // the turns have just looked up who subscribes
      const late = await startReceiver((_q, res) => void res.writeHead(200).end());
      try {
        assert.equal((await http('POST', '/api/endpoints', { name: 'late-desk', url: late.url, event_types: ['handoff.requested'] })).status, 201);
        await user('u7', 'talk to a human');
        await eventually(() => events('u7', late).find((e) => e.type === 'handoff.requested'));
      } finally {
        await late.close();
      }
    });

    it('closes a session whose channel was deleted mid-handoff: by timeout when waiting, by its agent when claimed', async () => {
      const config = await http('POST', '/api/webhook/config', { name: 'short-lived', outgoing_webhook_url: platform.url });
      const say = (userId: string, message: string) => http('POST', '/api/webhook/incoming', { user_id: userId, message, platform: 'short-lived', conversation_id: `sl-${userId}` }, config.body.inbound_token);
      await say('w1', 'talk to a human');
      await say('w2', 'talk to a human');
      const open = (await agent('bob').get('/sessions?status=waiting')).body.data;
      const waiting = open.find((s: Json) => s.user_id === 'w1');
      const claimed = open.find((s: Json) => s.user_id === 'w2');
      assert.equal((await agent('bob').post(`/sessions/${claimed.id}/claim`)).status, 200);
      assert.equal((await http('DELETE', `/api/webhook/config/${config.body.id}`)).status, 204);
      const timedOut = await eventually(async () => {
        const s = (await agent('bob').get(`/sessions/${waiting.id}`)).body;
        return s.status === 'closed' ? s : null;
      }, 10_000);
      assert.equal(timedOut.closed_by, 'timeout');
      assert.equal((await agent('bob').post(`/sessions/${claimed.id}/messages`, { text: 'hello?' })).status, 409, 'nothing reaches the user');
      const other = await agent('carol').post(`/sessions/${claimed.id}/close`, {});
      assert.deepEqual([other.status, other.body.code], [409, 'BG_ERR_SESSION_TAKEN'], 'still only its agent may close it');
      assert.equal((await agent('bob').post(`/sessions/${claimed.id}/close`, {})).status, 200);
      assert.equal((await agent('bob').get(`/sessions/${claimed.id}`)).body.status, 'closed');
      // The helpdesk learns of both ends, addressed as its earlier messages of the session were.
      const closed = (userId: string) => eventually(() => events(userId, subscriber).find((e) => e.type === 'handoff.closed'));
      const [byTimeout, byAgent] = [await closed('w1'), await closed('w2')];
      assert.deepEqual([byTimeout.session_id, byTimeout.sender_type, byTimeout.platform, byTimeout.conversation_id], [waiting.id, 'system', 'short-lived', 'sl-w1']);
      assert.deepEqual([byAgent.session_id, byAgent.sender, byAgent.sender_type, byAgent.platform], [claimed.id, agents.bob.id, 'agent', 'short-lived']);
    });
  });
}

describe('handoff on Kore.ai channels', () => {
  let gw: TestGateway;
  let postUrl: Receiver;
  let clientId: string;
  let secret: string;
  let asyncHook: string;
  let agentToken: string;

  before(async () => {
    gw = await startTestGateway();
    await gw.bots.load(DEMO_BOT_FILE);
    postUrl = await startReceiver((_q, res) => void res.writeHead(200).end());
    const app = await gw.api('POST', '/api/apps', { name: 'kore' });
    clientId = app.body.client_id;
    secret = app.body.client_secret;
    await gw.api('POST', '/api/bots/demo/channels', { mode: 'sync', app_id: clientId });
    const channel = await gw.api('POST', '/api/bots/demo/channels', { mode: 'async', app_id: clientId, post_url: postUrl.url, access_token: 'kore-token' });
    asyncHook = new URL(channel.body.url).pathname;
    agentToken = (await gw.api('POST', '/api/agents', { name: 'dana' })).body.token;
  });
  after(async () => {
    await gw.close();
    await postUrl.close();
  });

  const kore = async (path: string, from: string, text: string) => {
    const token = await new SignJWT({ appId: clientId, sub: from }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(secret));
    const response = await gw.app.inject({ method: 'POST', url: path, headers: { authorization: `bearer ${token}`, 'content-type': 'application/json' }, payload: { message: { text }, from: { id: from } } });
    return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : null };
  };

  it('tells a sync channel\'s user that no person can join there', async () => {
    const answer = await kore('/chatbot/hooks/demo', 'k-sync', 'talk to an agent');
    assert.equal(answer.status, 200);
    assert.match(JSON.stringify(answer.body.text), /can't connect you to a person here/);
    const sessions = await gw.api('GET', '/api/handoffs');
    assert.equal(sessions.body.data.length, 0, 'no session was opened');
    assert.match(JSON.stringify((await kore('/chatbot/hooks/demo', 'k-sync', 'what is my balance')).body.text), /balance/);
  });

  it('sends an agent\'s messages to an async channel\'s POST_URL', async () => {
    assert.equal((await kore(asyncHook, 'k-async', 'talk to an agent')).status, 200);
    const [session] = await eventually(async () => (await gw.api('GET', '/api/agent/sessions', undefined, { authorization: `Bearer ${agentToken}` })).body.data);
    assert.equal(session.platform, 'kore');
    const auth = { authorization: `Bearer ${agentToken}` };
    assert.equal((await gw.api('POST', `/api/agent/sessions/${session.id}/claim`, {}, auth)).status, 200);
    assert.equal((await gw.api('POST', `/api/agent/sessions/${session.id}/messages`, { text: 'Dana here, how can I help?' }, auth)).status, 202);
    const bodies = () => postUrl.requests.filter((r) => r.verified === true).map((r) => JSON.parse(r.body));
    await eventually(() => bodies().some((b) => b.text === 'Dana here, how can I help?' && b.to === 'k-async' && b.from === 'demo'));
    assert.equal((await gw.api('POST', `/api/agent/sessions/${session.id}/close`, {}, auth)).status, 200);
    await eventually(() => bodies().some((b) => /back with the bot/.test(String(b.text))));
    const texts = bodies().map((b) => b.text).filter(Boolean);
    assert.ok(texts.indexOf('Dana here, how can I help?') < texts.findIndex((t) => /back with the bot/.test(String(t))), 'in order');
  });
});
