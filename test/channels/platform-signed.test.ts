// Signed sources on POST /api/webhook/incoming/{id}: Zendesk, Chatwoot, Intercom, Standard Webhooks and custom HMAC
// schemes, with field mapping; a wrong or stale signature and an inactive source refused, nothing stored.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { TestGateway } from '../helpers/gateway.ts';
import { BALANCE, PIZZA, until, assertPlatformError, client, platformFixture } from './platform-helpers.ts';

describe('platform webhook (SQLite)', () => {
  const f = platformFixture();
  const { path, createConfig, repliesAt } = f;
  let gw: TestGateway; let c: ReturnType<typeof client>;
  before(() => ({ gw, c } = f));

  describe('signed sources', () => {
    const hmac = (alg: 'sha256' | 'sha1', secret: string | Buffer, content: string, enc: 'hex' | 'base64') => createHmac(alg, secret).update(content, 'utf8').digest(enc);
    const unix = (offsetSeconds = 0) => String(Math.floor(Date.now() / 1000) + offsetSeconds);
    const incomingCount = async (name: string) => (await c.history(`platform=${name}&message_type=incoming`)).length;

    it('zendesk: base64 HMAC-SHA256 over timestamp + body', async () => {
      const cfg = await createConfig('zendesk', { signature: { preset: 'zendesk', secret: 'zd-signing-secret' } });
      const sign = (raw: string, ts = new Date().toISOString(), secret = 'zd-signing-secret') => ({
        'x-zendesk-webhook-signature': hmac('sha256', secret, ts + raw, 'base64'), 'x-zendesk-webhook-signature-timestamp': ts,
      });
      const raw = JSON.stringify({ user_id: 'zd-1', message: 'what is my balance', conversation_id: 'zd-ticket-9' });
      const res = await c.signed(cfg.id, raw, sign(raw));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.response.answer, BALANCE);
      assert.equal(res.body.response.user_info.conversation_id, 'zd-ticket-9');
      const tampered = raw.replace('balance', 'BALANCE');
      assertPlatformError(await c.signed(cfg.id, tampered, sign(raw)), 401, 'BG_ERR_SIGNATURE_INVALID');
      assertPlatformError(await c.signed(cfg.id, raw, sign(raw, new Date(Date.now() - 10 * 60_000).toISOString())), 401, 'BG_ERR_SIGNATURE_INVALID');
      assertPlatformError(await c.signed(cfg.id, raw, sign(raw, undefined, 'other-secret')), 401, 'BG_ERR_SIGNATURE_INVALID');
      assertPlatformError(await c.signed(cfg.id, raw, {}), 401, 'BG_ERR_SIGNATURE_INVALID');
      const { 'x-zendesk-webhook-signature-timestamp': _ts, ...noTimestamp } = sign(raw);
      assertPlatformError(await c.signed(cfg.id, raw, noTimestamp), 401, 'BG_ERR_SIGNATURE_INVALID');
      // A bearer inbound token is no signature.
      assertPlatformError(await c.signed(cfg.id, raw, { authorization: `Bearer ${cfg.inbound_token}` }), 401, 'BG_ERR_SIGNATURE_INVALID');
      // The signature is judged first: a forged body that is not even JSON is 401; a signed one that is not JSON, 400.
      assertPlatformError(await c.signed(cfg.id, '{"user_id": ', sign(raw)), 401, 'BG_ERR_SIGNATURE_INVALID');
      assertPlatformError(await c.signed(cfg.id, '{"user_id": ', sign('{"user_id": ')), 400, 'BG_ERR_INVALID_JSON');
      assert.equal(await incomingCount('zendesk'), 1, 'nothing refused was stored');
      const [reply] = await until(() => repliesAt('zendesk').length === 1 && repliesAt('zendesk'));
      assert.equal(JSON.parse(reply.body).conversation_id, 'zd-ticket-9');
    });

    it('chatwoot: sha256= hex HMAC over "{timestamp}.{body}", its payload read through field paths', async () => {
      const cfg = await createConfig('chatwoot', {
        signature: { preset: 'chatwoot', secret: 'cw-signing-secret' },
        fields: { message: 'content', user_id: 'sender.id', conversation_id: 'conversation.id', message_id: 'id', username: 'sender.name' },
      });
      assert.deepEqual(cfg.fields, { message: 'content', user_id: 'sender.id', conversation_id: 'conversation.id', message_id: 'id', username: 'sender.name' });
      const sign = (raw: string, ts = unix()) => ({ 'x-chatwoot-signature': `sha256=${hmac('sha256', 'cw-signing-secret', `${ts}.${raw}`, 'hex')}`, 'x-chatwoot-timestamp': ts });
      const raw = JSON.stringify({ event: 'message_created', id: 101, content: 'what is my balance', message_type: 'incoming', sender: { id: 7, name: 'Ada' }, conversation: { id: 55 } });
      const res = await c.signed(cfg.id, raw, sign(raw));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.response.answer, BALANCE);
      assert.deepEqual(res.body.response.user_info, { user_id: '7', username: 'Ada', conversation_id: '55', mode: 'bot' });
      const [reply] = await until(() => repliesAt('chatwoot').length === 1 && repliesAt('chatwoot'));
      const body = JSON.parse(reply.body);
      assert.equal(body.user_id, '7');
      assert.equal(body.conversation_id, '55');
      assert.equal(reply.verified, true);
      // The same message id again (signed afresh): the original reply.
      const again = await c.signed(cfg.id, raw, sign(raw));
      assert.equal(again.body.duplicate, true);
      assert.equal(again.body.message_id, res.body.message_id);

      // Long numeric ids (Discord-style, beyond a double) stay those ids: two users and two messages, never merged.
      const ann = '{"event":"message_created","id":42345678901234567890,"content":"what is my balance","sender":{"id":275928847299117063},"conversation":{"id":56}}';
      const bob = '{"event":"message_created","id":42345678901234567891,"content":"what is my balance","sender":{"id":275928847299117064},"conversation":{"id":57}}';
      const fromAnn = await c.signed(cfg.id, ann, sign(ann));
      const fromBob = await c.signed(cfg.id, bob, sign(bob));
      assert.deepEqual([fromAnn.status, fromBob.status, fromBob.body.duplicate], [200, 200, false], JSON.stringify(fromBob.body));
      assert.deepEqual([fromAnn.body.response.user_info.user_id, fromBob.body.response.user_info.user_id], ['275928847299117063', '275928847299117064']);

      // Ids read through field paths are held to the generic format's 256 characters.
      for (const long of [{ id: 'i'.repeat(257) }, { conversation: { id: 'c'.repeat(257) } }, { sender: { id: 7, name: 'n'.repeat(257) } }]) {
        const text = JSON.stringify({ event: 'message_created', id: 103, content: 'hi', sender: { id: 7 }, conversation: { id: 55 }, ...long });
        assertPlatformError(await c.signed(cfg.id, text, sign(text)), 400, 'BG_ERR_VALIDATION');
      }
      assertPlatformError(await c.signed(cfg.id, raw.replace('101', '102'), sign(raw)), 401, 'BG_ERR_SIGNATURE_INVALID');
      assertPlatformError(await c.signed(cfg.id, raw, sign(raw, unix(-600))), 401, 'BG_ERR_SIGNATURE_INVALID');
      assertPlatformError(await c.signed(cfg.id, raw, { 'x-chatwoot-signature': sign(raw)['x-chatwoot-signature'] }), 401, 'BG_ERR_SIGNATURE_INVALID');
      const bare = sign(raw);
      assertPlatformError(await c.signed(cfg.id, raw, { ...bare, 'x-chatwoot-signature': bare['x-chatwoot-signature'].slice('sha256='.length) }), 401, 'BG_ERR_SIGNATURE_INVALID');
      // Signed right but without the text at the mapped path: 400, nothing stored.
      const empty = JSON.stringify({ event: 'conversation_status_changed', id: 103, sender: { id: 7 }, conversation: { id: 55 } });
      assertPlatformError(await c.signed(cfg.id, empty, sign(empty)), 400, 'BG_ERR_VALIDATION');
      // A blank sender id or text at the mapped path is no message either.
      for (const blank of [{ content: 'hi', sender: { id: '   ' } }, { content: ' \n\t', sender: { id: 7 } }]) {
        const text = JSON.stringify({ event: 'message_created', id: 105, conversation: { id: 55 }, ...blank });
        assertPlatformError(await c.signed(cfg.id, text, sign(text)), 400, 'BG_ERR_VALIDATION');
      }
      assertPlatformError(await c.signed(cfg.id, '{"id": 104, "content": ', sign('{"id": 104, "content": ')), 400, 'BG_ERR_INVALID_JSON');
      assert.equal(await incomingCount('chatwoot'), 3, 'the first message, and the two with long ids');
    });

    it('intercom: sha1= hex HMAC-SHA1 over the body', async () => {
      const cfg = await createConfig('intercom', { signature: { preset: 'intercom', secret: 'ic-signing-secret' }, fields: { message: 'data.item.body', user_id: 'data.item.user.id' } });
      const sign = (raw: string, secret = 'ic-signing-secret') => ({ 'x-hub-signature': `sha1=${hmac('sha1', secret, raw, 'hex')}` });
      const raw = JSON.stringify({ type: 'notification_event', topic: 'conversation.user.replied', data: { item: { body: 'order a pizza', user: { id: 'ic-user-1' } } } });
      const res = await c.signed(cfg.id, raw, sign(raw));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.response.answer, PIZZA);
      assert.equal(res.body.response.user_info.user_id, 'ic-user-1');
      assertPlatformError(await c.signed(cfg.id, raw + ' ', sign(raw)), 401, 'BG_ERR_SIGNATURE_INVALID');
      assertPlatformError(await c.signed(cfg.id, raw, sign(raw, 'wrong')), 401, 'BG_ERR_SIGNATURE_INVALID');
      assertPlatformError(await c.signed(cfg.id, raw, { 'x-hub-signature': `sha256=${hmac('sha256', 'ic-signing-secret', raw, 'hex')}` }), 401, 'BG_ERR_SIGNATURE_INVALID');
      assertPlatformError(await c.signed(cfg.id, raw, {}), 401, 'BG_ERR_SIGNATURE_INVALID');
      assert.equal(await incomingCount('intercom'), 1);
    });

    it('standard webhooks: signed with the standardwebhooks package; webhook-id deduplicates', async () => {
      const secret = `whsec_${randomBytes(32).toString('base64')}`;
      const cfg = await createConfig('swh', { signature: { preset: 'standard_webhooks', secret } });
      const wh = new Webhook(secret);
      const sign = (id: string, raw: string, at = new Date()) => ({ 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': wh.sign(id, at, raw) });
      const raw = JSON.stringify({ user_id: 'sw-1', message: 'what is my balance', metadata: { balance: '€7' } });
      const res = await c.signed(cfg.id, raw, sign('evt_1', raw));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.response.answer, 'Your balance is €7.');
      // The sender retries the same event: the original reply.
      const retry = await c.signed(cfg.id, raw, sign('evt_1', raw));
      assert.equal(retry.body.duplicate, true);
      assert.equal(retry.body.message_id, res.body.message_id);
      // Our own check of the scheme agrees with the package: HMAC-SHA256 of the decoded key over id.ts.body.
      const ts = unix();
      const mine = `v1,${hmac('sha256', Buffer.from(secret.slice(6), 'base64'), `evt_2.${ts}.${raw}`, 'base64')}`;
      const byHand = await c.signed(cfg.id, raw, { 'webhook-id': 'evt_2', 'webhook-timestamp': ts, 'webhook-signature': `v1,bm90IGl0 ${mine}` });
      assert.equal(byHand.status, 200, 'any of the space-separated signatures may match');
      assert.equal(byHand.body.duplicate, false);

      assertPlatformError(await c.signed(cfg.id, raw.replace('€7', '€7000'), sign('evt_3', raw)), 401, 'BG_ERR_SIGNATURE_INVALID');
      assertPlatformError(await c.signed(cfg.id, raw, sign('evt_4', raw, new Date(Date.now() - 10 * 60_000))), 401, 'BG_ERR_SIGNATURE_INVALID');
      assertPlatformError(await c.signed(cfg.id, raw, sign('evt_5', raw, new Date(Date.now() + 10 * 60_000))), 401, 'BG_ERR_SIGNATURE_INVALID');
      const other = new Webhook(`whsec_${randomBytes(32).toString('base64')}`);
      const at = new Date();
      assertPlatformError(await c.signed(cfg.id, raw, { 'webhook-id': 'evt_6', 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': other.sign('evt_6', at, raw) }), 401, 'BG_ERR_SIGNATURE_INVALID');
      const { 'webhook-id': _id, ...noId } = sign('evt_7', raw);
      assertPlatformError(await c.signed(cfg.id, raw, noId), 401, 'BG_ERR_SIGNATURE_INVALID');
      assertPlatformError(await c.signed(cfg.id, raw, {}), 401, 'BG_ERR_SIGNATURE_INVALID');
      assert.equal(await incomingCount('swh'), 2);

      // Its tolerance is the config's when given: an hour takes a request signed 10 minutes ago.
      const slack = await createConfig('swh-slack', { signature: { preset: 'standard_webhooks', secret, tolerance_seconds: 3600 } });
      assert.equal((await c.signed(slack.id, raw, sign('evt_8', raw, new Date(Date.now() - 10 * 60_000)))).status, 200);
      assertPlatformError(await c.signed(slack.id, raw, sign('evt_9', raw, new Date(Date.now() - 2 * 3600_000))), 401, 'BG_ERR_SIGNATURE_INVALID');
    });

    it('custom: its own header, algorithm, encoding, prefix, content and tolerance', async () => {
      const cfg = await createConfig('acme', {
        signature: { preset: 'custom', secret: 'acme-signing-secret', header: 'X-Acme-Signature', algorithm: 'sha256', encoding: 'base64', prefix: 'v1=', content: '{timestamp}.{body}', timestamp_header: 'X-Acme-Timestamp', tolerance_seconds: 60 },
      });
      assert.deepEqual(cfg.signature, { preset: 'custom', header: 'X-Acme-Signature', algorithm: 'sha256', encoding: 'base64', prefix: 'v1=', content: '{timestamp}.{body}', timestamp_header: 'X-Acme-Timestamp', tolerance_seconds: 60 });
      const sign = (raw: string, ts = unix()) => ({ 'x-acme-signature': `v1=${hmac('sha256', 'acme-signing-secret', `${ts}.${raw}`, 'base64')}`, 'x-acme-timestamp': ts });
      const raw = JSON.stringify({ user_id: 'ac-1', message: 'what is my balance', message_id: 'acme-1' });
      const res = await c.signed(cfg.id, raw, sign(raw, unix(-30)));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.response.answer, BALANCE);
      assertPlatformError(await c.signed(cfg.id, raw, sign(raw, unix(-120))), 401, 'BG_ERR_SIGNATURE_INVALID');
      assertPlatformError(await c.signed(cfg.id, raw.replace('ac-1', 'ac-2'), sign(raw)), 401, 'BG_ERR_SIGNATURE_INVALID');
      const hex = unix();
      assertPlatformError(await c.signed(cfg.id, raw, { 'x-acme-signature': `v1=${hmac('sha256', 'acme-signing-secret', `${hex}.${raw}`, 'hex')}`, 'x-acme-timestamp': hex }), 401, 'BG_ERR_SIGNATURE_INVALID');
      assert.equal(await incomingCount('acme'), 1);
      // metadata.message_id deduplicates here too, as on the generic webhook.
      const meta = JSON.stringify({ user_id: 'ac-3', message: 'what is my balance', metadata: { message_id: 'mm-1' } });
      assert.equal((await c.signed(cfg.id, meta, sign(meta))).body.duplicate, false);
      assert.equal((await c.signed(cfg.id, meta, sign(meta))).body.duplicate, true);
      assert.equal(await incomingCount('acme'), 2);

      // The scheme can change without the secret being sent again; the old scheme then fails.
      const put = await gw.api('PUT', `/api/webhook/config/${cfg.id}`, { signature: { preset: 'custom', header: 'X-Acme-Signature', algorithm: 'sha1', encoding: 'hex', content: '{body}' } });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      const raw2 = JSON.stringify({ user_id: 'ac-1', message: 'order a pizza', message_id: 'acme-2' });
      assertPlatformError(await c.signed(cfg.id, raw2, sign(raw2)), 401, 'BG_ERR_SIGNATURE_INVALID');
      const res2 = await c.signed(cfg.id, raw2, { 'x-acme-signature': hmac('sha1', 'acme-signing-secret', raw2, 'hex') });
      assert.equal(res2.status, 200, JSON.stringify(res2.body));
      assert.equal(res2.body.response.answer, PIZZA);
    });

    it('a signed request without a message id replayed within the timestamp window is a duplicate, not run again; an unsigned Idempotency-Key does not make it new', async () => {
      const cfg = await createConfig('replayed', { signature: { preset: 'chatwoot', secret: 'rp-signing-secret' } });
      const sign = (raw: string, ts = unix()) => ({ 'x-chatwoot-signature': `sha256=${hmac('sha256', 'rp-signing-secret', `${ts}.${raw}`, 'hex')}`, 'x-chatwoot-timestamp': ts });
      const raw = JSON.stringify({ user_id: 'rp-1', message: 'order a pizza' });
      const headers = sign(raw, unix(-5));
      const first = await c.signed(cfg.id, raw, headers);
      assert.deepEqual([first.status, first.body.duplicate, first.body.response.answer], [200, false, PIZZA], JSON.stringify(first.body));
      for (const replay of [headers, { ...headers, 'idempotency-key': 'made-up-by-the-replayer' }, { ...headers, 'x-chatwoot-timestamp': ` ${headers['x-chatwoot-timestamp']} `, 'x-chatwoot-signature': headers['x-chatwoot-signature'].toUpperCase().replace('SHA256=', 'sha256=') }]) {
        const again = await c.signed(cfg.id, raw, replay);
        assert.equal(again.status, 200, JSON.stringify(again.body));
        assert.deepEqual([again.body.duplicate, again.body.message_id, again.body.response.answer], [true, first.body.message_id, PIZZA]);
      }
      assert.equal(await incomingCount('replayed'), 1, 'the replays stored nothing');
      // The same words sent again (signed anew, another timestamp) are a new message: the flow moves on.
      const next = await c.signed(cfg.id, raw, sign(raw));
      assert.deepEqual([next.body.duplicate, next.body.response.answer === PIZZA], [false, false], JSON.stringify(next.body));
      assert.equal(await incomingCount('replayed'), 2);

      // Standard Webhooks: its signed webhook-id deduplicates, and an unsigned Idempotency-Key no longer overrides it.
      const secret = `whsec_${randomBytes(32).toString('base64')}`;
      const swh = await createConfig('replayed-swh', { signature: { preset: 'standard_webhooks', secret } });
      const at = new Date();
      const signed = { 'webhook-id': 'evt_rp', 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign('evt_rp', at, raw) };
      const original = await c.signed(swh.id, raw, signed);
      const replay = await c.signed(swh.id, raw, { ...signed, 'idempotency-key': 'made-up-by-the-replayer' });
      assert.deepEqual([original.body.duplicate, replay.body.duplicate, replay.body.message_id], [false, true, original.body.message_id]);
      assert.equal(await incomingCount('replayed-swh'), 1);
    });

    it('a body that is not UTF-8 (charset=iso-8859-1): verified over its bytes, then 400 as on the generic webhook, not a signature mismatch', async () => {
      const cfg = await createConfig('latin', { signature: { preset: 'intercom', secret: 'la-signing-secret' } });
      const bytes = Buffer.concat([Buffer.from('{"user_id":"la-1","message":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
      const post = (secret: string) => gw.app.inject({
        method: 'POST', url: `/api/webhook/incoming/${cfg.id}`, payload: bytes,
        headers: { 'content-type': 'application/json; charset=iso-8859-1', 'x-hub-signature': `sha1=${createHmac('sha1', secret).update(bytes).digest('hex')}` },
      });
      const parsed = async (secret: string) => {
        const res = await post(secret);
        return { status: res.statusCode, body: JSON.parse(res.body) };
      };
      assertPlatformError(await parsed('la-signing-secret'), 400, 'BG_ERR_VALIDATION');
      assertPlatformError(await parsed('wrong'), 401, 'BG_ERR_SIGNATURE_INVALID');
      assert.equal(await incomingCount('latin'), 0);
    });

    it('an inactive signed source: 403 even when signed right, nothing stored', async () => {
      const cfg = await createConfig('intercom-off', { is_active: false, signature: { preset: 'intercom', secret: 'off-signing-secret' } });
      const raw = JSON.stringify({ user_id: 'io-1', message: 'what is my balance' });
      assertPlatformError(await c.signed(cfg.id, raw, { 'x-hub-signature': `sha1=${hmac('sha1', 'off-signing-secret', raw, 'hex')}` }), 403, 'BG_ERR_PLATFORM_INACTIVE');
      assert.equal(await incomingCount('intercom-off'), 0);
    });
  });
});
