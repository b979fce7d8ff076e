// Notifications through Kore.ai's proactive notify API: a type whose endpoint has auth kind kore_jwt is sent in
// Kore's format to the user's email identity, with a JWT minted per request.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startTestGateway } from '../helpers/gateway.ts';
import { startReceiver } from '../helpers/receiver.ts';

const PRODUCER_KEY = 'test-producer-key-0123456789';

describe('notifications to Kore.ai\'s proactive API', () => {
  it('sends a type configured with a kore_jwt endpoint in Kore\'s notify format, to the user\'s email identity, with a fresh JWT', async () => {
    const { jwtVerify } = await import('jose');
    const kore = await startReceiver((_q, res) => void res.writeHead(200).end());
    const gw = await startTestGateway({ BOTGATE_NOTIFY__PRODUCER_KEY: PRODUCER_KEY });
    try {
      const secret = 'kore-client-secret-0123456789abcdef';
      const endpoint = await gw.api('POST', '/api/endpoints', { name: 'kore-notify', url: `${kore.url}/api/public/bot/st-123/notify`, auth: { kind: 'kore_jwt', client_id: 'cs-app-1', client_secret: secret } });
      assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body));
      const put = await gw.api('PUT', '/api/notify/types/payment_failed', { endpoint_id: endpoint.body.id });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      await gw.api('PUT', '/api/users/kore-user', { identities: [{ kind: 'email', id: 'Ada@Example.com' }] });
      const r = await gw.app.inject({ method: 'POST', url: '/api/events', headers: { 'x-api-key': PRODUCER_KEY }, payload: { user_id: 'kore-user', event_type: 'payment_failed', params: {} } });
      assert.equal(r.json().reason, 'critical');
      await eventually(() => kore.requests.length > 0);
      const request = kore.requests[0];
      assert.match(String(request.url), /\/api\/public\/bot\/st-123\/notify$/);
      assert.deepEqual(JSON.parse(request.body), {
        channel: 'msteams', userIdentityType: 'resolve', message: { type: 'text', val: 'Your payment failed. Would you like to retry?' }, identities: ['ada@example.com'],
      });
      const { payload } = await jwtVerify(String(request.headers.auth), new TextEncoder().encode(secret), { algorithms: ['HS256'] });
      assert.equal(payload.appId, 'cs-app-1');
      // A user Kore.ai cannot be told about (no email identity): nothing is sent.
      const nobody = await gw.app.inject({ method: 'POST', url: '/api/events', headers: { 'x-api-key': PRODUCER_KEY }, payload: { user_id: 'no-email-user', event_type: 'payment_failed', params: {} } });
      assert.deepEqual([nobody.json().decision, nobody.json().reason], ['skip', 'no_channel']);
      // The type sends through the endpoint: it cannot be deleted under it.
      const refused = await gw.api('DELETE', `/api/endpoints/${endpoint.body.id}`);
      assert.deepEqual([refused.status, refused.body.code], [409, 'BG_ERR_CONFLICT']);
      assert.match(refused.body.message, /event type payment_failed/);
      // A disabled endpoint (by hand, a 410, days of failures) holds the type's notifications, critical ones too,
      // and sends them once enabled: they are not dropped as no_channel.
      assert.equal((await gw.api('POST', `/api/endpoints/${endpoint.body.id}/disable`)).status, 200);
      const held = await gw.app.inject({ method: 'POST', url: '/api/events', headers: { 'x-api-key': PRODUCER_KEY }, payload: { user_id: 'kore-user', event_type: 'payment_failed', params: { attempt: 2 } } });
      assert.deepEqual([held.json().decision, held.json().reason], ['notify', 'critical']);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(kore.requests.length, 1, 'nothing goes to a disabled endpoint');
      assert.equal((await gw.api('POST', `/api/endpoints/${endpoint.body.id}/enable`)).status, 200);
      await eventually(() => kore.requests.length === 2);
    } finally {
      await gw.close();
      await kore.close();
    }
  });
});
