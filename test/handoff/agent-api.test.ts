// The agent API's edges, on each store: what a session records when an agent closes it without claiming it first,
// and the requests it refuses (blank or too long text, a resume state the bot lacks, an unknown status filter).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DEMO_BOT_FILE } from '../../src/provision.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { startBackendGateway, testBackends } from '../helpers/backends.ts';

type Json = any;

for (const backend of await testBackends()) {
  describe(`the agent API (${backend.name})`, { skip: backend.skip }, () => {
    let gw: TestGateway;
    let drop = async () => {};
    let platform: Receiver;
    let inboundToken: string;
    const agents: Record<string, { id: string; token: string }> = {};

    const user = (userId: string, message: string) =>
      gw.api('POST', '/api/webhook/incoming', { user_id: userId, message, platform: 'freshchat', conversation_id: `fc-${userId}` }, { authorization: `Bearer ${inboundToken}` });
    const agent = (name: string) => ({
      get: (path: string) => gw.api('GET', `/api/agent${path}`, undefined, { authorization: `Bearer ${agents[name].token}` }),
      post: (path: string, body: unknown = {}) => gw.api('POST', `/api/agent${path}`, body, { authorization: `Bearer ${agents[name].token}` }),
    });
    /** The user's new waiting session. */
    async function waitingSession(userId: string): Promise<Json> {
      assert.equal((await user(userId, 'talk to a human')).body.response.user_info.mode, 'waiting');
      const [session] = (await agent('alice').get('/sessions?status=waiting')).body.data.filter((s: Json) => s.user_id === userId);
      assert.ok(session, `${userId} waits`);
      return session;
    }

    before(async () => {
      ({ gw, drop } = await startBackendGateway(backend, {}, { start: false }));
      await gw.bots.load(DEMO_BOT_FILE);
      await gw.start();
      platform = await startReceiver((_q, res) => void res.writeHead(200).end());
      const config = await gw.api('POST', '/api/webhook/config', { name: 'freshchat', outgoing_webhook_url: platform.url, auth_token: 'freshchat-api-key' });
      assert.equal(config.status, 201, JSON.stringify(config.body));
      inboundToken = config.body.inbound_token;
      for (const name of ['alice', 'bob']) {
        const created = await gw.api('POST', '/api/agents', { name });
        agents[name] = { id: created.body.id, token: created.body.token };
      }
    });
    after(async () => {
      await gw.close();
      await platform.close();
      await drop();
    });

    it('records the agent who closed a waiting session without claiming it, in the session lists and the user export', async () => {
      const session = await waitingSession('c1');
      const closed = await agent('bob').post(`/sessions/${session.id}/close`);
      assert.equal(closed.status, 200, JSON.stringify(closed.body));
      assert.deepEqual([closed.body.closed_by, closed.body.agent_id], ['agent', agents.bob.id]);
      assert.equal((await agent('alice').get(`/sessions/${session.id}`)).body.agent_id, agents.bob.id);
      const bobs = (await agent('bob').get('/sessions?status=closed&mine=true')).body.data;
      assert.ok(bobs.some((s: Json) => s.id === session.id), 'among the sessions bob held');
      const listed = (await gw.api('GET', `/api/handoffs?agent_id=${agents.bob.id}`)).body.data;
      assert.ok(listed.some((s: Json) => s.id === session.id), 'the admin finds it by agent');
      const userId = (await gw.store.conversations.get(session.conversation_id))!.userId;
      const exported = await gw.api('GET', `/api/users/${userId}/export`);
      assert.equal(exported.body.handoffs.find((h: Json) => h.id === session.id).agent_id, agents.bob.id);

      // Likewise a deactivated agent's session another agent closes.
      const held = await waitingSession('c2');
      assert.equal((await agent('alice').post(`/sessions/${held.id}/claim`)).status, 200);
      assert.equal((await gw.api('PATCH', `/api/agents/${agents.alice.id}`, { is_active: false })).status, 200);
      try {
        assert.equal((await agent('bob').post(`/sessions/${held.id}/close`)).body.agent_id, agents.bob.id);
      } finally {
        assert.equal((await gw.api('PATCH', `/api/agents/${agents.alice.id}`, { is_active: true })).status, 200);
      }
    });

    it('refuses agent text of only whitespace or invisible format characters: the user would get a blank message', async () => {
      const session = await waitingSession('b1');
      assert.equal((await agent('alice').post(`/sessions/${session.id}/claim`)).status, 200);
      // Zero-width space, non-joiner and joiner, word joiner, BOM, soft hyphen: nothing a user would see.
      for (const text of [' ', '\n\t ', '\u00a0\u3000', '\u200b', '\u200c\u200d', '\u2060', '\ufeff', ' \u200b\n\u00ad']) {
        const blank = await agent('alice').post(`/sessions/${session.id}/messages`, { text });
        assert.deepEqual([blank.status, blank.body.code, blank.body.message], [400, 'BG_ERR_VALIDATION', 'body.text is blank (only white space or format characters)'], JSON.stringify(text));
      }
      assert.equal((await agent('alice').post(`/sessions/${session.id}/messages`, { text: ' ok ' })).status, 202);
      assert.equal((await agent('alice').post(`/sessions/${session.id}/messages`, { text: '\u200bhi' })).status, 202);
      const sent = (await agent('alice').get(`/sessions/${session.id}/messages`)).body.messages.filter((m: Json) => m.direction === 'agent_outgoing');
      assert.deepEqual(sent.map((m: Json) => m.text), [' ok ', '\u200bhi']);
    });

    it('takes agent text up to the length handoff.md gives, and refuses a longer one with the documented error', async () => {
      const row = readFileSync(new URL('../../docs/handoff.md', import.meta.url), 'utf8').split('\n').find((l) => l.startsWith('| `POST /api/agent/sessions/{id}/messages`'));
      const documented = /`text` is 1 to ([\d,]+) characters/.exec(row ?? '');
      assert.ok(documented, 'handoff.md gives the longest text an agent may send');
      const max = Number(documented[1].replaceAll(',', ''));
      const session = await waitingSession('l1');
      assert.equal((await agent('alice').post(`/sessions/${session.id}/claim`)).status, 200);
      for (const text of ['x'.repeat(max), '😀'.repeat(max)]) assert.equal((await agent('alice').post(`/sessions/${session.id}/messages`, { text })).status, 202);
      const long = await agent('alice').post(`/sessions/${session.id}/messages`, { text: 'x'.repeat(max + 1) });
      assert.deepEqual(long.body, { statusCode: 400, code: 'BG_ERR_VALIDATION', message: `body.text must NOT have more than ${max} characters` });
      assert.ok(row!.includes(long.body.message), 'the docs quote the error');
    });

    it('checks a resume_state against the bot when the session\'s channel was deleted, though it is not entered', async () => {
      const config = await gw.api('POST', '/api/webhook/config', { name: 'short-lived', outgoing_webhook_url: platform.url });
      const asked = await gw.api('POST', '/api/webhook/incoming', { user_id: 'g1', message: 'talk to a human', platform: 'short-lived' }, { authorization: `Bearer ${config.body.inbound_token}` });
      assert.equal(asked.body.response.user_info.mode, 'waiting');
      const [session] = (await agent('alice').get('/sessions?status=waiting')).body.data.filter((s: Json) => s.user_id === 'g1');
      assert.equal((await agent('alice').post(`/sessions/${session.id}/claim`)).status, 200);
      assert.equal((await gw.api('DELETE', `/api/webhook/config/${config.body.id}`)).status, 204);
      for (const resume_state of ['no_such_state', 'payment_person']) {
        const refused = await agent('alice').post(`/sessions/${session.id}/close`, { resume_state });
        assert.deepEqual([refused.status, refused.body.code], [400, 'BG_ERR_VALIDATION'], resume_state);
        assert.match(refused.body.message, new RegExp(`resume_state ${resume_state}`));
      }
      assert.equal((await agent('alice').get(`/sessions/${session.id}`)).body.status, 'active', 'a refused close leaves it open');
      const closed = await agent('alice').post(`/sessions/${session.id}/close`, { resume_state: 'feedback' });
      assert.equal(closed.status, 200, JSON.stringify(closed.body));
      assert.deepEqual([closed.body.status, closed.body.resume_state], ['closed', null], 'nothing resumes where no message can come');
    });
  });
}
