// /api/users through the real HTTP app on both stores: create and change a user (time zone, preferences,
// identities), the 400s and the 409 of an identity another user owns, and the export of everything stored about
// a user — decisions and notifications made by the engine — followed by its deletion.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testBackends } from '../helpers/backends.ts';
import { ADMIN_TOKEN, eventually, type TestGateway } from '../helpers/gateway.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { startNotifyFixture, type NotifyFixture } from './notify-helpers.ts';

for (const backend of await testBackends()) {
  describe(`users API (${backend.name})`, { skip: backend.skip }, () => {
    let gw: TestGateway;
    let fixture: NotifyFixture;

    before(async () => {
      fixture = await startNotifyFixture(backend);
      ({ gw } = fixture);
      // payment_failed (critical) goes to an endpoint, so the engine sends notifications without a chat channel.
      const type = await gw.api('PUT', '/api/notify/types/payment_failed', { endpoint_id: fixture.endpointId });
      assert.equal(type.status, 200, JSON.stringify(type.body));
    });

    after(async () => fixture.close());

    it('refuses every users route without the admin token', async () => {
      for (const [method, url] of [['GET', '/api/users/u1'], ['PUT', '/api/users/u1'], ['GET', '/api/users/u1/export'], ['DELETE', '/api/users/u1']] as const) {
        const response = await gw.app.inject({ method, url, ...(method === 'PUT' ? { payload: { tz: 'UTC' } } : {}) });
        assert.equal(response.statusCode, 401, `${method} ${url}`);
        assert.equal(response.json().code, 'BG_ERR_UNAUTHORIZED');
        const wrong = await gw.app.inject({ method, url, headers: { authorization: 'Bearer not-the-admin-token' } });
        assert.equal(wrong.statusCode, 401);
      }
    });

    it('creates a user with PUT (201), changes it (200), and shows it', async () => {
      const created = await gw.api('PUT', '/api/users/u-ada', {
        tz: 'Europe/Berlin',
        preferences: { opt_outs: [{ event_type: 'marketing_offer', channel: '*' }] },
        identities: [{ kind: 'email', id: 'Ada@Example.com' }, { kind: 'phone', id: '+4915112345678' }],
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.id, 'u-ada');
      assert.equal(created.body.tz, 'Europe/Berlin');
      assert.deepEqual(created.body.preferences, { opt_outs: [{ event_type: 'marketing_offer', channel: '*' }] });
      assert.deepEqual(created.body.identities, [{ kind: 'email', id: 'ada@example.com' }, { kind: 'phone', id: '+4915112345678' }]);
      assert.ok(!Number.isNaN(Date.parse(created.body.created_at)));

      const changed = await gw.api('PUT', '/api/users/u-ada', { preferences: { muted: true }, identities: [{ kind: 'email', id: 'ada@example.com' }, { kind: 'kore', id: 'demo:ada' }] });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      assert.equal(changed.body.tz, 'Europe/Berlin', 'a field left out stays');
      assert.deepEqual(changed.body.preferences, { muted: true });
      assert.deepEqual(changed.body.identities.map((i: { kind: string }) => i.kind), ['email', 'kore', 'phone']);

      const cleared = await gw.api('PUT', '/api/users/u-ada', { tz: null });
      assert.equal(cleared.status, 200);
      assert.equal(cleared.body.tz, null);

      const shown = await gw.api('GET', '/api/users/u-ada');
      assert.equal(shown.status, 200);
      assert.deepEqual(shown.body, cleared.body);
      assert.equal((await gw.store.users.byIdentity({ kind: 'kore', value: 'demo:ada' }))?.id, 'u-ada');
    });

    it('answers 201 to exactly one of several PUTs racing to create a user, 200 to the others', async () => {
      const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => gw.api('PUT', '/api/users/u-race', i % 2 ? { tz: 'UTC' } : { identities: [{ kind: 'email', id: `race${i}@example.com` }] })));
      assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 200, 200, 200, 201]);
    });

    it('stores a phone number in one spelling: the same number written another way is the same identity (409)', async () => {
      const written = await gw.api('PUT', '/api/users/u-phone', { identities: [{ kind: 'phone', id: ' +1 (415) 555-0100 ' }] });
      assert.deepEqual([written.status, written.body.identities], [201, [{ kind: 'phone', id: '+14155550100' }]]);
      const again = await gw.api('PUT', '/api/users/u-phone-2', { identities: [{ kind: 'phone', id: '+1.415.555.0100' }] });
      assert.deepEqual([again.status, again.body.code], [409, 'BG_ERR_CONFLICT']);
    });

    it('lets the engine honour the preferences set through the API', async () => {
      assert.equal((await gw.api('PUT', '/api/users/u-muted', { preferences: { muted: true } })).status, 201);
      const [muted, critical] = await gw.notify.engine.decide([
        { userId: 'u-muted', eventType: 'low_balance', params: { balance: 1 } },
        { userId: 'u-muted', eventType: 'payment_failed', params: { id: 'p1' } },
      ]);
      assert.deepEqual([muted.decision, muted.reason], ['skip', 'preference']);
      assert.deepEqual([critical.decision, critical.reason], ['notify', 'critical'], 'muting leaves critical types');
    });

    it('answers 400 for a bad time zone, a bad preference shape or a bad identity', async () => {
      const bad = [
        [{ tz: 'Mars/Olympus_Mons' }, 'BG_ERR_VALIDATION', /time zone/],
        [{ tz: 'not a zone' }, 'BG_ERR_VALIDATION', /time zone/],
        [{ tz: '+05:00' }, 'BG_ERR_VALIDATION', /IANA/], // an offset knows no daylight saving time
        [{ preferences: { muted: 'yes' } }, 'BG_ERR_VALIDATION', /muted/],
        [{ preferences: { opt_outs: [{ event_type: 'x' }] } }, 'BG_ERR_VALIDATION', /channel/],
        [{ preferences: { opt_outs: 'all' } }, 'BG_ERR_VALIDATION', /opt_outs/],
        [{ preferences: { opt_outs: [{ event_type: 'a b!', channel: '*' }] } }, 'BG_ERR_VALIDATION', /event_type/],
        [{ preferences: { opt_outs: [{ event_type: 'a*b', channel: '*' }] } }, 'BG_ERR_VALIDATION', /event_type/],
        [{ preferences: { quiet: true } }, 'BG_ERR_UNKNOWN_FIELD', /quiet/],
        [{ identities: [{ kind: 'fax', id: '123' }] }, 'BG_ERR_VALIDATION', /kind/],
        [{ identities: [{ kind: 'email' }] }, 'BG_ERR_VALIDATION', /id/],
        [{ identities: [{ kind: 'email', id: 'not an email' }] }, 'BG_ERR_VALIDATION', /identities\[0\]\.id: "not an email" is not an email address/],
        [{ identities: [{ kind: 'email', id: 'a@b.c' }, { kind: 'phone', id: 'hello' }] }, 'BG_ERR_VALIDATION', /identities\[1\]\.id: "hello" is not a phone number/],
        [{ identities: [{ kind: 'kore', id: 'noColon' }] }, 'BG_ERR_VALIDATION', /\{botId\}:\{from\.id\}/],
        [{ identities: [{ kind: 'platform', id: 'noColon' }] }, 'BG_ERR_VALIDATION', /\{provider\}:\{user_id\}/],
        [{ nickname: 'x' }, 'BG_ERR_UNKNOWN_FIELD', /nickname/],
      ] as const;
      for (const [body, code, message] of bad) {
        const response = await gw.api('PUT', '/api/users/u-bad', body);
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.equal(response.body.code, code, JSON.stringify(response.body));
        assert.match(response.body.message, message);
      }
      assert.equal((await gw.api('GET', '/api/users/u-bad')).status, 404, 'nothing was created');
      // An IANA name in another case is stored as the zone's own spelling.
      assert.equal((await gw.api('PUT', '/api/users/u-case', { tz: 'europe/berlin' })).body.tz, 'Europe/Berlin');
      assert.equal((await gw.api('PUT', '/api/users/u-case', { tz: 'utc' })).body.tz, 'UTC');
    });

    it('answers 409 when an identity belongs to another user, and changes nothing', async () => {
      assert.equal((await gw.api('PUT', '/api/users/u-owner', { identities: [{ kind: 'email', id: 'taken@example.com' }] })).status, 201);
      const response = await gw.api('PUT', '/api/users/u-thief', { tz: 'UTC', identities: [{ kind: 'phone', id: '+1005550100' }, { kind: 'email', id: 'TAKEN@example.com' }] });
      assert.equal(response.status, 409);
      assert.equal(response.body.code, 'BG_ERR_CONFLICT');
      assert.match(response.body.message, /email taken@example\.com/);
      assert.equal((await gw.api('GET', '/api/users/u-thief')).status, 404);
      assert.equal(await gw.store.users.byIdentity({ kind: 'phone', value: '+1005550100' }), null);
      // Attaching an identity the user already has is fine.
      assert.equal((await gw.api('PUT', '/api/users/u-owner', { identities: [{ kind: 'email', id: 'taken@example.com' }] })).status, 200);
    });

    it('answers 404 for an unknown user', async () => {
      for (const [method, url] of [['GET', '/api/users/nobody'], ['GET', '/api/users/nobody/export'], ['DELETE', '/api/users/nobody']]) {
        const response = await gw.api(method, url);
        assert.equal(response.status, 404, `${method} ${url}`);
        assert.equal(response.body.code, 'BG_ERR_USER_NOT_FOUND');
      }
    });

    it('exports everything stored about a user, then deletes it all', async () => {
      assert.equal((await gw.api('PUT', '/api/users/u-gdpr', { tz: 'America/New_York', identities: [{ kind: 'email', id: 'gdpr@example.com' }] })).status, 201);
      const decisions = await gw.notify.engine.decide([
        { userId: 'u-gdpr', eventType: 'payment_failed', params: { invoice: 'inv-1' } },
        { userId: 'u-gdpr', eventType: 'low_balance', params: { balance: 2 }, deliverAt: Date.now() + 3_600_000 },
        { userId: 'u-other', eventType: 'payment_failed', params: { invoice: 'inv-2' } },
      ]);
      assert.deepEqual(decisions.map((d) => [d.decision, d.reason]), [['notify', 'critical'], ['defer', 'scheduled'], ['notify', 'critical']]);

      const exported = await gw.api('GET', '/api/users/u-gdpr/export');
      assert.equal(exported.status, 200, JSON.stringify(exported.body));
      const body = exported.body;
      assert.equal(body.user.id, 'u-gdpr');
      assert.equal(body.user.tz, 'America/New_York');
      assert.deepEqual(body.user.identities, [{ kind: 'email', id: 'gdpr@example.com' }]);
      assert.deepEqual(body.decisions.map((d: { id: string }) => d.id).sort(), [decisions[0].id, decisions[1].id].sort());
      const sent = body.decisions.find((d: { id: string }) => d.id === decisions[0].id);
      assert.equal(sent.event_type, 'payment_failed');
      assert.equal(sent.notification_id, decisions[0].notificationId);
      assert.deepEqual(sent.params, { invoice: 'inv-1' });
      assert.ok(!Number.isNaN(Date.parse(sent.decided_at)));
      const notifications = new Map(body.notifications.map((n: { id: string }) => [n.id, n]));
      assert.equal(notifications.size, 2);
      const n1 = notifications.get(decisions[0].notificationId!) as Record<string, unknown>;
      assert.equal(n1.status, 'sent');
      assert.equal(n1.text, 'Your payment failed. Would you like to retry?');
      assert.equal(typeof n1.sent_at, 'string');
      assert.ok(n1.message_id && (await gw.store.messages.get(String(n1.message_id))), 'the message that carried it');
      assert.equal((notifications.get(decisions[1].notificationId!) as Record<string, unknown>).status, 'pending');
      const engagement = body.engagement.find((e: { event_type: string }) => e.event_type === 'payment_failed');
      assert.ok(Math.abs(engagement.shown - 1) < 0.01, JSON.stringify(body.engagement));
      assert.ok(!JSON.stringify(body).includes('u-other'), 'nothing of another user');
      assert.ok(Array.isArray(body.conversations) && Array.isArray(body.messages) && Array.isArray(body.handoffs));

      const deleted = await gw.app.inject({ method: 'DELETE', url: '/api/users/u-gdpr', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(deleted.statusCode, 204);
      assert.equal(deleted.body, '');
      assert.equal((await gw.api('GET', '/api/users/u-gdpr/export')).status, 404);
      assert.equal((await gw.api('GET', '/api/users/u-gdpr')).status, 404);
      assert.equal((await gw.api('DELETE', '/api/users/u-gdpr')).status, 404);
      assert.equal(await gw.store.notify.notification(decisions[0].notificationId!), null);
      assert.equal(await gw.store.messages.get(String(n1.message_id)), null, 'its message too');
      assert.deepEqual((await gw.api('GET', '/api/notify/decisions?user_id=u-gdpr')).body.data, []);
      assert.equal(await gw.store.users.byIdentity({ kind: 'email', value: 'gdpr@example.com' }), null, 'the identity is free again');
      assert.equal((await gw.api('GET', '/api/notify/decisions?user_id=u-other')).body.data.length, 1, 'another user keeps theirs');
    });

    it('leaves nothing of a user deleted while a notification to them is being sent: the try\'s answer is not stored', async () => {
      let release: (() => void) | null = null;
      const slow = await startReceiver((req, res) => {
        const answer = () => void res.writeHead(200).end(`got it: ${req.body}`); // receivers echo what they got
        if (req.body.includes('inflight-1')) release = answer;
        else answer();
      });
      try {
        const endpoint = (await gw.api('POST', '/api/endpoints', { name: 'slow-rx', url: slow.url, event_types: [] })).body;
        assert.equal((await gw.api('PUT', '/api/notify/types/security_alert', { endpoint_id: endpoint.id })).status, 200);
        assert.equal((await gw.api('PUT', '/api/users/u-inflight', { identities: [{ kind: 'email', id: 'inflight@example.com' }] })).status, 201);
        const [decision] = await gw.notify.engine.decide([{ userId: 'u-inflight', eventType: 'security_alert', params: { code: 'inflight-1' } }]);
        assert.equal(decision.decision, 'notify');
        const messageId = String((await gw.store.notify.notification(decision.notificationId!))?.messageId);
        const [delivery] = await gw.store.deliveries.forMessage(messageId);
        await slow.waitFor(1);
        assert.equal((await gw.api('DELETE', '/api/users/u-inflight')).status, 204);
        release!();
        // A later try to the same endpoint is stored after the first one's answer.
        const after = (await gw.api('POST', `/api/endpoints/${endpoint.id}/test`)).body;
        await eventually(async () => (await gw.api('GET', `/api/deliveries/${after.delivery_ids[0]}`)).body.status === 'sent');
        assert.deepEqual(await gw.store.deliveries.attempts(delivery.id), [], 'no attempt of the deleted user\'s delivery (with the body that echoed it)');
      } finally {
        await slow.close();
      }
    });
  });
}
