// Platform configs through the admin API: created with secrets shown once, updated, rotated, deleted (not while an
// event type or a bot's webhook sends through its endpoint), what a config sets on its endpoint kept from PATCH
// /api/endpoints, and invalid ones refused.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_BOT_FILE } from '../../src/provision.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type Json, BALANCE, until, assertPlatformError, assertApiError, client, platformFixture } from './platform-helpers.ts';

describe('platform webhook (SQLite)', () => {
  const f = platformFixture();
  const { urlOf, createConfig, repliesAt } = f;
  let gw: TestGateway; let c: ReturnType<typeof client>;
  before(() => ({ gw, c } = f));

  describe('platform configs', () => {
    it('creates a config: inbound token and signing secret shown once, never again, nor the platform\'s secrets', async () => {
      const created = await createConfig('Freshchat-CRUD', {
        provider: 'freshchat-crud', auth_token: 'platform-api-key-SECRET', custom_headers: { 'X-Freshchat-Key': 'fc-123' },
        timeout_seconds: 5, retry_attempts: 3, rate_limit_per_minute: 50, signature: { preset: 'zendesk', secret: 'zendesk-signing-SECRET' },
      });
      assert.match(created.id, /^ch_/);
      assert.match(created.inbound_token, /^bgp_/);
      assert.match(created.secret, /^whsec_/);
      assert.equal(created.name, 'Freshchat-CRUD');
      assert.equal(created.provider, 'freshchat-crud');
      assert.equal(created.bot, 'demo');
      assert.equal(created.outgoing_webhook_url, urlOf('Freshchat-CRUD'));
      assert.equal(created.auth_token_set, true);
      assert.deepEqual(created.custom_headers, { 'x-freshchat-key': 'fc-123' }, 'header names are kept in lower case');
      assert.equal(created.timeout_seconds, 5);
      assert.equal(created.retry_attempts, 3);
      assert.equal(created.rate_limit_per_minute, 50);
      assert.equal(created.is_active, true);
      assert.deepEqual(created.signature, { preset: 'zendesk' });
      assert.match(created.signed_url, new RegExp(`/api/webhook/incoming/${created.id}$`));
      assert.match(created.incoming_url, /\/api\/webhook\/incoming$/);
      assert.equal(JSON.stringify(created).includes('SECRET'), false, 'auth_token and signature.secret are write only');

      const one = await gw.api('GET', `/api/webhook/config/${created.id}`);
      assert.equal(one.status, 200);
      const list = await gw.api('GET', '/api/webhook/config');
      assert.equal(list.status, 200);
      const listed = list.body.data.find((x: Json) => x.id === created.id);
      const { inbound_token: _t, secret: _s, ...shown } = created;
      assert.deepEqual(one.body, shown);
      assert.deepEqual(listed, shown);
      for (const text of [JSON.stringify(one.body), JSON.stringify(list.body)]) {
        for (const secret of [created.inbound_token, created.secret, 'platform-api-key-SECRET', 'zendesk-signing-SECRET']) assert.equal(text.includes(secret), false);
        assert.doesNotMatch(text, /"(inbound_token|secret|auth_token)"/);
      }
    });

    it('updates url, auth_token, is_active and rate limit; provider and bot cannot change', async () => {
      const created = await createConfig('upd');
      const token = created.inbound_token;
      assert.equal(created.auth_token_set, false);
      const put = await gw.api('PUT', `/api/webhook/config/${created.id}`, { outgoing_webhook_url: urlOf('upd-moved'), auth_token: 'moved-token', rate_limit_per_minute: 7, custom_headers: { 'X-Moved': 'yes' } });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body.outgoing_webhook_url, urlOf('upd-moved'));
      assert.equal(put.body.auth_token_set, true);
      assert.equal(put.body.rate_limit_per_minute, 7);
      assert.equal(JSON.stringify(put.body).includes('moved-token'), false);
      assert.deepEqual((await gw.api('GET', `/api/webhook/config/${created.id}`)).body, put.body);

      // The change takes effect: the reply goes to the new URL with the new token and headers.
      const res = await c.incoming(token, { user_id: 'upd-1', message: 'what is my balance' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const [reply] = await until(() => repliesAt('upd-moved').length === 1 && repliesAt('upd-moved'));
      assert.equal(reply.headers.authorization, 'Bearer moved-token');
      assert.equal(reply.headers['x-moved'], 'yes');
      assert.equal(repliesAt('upd').length, 0);

      const off = await gw.api('PUT', `/api/webhook/config/${created.id}`, { is_active: false });
      assert.equal(off.status, 200);
      assert.equal(off.body.is_active, false);
      assertPlatformError(await c.incoming(token, { user_id: 'upd-1', message: 'hi' }), 403, 'BG_ERR_PLATFORM_INACTIVE');
      const on = await gw.api('PUT', `/api/webhook/config/${created.id}`, { is_active: true, auth_token: null });
      assert.equal(on.body.is_active, true);
      assert.equal(on.body.auth_token_set, false);
      assert.equal((await c.incoming(token, { user_id: 'upd-1', message: 'what is my balance' })).status, 200);

      assertApiError(await gw.api('PUT', `/api/webhook/config/${created.id}`, { provider: 'zendesk' }), 400, 'BG_ERR_VALIDATION');
      assertApiError(await gw.api('PUT', `/api/webhook/config/${created.id}`, { bot: 'another-bot' }), 400, 'BG_ERR_VALIDATION');
      assertApiError(await gw.api('PUT', `/api/webhook/config/${created.id}`, { colour: 'red' }), 400, 'BG_ERR_UNKNOWN_FIELD');
      assertApiError(await gw.api('PUT', `/api/webhook/config/${created.id}`, { name: 'Freshchat-CRUD' }), 409, 'BG_ERR_CONFLICT');
      assertApiError(await gw.api('PUT', `/api/webhook/config/${created.id}`, { rate_limit_per_minute: 0 }), 400, 'BG_ERR_VALIDATION');
      // A message limit above platform.body_limit_bytes (64 KB) could never be reached: its messages would be 413 unread.
      assertApiError(await gw.api('PUT', `/api/webhook/config/${created.id}`, { max_message_bytes: 200_000 }), 400, 'BG_ERR_VALIDATION');
      assertApiError(await gw.api('POST', '/api/webhook/config', { name: 'too-long-messages', outgoing_webhook_url: urlOf('too-long-messages'), max_message_bytes: 65_537 }), 400, 'BG_ERR_VALIDATION');
      assert.equal((await gw.api('PUT', `/api/webhook/config/${created.id}`, { max_message_bytes: 65_536 })).status, 200);
      assert.equal((await gw.api('PUT', `/api/webhook/config/${created.id}`, { max_message_bytes: null })).status, 200);
      const after = (await gw.api('GET', `/api/webhook/config/${created.id}`)).body;
      assert.equal(after.provider, 'upd');
      assert.equal(after.name, 'upd');
      assert.equal(after.rate_limit_per_minute, 7);
    });

    it('rotates the inbound token: the old one is refused at once, the new one works', async () => {
      const created = await createConfig('rot');
      assert.equal((await c.incoming(created.inbound_token, { user_id: 'rot-1', message: 'what is my balance' })).status, 200);
      const rotated = await gw.api('POST', `/api/webhook/config/${created.id}/token/rotate`);
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      assert.match(rotated.body.inbound_token, /^bgp_/);
      assert.notEqual(rotated.body.inbound_token, created.inbound_token);
      assertPlatformError(await c.incoming(created.inbound_token, { user_id: 'rot-1', message: 'what is my balance' }), 401, 'BG_ERR_TOKEN_INVALID');
      const fresh = await c.incoming(rotated.body.inbound_token, { user_id: 'rot-1', message: 'what is my balance' });
      assert.equal(fresh.status, 200);
      assert.equal(fresh.body.response.answer, BALANCE);
      assert.equal(JSON.stringify((await gw.api('GET', `/api/webhook/config/${created.id}`)).body).includes(rotated.body.inbound_token), false);
    });

    it('deletes a config with its endpoint: its token is refused and it is gone', async () => {
      const created = await createConfig('del');
      assert.equal((await c.incoming(created.inbound_token, { user_id: 'del-1', message: 'what is my balance' })).status, 200);
      const deleted = await gw.api('DELETE', `/api/webhook/config/${created.id}`);
      assert.equal(deleted.status, 204);
      assertPlatformError(await c.incoming(created.inbound_token, { user_id: 'del-1', message: 'what is my balance' }), 401, 'BG_ERR_TOKEN_INVALID');
      assertApiError(await gw.api('GET', `/api/webhook/config/${created.id}`), 404, 'BG_ERR_PLATFORM_NOT_FOUND');
      assertApiError(await gw.api('GET', `/api/endpoints/${created.endpoint_id}`), 404, 'BG_ERR_ENDPOINT_NOT_FOUND');
      assert.equal((await gw.api('GET', '/api/webhook/config')).body.data.some((x: Json) => x.id === created.id), false);
      assertApiError(await gw.api('DELETE', `/api/webhook/config/${created.id}`), 404, 'BG_ERR_PLATFORM_NOT_FOUND');
    });

    it('refuses to delete a config whose endpoint an event type sends through (409), and keeps both', async () => {
      const created = await createConfig('in-use');
      assert.equal((await gw.api('PUT', '/api/notify/types/in_use_alert', { endpoint_id: created.endpoint_id })).status, 200);
      assertApiError(await gw.api('DELETE', `/api/webhook/config/${created.id}`), 409, 'BG_ERR_CONFLICT');
      assert.equal((await gw.api('GET', `/api/webhook/config/${created.id}`)).status, 200);
      await gw.api('DELETE', '/api/notify/types/in_use_alert');
      assert.equal((await gw.api('DELETE', `/api/webhook/config/${created.id}`)).status, 204);
      assertApiError(await gw.api('GET', `/api/endpoints/${created.endpoint_id}`), 404, 'BG_ERR_ENDPOINT_NOT_FOUND');
    });

    it('keeps what a config sets on its endpoint from PATCH /api/endpoints (409 naming its route) and DELETE; the rest is the endpoint\'s', async () => {
      const created = await createConfig('owned', { custom_headers: { 'x-account': 'acme' }, timeout_seconds: 20 });
      const endpoint = `/api/endpoints/${created.endpoint_id}`;
      for (const change of [{ url: 'https://elsewhere.example.com/' }, { auth: { kind: 'none' } }, { content_type: 'form' }, { signing: false }, { event_types: ['x.y'] },
        { ordered: false }, { name: 'renamed' }, { provider: 'other' }, { custom_headers: {} }, { timeout_seconds: 5 }, { max_attempts: 2 }, { retry_schedule: [0, 5], url: 'https://elsewhere.example.com/' }]) {
        const res = await gw.api('PATCH', endpoint, change);
        assertApiError(res, 409, 'BG_ERR_CONFLICT');
        assert.match(res.body.message, new RegExp(`belongs to platform config ${created.id}.*PUT /api/webhook/config/${created.id}`));
      }
      const unchanged = (await gw.api('GET', endpoint)).body;
      assert.equal(unchanged.url, urlOf('owned'));
      assert.equal(unchanged.retry_schedule, null, 'a refused PATCH changes nothing');
      assertApiError(await gw.api('DELETE', endpoint), 409, 'BG_ERR_CONFLICT');
      const own = await gw.api('PATCH', endpoint, { retry_schedule: [0, 5], rate_limit_per_second: 10, is_active: false });
      assert.equal(own.status, 200, JSON.stringify(own.body));
      assert.deepEqual([own.body.retry_schedule, own.body.rate_limit_per_second, own.body.is_active], [[0, 5], 10, false]);
      // The config itself still changes what it owns.
      const updated = await gw.api('PUT', `/api/webhook/config/${created.id}`, { outgoing_webhook_url: urlOf('owned-2'), timeout_seconds: 7 });
      assert.equal(updated.status, 200, JSON.stringify(updated.body));
      assert.deepEqual([(await gw.api('GET', endpoint)).body.url, (await gw.api('GET', endpoint)).body.timeout_seconds], [urlOf('owned-2'), 7]);
      assert.equal((await gw.api('DELETE', `/api/webhook/config/${created.id}`)).status, 204);
    });

    it('refuses to delete a config whose endpoint a bot\'s webhook names (409), and keeps both', async () => {
      const own = await startTestGateway(); // a gateway of its own: a second bot would change which bot configs get
      try {
        await own.bots.load(DEMO_BOT_FILE);
        const created = await own.api('POST', '/api/webhook/config', { name: 'named-by-bot', outgoing_webhook_url: 'https://platform.example/hook' });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const endpointId = (created.body as Json).endpoint_id;
        const file = join(mkdtempSync(join(tmpdir(), 'botgate-named-')), 'bot.yaml');
        writeFileSync(file, `id: named\nname: Named\nintents:\n  hi: [hi]\nflows:\n  hi:\n    message: [Hello]\n    next_state: end\nwebhooks:\n  - { event: said.hi, states: [hi], endpoint: "${endpointId}" }\n`);
        assert.equal((await own.api('POST', '/api/bots', { file })).status, 201);
        assertApiError(await own.api('DELETE', `/api/webhook/config/${(created.body as Json).id}`), 409, 'BG_ERR_CONFLICT');
        assert.equal((await own.api('GET', `/api/webhook/config/${(created.body as Json).id}`)).status, 200);
        assert.equal((await own.api('GET', `/api/endpoints/${endpointId}`)).status, 200);
      } finally {
        await own.close();
      }
    });

    it('answers an unknown id with 404 in the API error shape', async () => {
      assertApiError(await gw.api('GET', '/api/webhook/config/ch_nope'), 404, 'BG_ERR_PLATFORM_NOT_FOUND');
      assertApiError(await gw.api('PUT', '/api/webhook/config/ch_nope', { is_active: false }), 404, 'BG_ERR_PLATFORM_NOT_FOUND');
      assertApiError(await gw.api('POST', '/api/webhook/config/ch_nope/token/rotate'), 404, 'BG_ERR_PLATFORM_NOT_FOUND');
      assertApiError(await gw.api('DELETE', '/api/webhook/config/ch_nope'), 404, 'BG_ERR_PLATFORM_NOT_FOUND');
      // Another kind of channel is not a platform config.
      const kore = await gw.api('POST', '/api/apps', { name: 'not-a-platform' });
      const channel = await gw.api('POST', '/api/bots/demo/channels', { mode: 'sync', app_id: kore.body.client_id });
      assert.equal(channel.status, 201, JSON.stringify(channel.body));
      assertApiError(await gw.api('GET', `/api/webhook/config/${channel.body.id}`), 404, 'BG_ERR_PLATFORM_NOT_FOUND');
      assertPlatformError(await c.signed(channel.body.id, '{}', {}), 404, 'BG_ERR_PLATFORM_NOT_FOUND');
    });

    it('refuses invalid configs: missing name or URL 400, unknown field 400, a taken name 409', async () => {
      assertApiError(await gw.api('POST', '/api/webhook/config', { outgoing_webhook_url: urlOf('x') }), 400, 'BG_ERR_VALIDATION');
      assertApiError(await gw.api('POST', '/api/webhook/config', { name: 'no-url' }), 400, 'BG_ERR_VALIDATION');
      assertApiError(await gw.api('POST', '/api/webhook/config', { name: 'bad-url', outgoing_webhook_url: 'not a url' }), 400, 'BG_ERR_VALIDATION');
      assertApiError(await gw.api('POST', '/api/webhook/config', { name: 'typo', outgoing_webhook_url: urlOf('x'), outgoing_url: urlOf('x') }), 400, 'BG_ERR_UNKNOWN_FIELD');
      assertApiError(await gw.api('POST', '/api/webhook/config', { name: 'badsig', outgoing_webhook_url: urlOf('x'), signature: { preset: 'custom', secret: 'a-long-enough-secret' } }), 400, 'BG_ERR_VALIDATION');
      // Signing a timestamp without naming its header would sign "." + body and skip the replay window, silently.
      assertApiError(await gw.api('POST', '/api/webhook/config', {
        name: 'badsig', outgoing_webhook_url: urlOf('x'),
        signature: { preset: 'custom', secret: 'a-long-enough-secret', header: 'X-Sig', algorithm: 'sha256', encoding: 'hex', content: '{timestamp}.{body}' },
      }), 400, 'BG_ERR_VALIDATION');
      assertApiError(await gw.api('POST', '/api/webhook/config', { name: 'nosecret', outgoing_webhook_url: urlOf('x'), signature: { preset: 'zendesk' } }), 400, 'BG_ERR_VALIDATION');
      assertApiError(await gw.api('POST', '/api/webhook/config', { name: 'nobot', outgoing_webhook_url: urlOf('x'), bot: 'no-such-bot' }), 404, 'BG_ERR_BOT_NOT_FOUND');
      // Named by this API's own field, not the endpoint's auth.token.
      const badToken = await gw.api('POST', '/api/webhook/config', { name: 'badtoken', outgoing_webhook_url: urlOf('x'), auth_token: 'bad\ntoken' });
      assertApiError(badToken, 400, 'BG_ERR_VALIDATION');
      assert.match(badToken.body.message, /^auth_token holds a character/);
      const ftp = await gw.api('POST', '/api/webhook/config', { name: 'ftp', outgoing_webhook_url: 'ftp://example.com/in' });
      assertApiError(ftp, 400, 'BG_ERR_VALIDATION');
      assert.equal(ftp.body.message, 'outgoing_webhook_url must use http or https');
      // The token and a custom Authorization header: one would silently replace the other.
      assertApiError(await gw.api('POST', '/api/webhook/config', { name: 'twoauth', outgoing_webhook_url: urlOf('x'), auth_token: 't', custom_headers: { Authorization: 'x' } }), 400, 'BG_ERR_VALIDATION');
      await createConfig('dup');
      assertApiError(await gw.api('POST', '/api/webhook/config', { name: 'dup', outgoing_webhook_url: urlOf('dup2') }), 409, 'BG_ERR_CONFLICT');
      const names = (await gw.api('GET', '/api/webhook/config')).body.data.map((x: Json) => x.name);
      for (const refused of ['no-url', 'bad-url', 'typo', 'badsig', 'nosecret', 'nobot', 'badtoken', 'twoauth']) assert.equal(names.includes(refused), false, refused);
      // Nor an endpoint of theirs: left behind, it would take every platform's handoff events.
      const endpoints = (await gw.api('GET', '/api/endpoints?per_page=1000')).body.data.map((x: Json) => x.name);
      for (const refused of ['badsig', 'nosecret', 'nobot']) assert.equal(endpoints.includes(`platform ${refused}`), false, refused);
      assert.equal(names.filter((n: string) => n === 'dup').length, 1);
    });

    it('refuses a signing secret too short to keep a forger out (16 characters, as an app\'s client secret; Standard Webhooks: an endpoint\'s whsec_ rule), on create and change, through the API and the service', async () => {
      const createWith = (name: string, signature: Record<string, unknown>) => gw.api('POST', '/api/webhook/config', { name, outgoing_webhook_url: urlOf(name), signature });
      for (const [name, signature, message] of [
        ['short-zd', { preset: 'zendesk', secret: 's' }, /^signature\.secret must be at least 16 characters/],
        ['short-ic', { preset: 'intercom', secret: 'fifteen-chars-x' }, /^signature\.secret must be at least 16 characters/],
        ['short-custom', { preset: 'custom', secret: 'abc', header: 'X-Sig', algorithm: 'sha256', encoding: 'hex', content: '{body}' }, /^signature\.secret must be at least 16 characters/],
        ['short-swh', { preset: 'standard_webhooks', secret: 'whsec_AAAAAAAAAAAA' }, /^signature\.secret must be whsec_ followed by base64 of 24 to 64 bytes/],
      ] as const) {
        const res = await createWith(name, signature);
        assertApiError(res, 400, 'BG_ERR_VALIDATION');
        assert.match(res.body.message, message);
        await assert.rejects(gw.platforms.create({ name, outgoing_webhook_url: urlOf(name), signature: signature as never }), { code: 'BG_ERR_VALIDATION', message });
      }
      const names = (await gw.api('GET', '/api/webhook/config')).body.data.map((x: Json) => x.name);
      assert.deepEqual(names.filter((n: string) => n.startsWith('short-')), [], 'nothing made');
      // 16 characters are enough; a Standard Webhooks secret is taken with or without its whsec_ prefix, as it is verified.
      assert.equal((await createWith('ok-16', { preset: 'intercom', secret: 'sixteen-chars-xx' })).status, 201);
      const key = Buffer.alloc(24, 7).toString('base64');
      assert.equal((await createWith('ok-swh', { preset: 'standard_webhooks', secret: `whsec_${key}` })).status, 201);
      assert.equal((await createWith('ok-swh-bare', { preset: 'standard_webhooks', secret: key })).status, 201);
      // A change that sends a short secret is refused and keeps the current one; one that sends none keeps it too.
      const cfg = await createConfig('rotating', { signature: { preset: 'intercom', secret: 'the-first-long-secret' } });
      const put = await gw.api('PUT', `/api/webhook/config/${cfg.id}`, { signature: { preset: 'intercom', secret: 'short' } });
      assertApiError(put, 400, 'BG_ERR_VALIDATION');
      assert.match(put.body.message, /^signature\.secret must be at least 16 characters/);
      assert.equal(gw.platforms.signatureSecret(await gw.platforms.get(cfg.id)), 'the-first-long-secret');
      assert.equal((await gw.api('PUT', `/api/webhook/config/${cfg.id}`, { signature: { preset: 'zendesk' } })).status, 200);
      assert.equal(gw.platforms.signatureSecret(await gw.platforms.get(cfg.id)), 'the-first-long-secret');
    });

    it('refuses a name of only spaces, on create and change, as agents\' and endpoints\' names are', async () => {
      assertApiError(await gw.api('POST', '/api/webhook/config', { name: '   ', outgoing_webhook_url: urlOf('x') }), 400, 'BG_ERR_VALIDATION');
      const created = await createConfig('named');
      const renamed = await gw.api('PUT', `/api/webhook/config/${created.id}`, { name: ' \t ' });
      assertApiError(renamed, 400, 'BG_ERR_VALIDATION');
      assert.match(renamed.body.message, /not only white space or format characters/);
      assert.equal((await gw.api('GET', `/api/webhook/config/${created.id}`)).body.name, 'named');
    });

    it('needs the admin token', async () => {
      const created = await createConfig('adm');
      for (const [method, url] of [['GET', '/api/webhook/config'], ['POST', '/api/webhook/config'], ['GET', `/api/webhook/config/${created.id}`], ['PUT', `/api/webhook/config/${created.id}`],
        ['DELETE', `/api/webhook/config/${created.id}`], ['POST', `/api/webhook/config/${created.id}/token/rotate`], ['GET', '/api/webhook/messages']]) {
        const body = method === 'POST' || method === 'PUT' ? { name: 'sneaky', outgoing_webhook_url: urlOf('x') } : undefined;
        for (const authorization of ['', 'Bearer wrong-token', `Bearer ${created.inbound_token}`]) {
          const res = await gw.api(method, url, body, { authorization });
          assertApiError(res, 401, 'BG_ERR_UNAUTHORIZED');
        }
      }
      assert.equal((await gw.api('GET', `/api/webhook/config/${created.id}`)).status, 200, 'still there');
    });
  });
});
