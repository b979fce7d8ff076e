// The handoff timeout sweep on an injected clock: one pass ends every session that waited too long, however many
// (it reads them a page of 100 at a time), and none that has not.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../src/clock.ts';
import { DEMO_BOT_FILE } from '../../src/provision.ts';
import { startTestGateway } from '../helpers/gateway.ts';

describe('handoff timeout sweep', () => {
  it('ends every session past its wait in one pass, more than a page of them, and leaves the others waiting', async () => {
    const clock = createManualClock(Date.UTC(2026, 5, 1, 12));
    // Not started: no sweep timer, the test runs the pass itself.
    const gw = await startTestGateway({ BOTGATE_HANDOFF__AGENT_WAIT_MINUTES: '5' }, { clock, start: false });
    try {
      await gw.bots.load(DEMO_BOT_FILE);
      const config = await gw.api('POST', '/api/webhook/config', { name: 'freshchat', outgoing_webhook_url: 'http://127.0.0.1:9/out', auth_token: 'freshchat-api-key', rate_limit_per_minute: 1000 });
      assert.equal(config.status, 201, JSON.stringify(config.body));
      const ask = async (userId: string) => {
        const res = await gw.api('POST', '/api/webhook/incoming', { user_id: userId, message: 'talk to an agent', platform: 'freshchat', conversation_id: `c-${userId}` }, { authorization: `Bearer ${config.body.inbound_token}` });
        assert.equal(res.body.response?.user_info.mode, 'waiting', JSON.stringify(res.body));
      };
      for (let i = 0; i < 130; i++) await ask(`early-${i}`);
      clock.advance(4 * 60_000);
      await ask('late'); // has waited 1 minute when the others have waited 6
      clock.advance(2 * 60_000);

      await gw.sessions.sweep();
      const agent = (await gw.api('POST', '/api/agents', { name: 'carol' })).body;
      const sessions = async (status: string) => (await gw.api('GET', `/api/agent/sessions?per_page=200&status=${status}`, undefined, { authorization: `Bearer ${agent.token}` })).body.data;
      const closed = (await sessions('closed')).filter((s: { closed_by: string }) => s.closed_by === 'timeout');
      assert.equal(closed.length, 130, 'every early session, in one pass (before: the first 100)');
      const waiting = await sessions('waiting');
      assert.deepEqual(waiting.map((s: { user_id: string }) => s.user_id), ['late']);
    } finally {
      await gw.close();
    }
  });
});
