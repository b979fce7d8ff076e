// Retention on an injected clock: payloads and response bodies past their age are purged, rows stay.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import twilio from 'twilio';
import { createManualClock } from '../../src/clock.ts';
import { DEMO_BOT_FILE } from '../../src/provision.ts';
import { HOST, OUR_NUMBER, SID, TOKEN, smsParams } from '../channels/twilio-helpers.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { eventually, startTestGateway } from '../helpers/gateway.ts';

describe('retention', () => {
  it('purges message payloads and attempt bodies older than the retention, keeping the rows', async () => {
    const clock = createManualClock(Date.UTC(2026, 0, 1));
    const gw = await startTestGateway({ BOTGATE_RETENTION__DAYS: '30' }, { clock });
    const rx = await startReceiver((_q, res) => void res.writeHead(200).end('thanks'));
    try {
      await gw.api('POST', '/api/endpoints', { name: 'rx', url: rx.url });
      const old = (await gw.api('POST', '/api/messages', { event_type: 'r.old', payload: { keep: false } })).body;
      await eventually(async () => (await gw.api('GET', `/api/deliveries/${old.delivery_ids[0]}`)).body.status === 'sent');
      clock.advance(20 * 86_400_000);
      const recent = (await gw.api('POST', '/api/messages', { event_type: 'r.new', payload: { keep: true } })).body;
      await eventually(async () => (await gw.api('GET', `/api/deliveries/${recent.delivery_ids[0]}`)).body.status === 'sent');
      clock.advance(11 * 86_400_000);
      const purged = await gw.retention.runOnce();
      assert.equal(purged.messages, 1);
      assert.equal(purged.attempts, 1);
      const oldMessage = (await gw.api('GET', `/api/messages/${old.id}`)).body;
      assert.equal(oldMessage.expired, true);
      assert.equal(oldMessage.payload, null);
      assert.equal(oldMessage.deliveries[0].status, 'sent', 'the delivery row stays');
      const [attempt] = (await gw.api('GET', `/api/deliveries/${old.delivery_ids[0]}/attempts`)).body.data;
      assert.equal(attempt.expired, true);
      assert.equal(attempt.response_body, null);
      assert.equal(attempt.status_code, 200);
      const kept = (await gw.api('GET', `/api/messages/${recent.id}`)).body;
      assert.deepEqual(kept.payload, { keep: true });
      // A resend of a purged message cannot send what is gone: refused at once, no try made (a try failing as
      // 'expired' counted against an endpoint that is fine: its failing_since was set).
      const resend = await gw.api('POST', `/api/deliveries/${old.delivery_ids[0]}/resend`);
      assert.deepEqual([resend.status, resend.body.code], [409, 'BG_ERR_CONFLICT']);
      assert.match(resend.body.message, /purged by retention/);
      assert.equal((await gw.api('GET', `/api/deliveries/${old.delivery_ids[0]}/attempts`)).body.data.length, 1);
      assert.equal((await gw.api('GET', `/api/deliveries/${old.delivery_ids[0]}`)).body.status, 'sent');
    } finally {
      await gw.close();
      await rx.close();
    }
  });

  it('walks past payloads a disabled endpoint still has to send, batch after batch, and purges the rest', async () => {
    const clock = createManualClock(Date.UTC(2026, 0, 1));
    const gw = await startTestGateway({ BOTGATE_RETENTION__DAYS: '30', BOTGATE_RETENTION__BATCH_SIZE: '10' }, { clock });
    try {
      const off = (await gw.api('POST', '/api/endpoints', { name: 'off', url: 'http://127.0.0.1:9/x', is_active: false })).body;
      const held: string[] = [];
      const gone: string[] = [];
      for (let i = 0; i < 25; i++) {
        held.push((await gw.api('POST', '/api/messages', { event_type: 'r.held', payload: { i }, endpoint_ids: [off.id] })).body.id);
        gone.push((await gw.api('POST', '/api/messages', { event_type: 'r.nobody', payload: { i } })).body.id);
        clock.advance(1000);
      }
      clock.advance(31 * 86_400_000);
      assert.equal((await gw.retention.runOnce()).messages, 25);
      for (const id of gone) assert.equal((await gw.api('GET', `/api/messages/${id}`)).body.expired, true, id);
      for (const id of held) assert.deepEqual((await gw.api('GET', `/api/messages/${id}`)).body.expired, false, id);
    } finally {
      await gw.close();
    }
  });

  it('keeps the newest incoming message of a conversation: a notification to a user quiet for longer is sent from the number they wrote to', async () => {
    const clock = createManualClock(Date.now());
    const api = await startReceiver((_q, res) => void res.writeHead(201, { 'content-type': 'application/json' }).end('{"sid":"SMxx"}'));
    const gw = await startTestGateway({ BOTGATE_RETENTION__DAYS: '30', BOTGATE_PLATFORM__TWILIO_API_BASE: api.url }, { clock, start: false });
    try {
      await gw.bots.load(DEMO_BOT_FILE);
      await gw.start();
      const config = (await gw.api('POST', '/api/webhook/config', { name: 'sms', provider: 'twilio', bot: 'demo', twilio: { account_sid: SID, auth_token: TOKEN } })).body;
      const from = '+15550100042';
      const sms = async (text: string) => {
        const path = `/api/webhook/twilio/${config.id}`;
        const params = smsParams(from, text);
        const res = await gw.app.inject({
          method: 'POST', url: path, payload: new URLSearchParams(params).toString(),
          headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(TOKEN, `http://${HOST}${path}`, params) },
        });
        assert.equal(res.statusCode, 200, res.body);
      };
      await sms('hello');
      clock.advance(1000);
      await sms('what is my balance');
      clock.advance(40 * 86_400_000);
      const purged = await gw.retention.runOnce();
      assert.ok(purged.messages >= 2, 'the older message and the replies are purged');
      const user = (await gw.store.users.byIdentity({ kind: 'phone', value: from }))!;
      const [decision] = await gw.notify.engine.decide([{ userId: user.id, eventType: 'payment_failed', params: {} }]);
      assert.equal(decision.decision, 'notify', JSON.stringify(decision));
      const [post] = await api.waitFor(1);
      assert.deepEqual(Object.fromEntries(new URLSearchParams(post.body)), { To: from, From: OUR_NUMBER, Body: 'Your payment failed. Would you like to retry?' });
    } finally {
      await gw.close();
      await api.close();
    }
  });
});
