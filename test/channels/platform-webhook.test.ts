// The generic third-party platform webhook through the HTTP API, with a real loopback receiver standing for the
// platform: platform configs (CRUD, secrets shown once, token rotation), POST /api/webhook/incoming (the reply in
// the answer and delivered to the outgoing webhook URL, signed, with the platform's token and headers),
// deduplication, every bad request answered in the platform's error shape, an outgoing URL that is down,
// the message history and its filters, signed sources (Zendesk, Chatwoot, Intercom, Standard Webhooks, custom
// HMAC) with field mapping, and the rate limit shared by two gateways on one PostgreSQL schema.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { DEMO_BOT_FILE } from '../../src/provision.ts';
import { ADMIN_TOKEN, eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startReceiver, type Receiver, type Received } from '../helpers/receiver.ts';
import { freshSchema, postgresAvailability } from '../helpers/postgres.ts';

type Json = any;

const BALANCE = 'Your balance is not available right now.';
const PIZZA = 'How many pizzas would you like?';
/** Polls until fn returns a value (false, null and undefined mean not yet). */
const until = <T>(fn: () => T | false | null | undefined | Promise<T | false | null | undefined>, timeoutMs?: number) => eventually(fn, timeoutMs) as Promise<T>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Rate limits count in fixed one-minute windows: start a counted burst well inside one. */
async function awayFromMinuteEdge() {
  const into = Date.now() % 60_000;
  if (into > 57_000) await sleep(60_000 - into + 200);
}

/** A platform error: the platform's body shape, the status of its code, never a 500. */
function assertPlatformError(res: { status: number; body: Json }, status: number, code: string) {
  assert.notEqual(res.status, 500, JSON.stringify(res.body));
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.deepEqual(Object.keys(res.body).sort(), ['error', 'success'], JSON.stringify(res.body));
  assert.equal(res.body.success, false);
  assert.deepEqual(Object.keys(res.body.error).sort(), ['code', 'message']);
  assert.equal(res.body.error.code, code, JSON.stringify(res.body));
  assert.equal(typeof res.body.error.message, 'string');
  assert.ok(res.body.error.message.length > 0);
}

/** An error of botgate's own API: {statusCode, code, message}. */
function assertApiError(res: { status: number; body: Json }, status: number, code: string) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.deepEqual(Object.keys(res.body).sort(), ['code', 'message', 'statusCode'], JSON.stringify(res.body));
  assert.equal(res.body.statusCode, status);
  assert.equal(res.body.code, code);
  assert.equal(typeof res.body.message, 'string');
}

async function platformGateway(env: Record<string, string> = {}) {
  const gw = await startTestGateway(env, { start: false });
  await gw.bots.load(DEMO_BOT_FILE);
  await gw.start();
  return gw;
}

function client(gw: TestGateway) {
  async function send(url: string, payload: string, headers: Record<string, string>, method = 'POST') {
    const response = await gw.app.inject({ method: method as 'POST', url, headers, payload: method === 'GET' ? undefined : payload });
    let body: Json = response.body;
    try {
      body = response.body ? JSON.parse(response.body) : null;
    } catch {
      // not JSON
    }
    return { status: response.statusCode, body, headers: response.headers };
  }
  return {
    /** POST /api/webhook/incoming with a bearer token (a string body is sent as is). */
    incoming(token: string | null, body: unknown, headers: Record<string, string> = {}) {
      return send('/api/webhook/incoming', typeof body === 'string' ? body : JSON.stringify(body), {
        'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...headers,
      });
    },
    /** POST /api/webhook/incoming/{id}: a signed source. */
    signed(id: string, raw: string, headers: Record<string, string>) {
      return send(`/api/webhook/incoming/${id}`, raw, { 'content-type': 'application/json', ...headers });
    },
    send,
    async history(query: string): Promise<Json[]> {
      const res = await gw.api('GET', `/api/webhook/messages?per_page=200&${query}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.data;
    },
  };
}

describe('platform webhook (SQLite)', () => {
  let gw: TestGateway;
  let c: ReturnType<typeof client>;
  let rx: Receiver;
  /** Status the receiver answers per path (default 200). */
  const statusFor = new Map<string, number>();
  const path = (name: string) => `/hook/${name}`;
  const urlOf = (name: string) => `${rx.url}/${name}`;
  const succeeded: Received[] = [];

  async function createConfig(name: string, extra: Record<string, unknown> = {}) {
    const res = await gw.api('POST', '/api/webhook/config', { name, outgoing_webhook_url: urlOf(name), ...extra });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as Json;
  }

  before(async () => {
    gw = await platformGateway();
    c = client(gw);
    rx = await startReceiver((req, res) => {
      const status = statusFor.get(req.url) ?? 200;
      if (status === 200) succeeded.push(req);
      res.writeHead(status).end();
    });
  });
  after(async () => {
    await gw.close();
    await rx.close();
  });

  /** Replies the platform got with a 2xx, each once, in order. */
  const repliesAt = (name: string) => {
    const seen = new Set<string>();
    return succeeded.filter((r) => r.url === path(name) && !seen.has(String(r.headers['webhook-id'])) && seen.add(String(r.headers['webhook-id'])));
  };

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
      assertApiError(await gw.api('POST', '/api/webhook/config', { name: 'badsig', outgoing_webhook_url: urlOf('x'), signature: { preset: 'custom', secret: 's' } }), 400, 'BG_ERR_VALIDATION');
      // Signing a timestamp without naming its header would sign "." + body and skip the replay window, silently.
      assertApiError(await gw.api('POST', '/api/webhook/config', {
        name: 'badsig', outgoing_webhook_url: urlOf('x'),
        signature: { preset: 'custom', secret: 's', header: 'X-Sig', algorithm: 'sha256', encoding: 'hex', content: '{timestamp}.{body}' },
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

  describe('incoming messages', () => {
    let cfg: Json;
    before(async () => {
      cfg = await createConfig('freshchat', { auth_token: 'freshchat-api-key', custom_headers: { 'X-Freshchat-Account': 'acme' } });
    });

    it('answers with the bot\'s reply and delivers the same reply to the outgoing webhook, signed, with the platform\'s token', async () => {
      const sent = { user_id: 'fc-user-1', username: 'Ada', message: 'what is my balance', platform: 'freshchat', conversation_id: 'fc-conv-1', timestamp: new Date().toISOString(), metadata: { channel: 'web' } };
      const res = await c.incoming(cfg.inbound_token, sent);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.match(res.body.message_id, /^msg_/);
      assert.match(res.body.response_id, /^msg_/);
      assert.deepEqual(res.body, {
        success: true,
        response: {
          answer: BALANCE,
          response_type: 'text',
          user_info: { user_id: 'fc-user-1', username: 'Ada', conversation_id: 'fc-conv-1', mode: 'bot' },
          messages: [{ message: BALANCE, response_type: 'text' }],
        },
        message_id: res.body.message_id,
        response_id: res.body.response_id,
        duplicate: false,
      });

      const [reply] = await until(() => repliesAt('freshchat').length >= 1 && repliesAt('freshchat'));
      const body = JSON.parse(reply.body);
      assert.deepEqual(Object.keys(body).sort(), ['conversation_id', 'message', 'platform', 'response_type', 'timestamp', 'user_id']);
      assert.deepEqual({ ...body, timestamp: undefined }, { user_id: 'fc-user-1', conversation_id: 'fc-conv-1', platform: 'freshchat', message: BALANCE, response_type: 'text', timestamp: undefined });
      assert.ok(Math.abs(Date.parse(body.timestamp) - Date.now()) < 60_000, body.timestamp);
      assert.equal(reply.method, 'POST');
      assert.equal(reply.headers.authorization, 'Bearer freshchat-api-key');
      assert.equal(reply.headers['x-freshchat-account'], 'acme');
      assert.match(String(reply.headers['content-type']), /^application\/json/);
      assert.equal(reply.verified, true, 'signed with the config\'s whsec_ secret');
      assert.equal(reply.headers['webhook-id'], res.body.response_id, 'the delivered message is the response');
    });

    it('answers several replies, quick replies and metadata as the bot\'s customData; without a conversation_id botgate\'s own is used', async () => {
      const pizza = await c.incoming(cfg.inbound_token, { user_id: 'fc-user-2', message: 'order a pizza' });
      assert.equal(pizza.body.response.answer, PIZZA);
      const conversation = pizza.body.response.user_info.conversation_id;
      assert.match(conversation, /^cv_|^conv|^[a-z]+_/);
      assert.equal(pizza.body.response.user_info.username, null);
      const toppings = await c.incoming(cfg.inbound_token, { user_id: 'fc-user-2', message: '2' });
      assert.equal(toppings.body.response.response_type, 'quick_replies');
      assert.deepEqual(toppings.body.response.messages, [{ message: 'Which toppings?', response_type: 'quick_replies', quick_replies: ['Cheese', 'Pepperoni', 'Veggie'] }]);
      assert.equal(toppings.body.response.user_info.conversation_id, conversation, 'one conversation per user');
      const delivered = await until(() => {
        const mine = repliesAt('freshchat').map((r) => JSON.parse(r.body)).filter((b) => b.user_id === 'fc-user-2');
        return mine.length === 2 && mine;
      });
      assert.deepEqual(delivered.map((b) => b.conversation_id), [conversation, conversation]);
      assert.deepEqual(delivered[1].quick_replies, ['Cheese', 'Pepperoni', 'Veggie']);
      assert.equal(delivered[1].response_type, 'quick_replies');

      const rich = await c.incoming(cfg.inbound_token, { user_id: 'fc-user-3', message: 'what is my balance', metadata: { balance: '$42.00' } });
      assert.equal(rich.body.response.answer, 'Your balance is $42.00.');
    });

    it('accepts the platform named in any case, the scheme "bearer" in any case, and a message of exactly 10 KB', async () => {
      const named = await c.incoming(null, { user_id: 'fc-user-4', message: 'what is my balance', platform: 'FreshChat' }, { authorization: `bearer ${cfg.inbound_token}` });
      assert.equal(named.status, 200, JSON.stringify(named.body));
      assert.equal(named.body.response.answer, BALANCE);
      const full = await c.incoming(cfg.inbound_token, { user_id: 'fc-user-4', message: 'é'.repeat(5120) });
      assert.equal(full.status, 200, JSON.stringify(full.body).slice(0, 300));
    });
  });

  describe('deduplication', () => {
    let cfg: Json;
    let other: Json;
    before(async () => {
      cfg = await createConfig('dedup');
      other = await createConfig('dedup-other');
    });
    /** Delivered replies for a user, once the reply to a later, distinct sentinel message has arrived (ordered endpoint). */
    async function settledReplies(name: string, token: string, user: string) {
      const sentinel = await c.incoming(token, { user_id: user, message: 'order a pizza', message_id: `sentinel-${user}` });
      assert.equal(sentinel.body.duplicate, false);
      return until(() => {
        const mine = repliesAt(name).map((r) => JSON.parse(r.body)).filter((b) => b.user_id === user);
        return mine.at(-1)?.message === PIZZA && mine.slice(0, -1);
      });
    }
    const incomingOf = async (name: string, user: string) => (await c.history(`platform=${name}&message_type=incoming`)).filter((m) => m.user_id === user);

    for (const [how, key, extra] of [
      ['message_id', 'm-1', (k: string) => ({ body: { message_id: k }, headers: {} })],
      ['metadata.message_id', 'm-2', (k: string) => ({ body: { metadata: { message_id: k } }, headers: {} })],
      ['the Idempotency-Key header', 'm-3', (k: string) => ({ body: {}, headers: { 'idempotency-key': k } })],
    ] as const) {
      it(`answers a message seen before (${how}) with the original reply, processed once`, async () => {
        const user = `dd-${key}`;
        const first = await c.incoming(cfg.inbound_token, { user_id: user, message: 'what is my balance', ...extra(key).body }, extra(key).headers);
        assert.equal(first.status, 200);
        assert.equal(first.body.duplicate, false);
        // The same id again, even with other text: the original reply, not a new turn.
        const again = await c.incoming(cfg.inbound_token, { user_id: user, message: 'order a pizza', ...extra(key).body }, extra(key).headers);
        assert.equal(again.status, 200, JSON.stringify(again.body));
        assert.equal(again.body.duplicate, true);
        assert.deepEqual({ ...again.body, duplicate: false }, first.body);
        assert.deepEqual((await settledReplies('dedup', cfg.inbound_token, user)).map((b) => b.message), [BALANCE], 'one delivery');
        const stored = await incomingOf('dedup', user);
        assert.deepEqual(stored.map((m) => m.message).sort(), ['order a pizza', 'what is my balance'], 'the message and the sentinel, once each');
        assert.equal(stored.find((m) => m.message === 'what is my balance').id, first.body.message_id);
      });
    }

    it('takes a message with long integers (kept as their digits, not refused): two long message ids are two messages', async () => {
      const body = (id: string) => `{"user_id":"dd-long","message":"what is my balance","message_id":${id},"metadata":{"balance":12345678901234567890}}`;
      const first = await c.incoming(cfg.inbound_token, body('42345678901234567890'));
      const second = await c.incoming(cfg.inbound_token, body('42345678901234567891'));
      assert.deepEqual([first.status, second.status, second.body.duplicate], [200, 200, false], JSON.stringify(second.body));
    });

    it('processes a message sent several times at once exactly once', async () => {
      const user = 'dd-burst';
      const all = await Promise.all(Array.from({ length: 5 }, () => c.incoming(cfg.inbound_token, { user_id: user, message: 'what is my balance', message_id: 'burst-1' })));
      assert.ok(all.every((r) => r.status === 200), JSON.stringify(all.map((r) => r.body)));
      assert.equal(all.filter((r) => r.body.duplicate === false).length, 1, JSON.stringify(all.map((r) => r.body.duplicate)));
      const original = all.find((r) => r.body.duplicate === false)!.body;
      for (const r of all) assert.deepEqual({ ...r.body, duplicate: false }, original);
      assert.deepEqual((await settledReplies('dedup', cfg.inbound_token, user)).map((b) => b.message), [BALANCE]);
      assert.equal((await incomingOf('dedup', user)).length, 2);
    });

    it('does not take the same message_id from another user for a duplicate (nor answer with their reply)', async () => {
      const alice = await c.incoming(cfg.inbound_token, { user_id: 'dd-alice', message: 'what is my balance', message_id: 'm-collide' });
      const bob = await c.incoming(cfg.inbound_token, { user_id: 'dd-bob', message: 'hello', message_id: 'm-collide' });
      assert.equal(bob.status, 200);
      assert.equal(bob.body.duplicate, false);
      assert.notEqual(bob.body.message_id, alice.body.message_id);
      assert.match(bob.body.response.answer, /^Hi there!/, 'Bob\'s own answer, not Alice\'s balance');
    });

    it('does not take the same message_id from another config for a duplicate', async () => {
      const mine = await c.incoming(cfg.inbound_token, { user_id: 'dd-x', message: 'what is my balance', message_id: 'shared-id' });
      const theirs = await c.incoming(other.inbound_token, { user_id: 'dd-x', message: 'what is my balance', message_id: 'shared-id' });
      assert.equal(mine.body.duplicate, false);
      assert.equal(theirs.status, 200);
      assert.equal(theirs.body.duplicate, false);
      assert.notEqual(theirs.body.message_id, mine.body.message_id);
      await until(() => repliesAt('dedup-other').some((r) => JSON.parse(r.body).user_id === 'dd-x'));
      assert.equal((await incomingOf('dedup-other', 'dd-x')).length, 1);
    });
  });

  describe('bad requests', () => {
    let bad: Json;
    before(async () => {
      bad = await createConfig('badplatform', { provider: 'badprov' });
    });
    const ok = { user_id: 'bad-1', message: 'what is my balance' };

    it('missing token: 401', async () => {
      const res = await c.incoming(null, ok);
      assertPlatformError(res, 401, 'BG_ERR_TOKEN_INVALID');
      assert.equal(res.headers['www-authenticate'], 'Bearer');
      assertPlatformError(await c.incoming(null, ok, { authorization: 'Basic Zm9vOmJhcg==' }), 401, 'BG_ERR_TOKEN_INVALID');
    });
    it('wrong token: 401 (also an admin token, and a malformed body does not matter without a token)', async () => {
      assertPlatformError(await c.incoming('bgp_not-a-real-token', ok), 401, 'BG_ERR_TOKEN_INVALID');
      assertPlatformError(await c.incoming(ADMIN_TOKEN, ok), 401, 'BG_ERR_TOKEN_INVALID');
      assertPlatformError(await c.incoming('wrong', '{not json'), 401, 'BG_ERR_TOKEN_INVALID');
    });
    it('platform mismatch: 400', async () => {
      assertPlatformError(await c.incoming(bad.inbound_token, { ...ok, platform: 'freshchat' }), 400, 'BG_ERR_PLATFORM_MISMATCH');
    });
    it('message over 10 KB: 413 (counted in UTF-8 bytes); body over platform.body_limit_bytes: 413', async () => {
      assertPlatformError(await c.incoming(bad.inbound_token, { ...ok, message: 'a'.repeat(10 * 1024 + 1) }), 413, 'BG_ERR_MESSAGE_TOO_LARGE');
      assertPlatformError(await c.incoming(bad.inbound_token, { ...ok, message: 'é'.repeat(5121) }), 413, 'BG_ERR_MESSAGE_TOO_LARGE');
      assertPlatformError(await c.incoming(bad.inbound_token, { ...ok, metadata: { pad: 'x'.repeat(70 * 1024) } }), 413, 'BG_ERR_PAYLOAD_TOO_LARGE');
      const small = await createConfig('smallplatform', { max_message_bytes: 16 });
      assertPlatformError(await c.incoming(small.inbound_token, { user_id: 'small-1', message: 'what is my balance' }), 413, 'BG_ERR_MESSAGE_TOO_LARGE');
      assert.equal((await c.incoming(small.inbound_token, { user_id: 'small-1', message: 'order a pizza' })).status, 200);
      assert.deepEqual((await c.history('platform=smallplatform&message_type=incoming')).map((m) => m.message), ['order a pizza']);
    });
    it('malformed JSON: 400', async () => {
      assertPlatformError(await c.incoming(bad.inbound_token, '{"user_id": "bad-1", "message": '), 400, 'BG_ERR_INVALID_JSON');
      // An empty body counts as no body (as on the whole API): the body is missing.
      assertPlatformError(await c.incoming(bad.inbound_token, ''), 400, 'BG_ERR_VALIDATION');
      assertPlatformError(await c.incoming(bad.inbound_token, '{"user_id":"bad-1","message":"hi","__proto__":{"x":1}}'), 400, 'BG_ERR_VALIDATION');
    });
    it('missing user_id or message, or the wrong types: 400', async () => {
      assertPlatformError(await c.incoming(bad.inbound_token, { message: 'what is my balance' }), 400, 'BG_ERR_VALIDATION');
      assertPlatformError(await c.incoming(bad.inbound_token, { user_id: 'bad-1' }), 400, 'BG_ERR_VALIDATION');
      assertPlatformError(await c.incoming(bad.inbound_token, { user_id: 'bad-1', message: '' }), 400, 'BG_ERR_VALIDATION');
      assertPlatformError(await c.incoming(bad.inbound_token, { user_id: 42, message: 'hi' }), 400, 'BG_ERR_VALIDATION');
      assertPlatformError(await c.incoming(bad.inbound_token, { user_id: 'bad-1', message: 'hi', metadata: 'x' }), 400, 'BG_ERR_VALIDATION');
      assertPlatformError(await c.incoming(bad.inbound_token, []), 400, 'BG_ERR_VALIDATION');
      // A message id too long for the store's dedup index (PostgreSQL answered 500): refused, and nothing stored.
      assertPlatformError(await c.incoming(bad.inbound_token, { user_id: 'bad-long', message: 'hi', metadata: { message_id: 'm'.repeat(3000) } }), 400, 'BG_ERR_VALIDATION');
      // An Idempotency-Key too long to keep was ignored: a retry ran the bot twice. Refused instead.
      assertPlatformError(await c.incoming(bad.inbound_token, { user_id: 'bad-long', message: 'hi' }, { 'idempotency-key': 'k'.repeat(300) }), 400, 'BG_ERR_VALIDATION');
      // As long a metadata.message_id (it was kept up to 1,024 bytes, past the documented 256).
      assertPlatformError(await c.incoming(bad.inbound_token, { user_id: 'bad-long', message: 'hi', metadata: { message_id: 'm'.repeat(257) } }), 400, 'BG_ERR_VALIDATION');
      assert.deepEqual((await c.history('platform=badplatform&message_type=incoming')).filter((m) => m.user_id === 'bad-long'), []);
    });
    it('unknown field: 400', async () => {
      assertPlatformError(await c.incoming(bad.inbound_token, { ...ok, text: 'typo' }), 400, 'BG_ERR_UNKNOWN_FIELD');
    });
    it('wrong content type: 415', async () => {
      assertPlatformError(await c.incoming(bad.inbound_token, JSON.stringify(ok), { 'content-type': 'text/plain' }), 415, 'BG_ERR_UNSUPPORTED_MEDIA_TYPE');
      assertPlatformError(await c.incoming(bad.inbound_token, 'user_id=bad-1&message=hi', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'BG_ERR_UNSUPPORTED_MEDIA_TYPE');
      assertPlatformError(await c.send(`/api/webhook/incoming/${bad.id}`, JSON.stringify(ok), { 'content-type': 'text/plain' }), 415, 'BG_ERR_UNSUPPORTED_MEDIA_TYPE');
    });
    it('a GET on the route: 405 in the platform shape; an unknown path under it: 404', async () => {
      assertPlatformError(await c.send('/api/webhook/incoming', '', { authorization: `Bearer ${bad.inbound_token}` }, 'GET'), 405, 'BG_ERR_METHOD_NOT_ALLOWED');
      assertPlatformError(await c.send('/api/webhook/incoming/a/b', '', { authorization: `Bearer ${bad.inbound_token}` }, 'POST'), 404, 'BG_ERR_ROUTE_NOT_FOUND');
    });
    it('an unknown config on the signed route: 404; a config without a signature scheme there: 401', async () => {
      assertPlatformError(await c.signed('ch_does_not_exist', JSON.stringify(ok), {}), 404, 'BG_ERR_PLATFORM_NOT_FOUND');
      assertPlatformError(await c.signed(bad.id, JSON.stringify(ok), { authorization: `Bearer ${bad.inbound_token}` }), 401, 'BG_ERR_SIGNATURE_INVALID');
    });
    it('an inactive config: 403', async () => {
      const off = await createConfig('offplatform', { is_active: false });
      assert.equal(off.is_active, false);
      assertPlatformError(await c.incoming(off.inbound_token, { user_id: 'off-1', message: 'what is my balance' }), 403, 'BG_ERR_PLATFORM_INACTIVE');
      assert.deepEqual(await c.history('platform=offplatform'), []);
    });
    it('rate limit: the 4th request of a minute with rate_limit_per_minute 3 gets 429 with Retry-After', async () => {
      const limited = await createConfig('limited', { rate_limit_per_minute: 3 });
      await awayFromMinuteEdge();
      for (let i = 0; i < 3; i++) assert.equal((await c.incoming(limited.inbound_token, { user_id: 'rl-1', message: 'what is my balance' })).status, 200);
      const res = await c.incoming(limited.inbound_token, { user_id: 'rl-1', message: 'what is my balance' });
      assertPlatformError(res, 429, 'BG_ERR_RATE_LIMITED');
      const retryAfter = Number(res.headers['retry-after']);
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, String(res.headers['retry-after']));
      // Other configs have their own allowance.
      assert.equal((await c.incoming(bad.inbound_token, { ...ok, message: 'x', platform: 'nope' })).status, 400);
      assert.equal((await c.history('platform=limited&message_type=incoming')).length, 3, 'the refused request was not stored');
    });
    it('after all the bad requests the history holds none of them', async () => {
      assert.deepEqual(await c.history('platform=badplatform'), []);
      assert.deepEqual(await c.history('platform=badprov'), []);
      const all = await c.history('');
      assert.equal(all.some((m) => m.user_id === 'bad-1' || m.user_id === 'off-1'), false);
      assert.equal(repliesAt('badplatform').length, 0);
    });
  });

  describe('an outgoing URL that is down', () => {
    it('keeps the replies of a conversation and delivers every one, in order, when it comes back', async () => {
      const cfg = await createConfig('outage');
      const patched = await gw.api('PATCH', `/api/endpoints/${cfg.endpoint_id}`, { retry_schedule: [0, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2] });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      statusFor.set(path('outage'), 503);
      const answered: string[] = [];
      for (const text of ['order a pizza', '3', 'Veggie', '1 Elm Road', '555 0100']) {
        const res = await c.incoming(cfg.inbound_token, { user_id: 'out-1', message: text, conversation_id: 'out-conv' });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        answered.push(...res.body.response.messages.map((m: Json) => m.message));
      }
      assert.equal(answered[0], PIZZA);
      assert.ok(answered.length >= 6, JSON.stringify(answered));
      await until(() => rx.requests.filter((r) => r.url === path('outage')).length >= 3);
      // While the first reply fails, nothing behind it is sent.
      const tries = rx.requests.filter((r) => r.url === path('outage'));
      assert.ok(tries.every((r) => r.headers['webhook-id'] === tries[0].headers['webhook-id']), 'only the head of the conversation is tried');
      statusFor.delete(path('outage'));
      const replies = await until(() => repliesAt('outage').length === answered.length && repliesAt('outage'), 10_000);
      const bodies = replies.map((r) => JSON.parse(r.body));
      assert.deepEqual(bodies.map((b) => b.message), answered);
      assert.ok(bodies.every((b) => b.conversation_id === 'out-conv' && b.user_id === 'out-1'));
      assert.ok(replies.every((r) => r.verified === true));
      await until(async () => (await c.history('platform=outage&status=sent&message_type=outgoing')).length === answered.length);
    });
  });

  describe('message history', () => {
    let hist: Json;
    before(async () => {
      hist = await createConfig('hist', { provider: 'histprov' });
      const failing = await createConfig('failing', { retry_attempts: 0 });
      const gone = await createConfig('gone');
      const waiting = await createConfig('waiting');
      statusFor.set(path('failing'), 500);
      statusFor.set(path('gone'), 410);
      statusFor.set(path('waiting'), 503);
      // Tried at once, then not for ten minutes: pending meanwhile.
      assert.equal((await gw.api('PATCH', `/api/endpoints/${waiting.endpoint_id}`, { retry_schedule: [0, 600] })).status, 200);
      for (const text of ['what is my balance', 'order a pizza', '2']) {
        assert.equal((await c.incoming(hist.inbound_token, { user_id: 'h-1', message: text })).status, 200);
      }
      assert.equal((await c.incoming(failing.inbound_token, { user_id: 'f-1', message: 'what is my balance' })).status, 200);
      assert.equal((await c.incoming(gone.inbound_token, { user_id: 'g-1', message: 'what is my balance' })).status, 200);
      assert.equal((await c.incoming(waiting.inbound_token, { user_id: 'w-1', message: 'what is my balance' })).status, 200);
      await until(() => ['failing', 'gone', 'waiting'].every((n) => rx.requests.some((r) => r.url === path(n))));
      await until(() => repliesAt('hist').length === 3);
    });

    it('filters by platform (provider or config name)', async () => {
      const byName = await c.history('platform=hist');
      const byProvider = await c.history('platform=HISTPROV');
      assert.equal(byName.length, 6, JSON.stringify(byName.map((m) => m.message)));
      assert.deepEqual(byProvider, byName);
      assert.ok(byName.every((m) => m.config_id === hist.id && m.platform === 'histprov'));
      assert.deepEqual(await c.history('platform=no-such-platform'), []);
      // Newest first.
      assert.deepEqual(byName.map((m) => m.message), ['Which toppings?', '2', PIZZA, 'order a pizza', BALANCE, 'what is my balance']);
      const answer = byName.find((m) => m.message === BALANCE);
      assert.equal(answer.reply_to, byName.find((m) => m.message === 'what is my balance').id);
      assert.equal(answer.user_id, 'h-1');
    });

    it('filters by message_type', async () => {
      const incoming = await c.history('platform=hist&message_type=incoming');
      const outgoing = await c.history('platform=hist&message_type=outgoing');
      assert.deepEqual(incoming.map((m) => m.message), ['2', 'order a pizza', 'what is my balance']);
      assert.ok(incoming.every((m) => m.message_type === 'incoming' && m.status === 'received'));
      assert.deepEqual(outgoing.map((m) => m.message), ['Which toppings?', PIZZA, BALANCE]);
      assert.ok(outgoing.every((m) => m.message_type === 'outgoing' && m.status === 'sent'));
      assertApiError(await gw.api('GET', '/api/webhook/messages?message_type=sideways'), 400, 'BG_ERR_VALIDATION');
    });

    it('filters by status: received, pending, sent, failed (max attempts reached)', async () => {
      const failed = await until(async () => {
        const rows = await c.history('status=failed');
        return rows.some((m) => m.user_id === 'f-1') && rows;
      });
      assert.ok(failed.every((m) => m.status === 'failed' && m.message_type === 'outgoing'));
      assert.deepEqual(failed.map((m) => [m.user_id, m.message]), [['f-1', BALANCE]]);
      assert.deepEqual((await c.history('platform=failing')).map((m) => m.status), ['failed', 'received'], 'the unfiltered view agrees');
      assert.deepEqual((await c.history('platform=failing&status=failed')).map((m) => m.message), [BALANCE]);
      const pending = await c.history('status=pending');
      assert.deepEqual(pending.map((m) => m.user_id).sort(), ['g-1', 'w-1'], JSON.stringify(pending));
      assert.ok(pending.every((m) => m.status === 'pending' && m.message_type === 'outgoing' && m.message === BALANCE));
      assert.deepEqual((await c.history('platform=waiting')).map((m) => m.status), ['pending', 'received']);
      // 410 switches the endpoint off; its reply waits (pending) until the endpoint is enabled again.
      const gone = (await gw.api('GET', '/api/webhook/config')).body.data.find((x: Json) => x.name === 'gone');
      assert.equal(gone.endpoint_active, false);
      assert.deepEqual((await c.history('platform=gone')).map((m) => m.status), ['pending', 'received']);
      const received = await c.history('platform=hist&status=received');
      assert.deepEqual(received.map((m) => m.message), ['2', 'order a pizza', 'what is my balance']);
      const sent = await c.history('platform=hist&status=sent');
      assert.deepEqual(sent.map((m) => m.message), ['Which toppings?', PIZZA, BALANCE]);
      assert.deepEqual(await c.history('platform=failing&status=sent'), []);
      assert.deepEqual(await c.history('platform=hist&message_type=incoming&status=sent'), []);
      assert.deepEqual(await c.history('platform=hist&message_type=outgoing&status=received'), []);
      assertApiError(await gw.api('GET', '/api/webhook/messages?status=lost'), 400, 'BG_ERR_VALIDATION');
    });

    it('pages with page and per_page', async () => {
      const all = await c.history('platform=hist');
      const pages: Json[][] = [];
      for (let page = 1; page <= 4; page++) {
        const res = await gw.api('GET', `/api/webhook/messages?platform=hist&per_page=2&page=${page}`);
        assert.equal(res.status, 200);
        assert.equal(res.body.page, page);
        assert.equal(res.body.per_page, 2);
        pages.push(res.body.data);
      }
      assert.deepEqual(pages.map((p) => p.length), [2, 2, 2, 0]);
      assert.deepEqual(pages.flat().map((m) => m.id), all.map((m) => m.id));
      // And with the cursor each page gives.
      const byCursor: Json[] = [];
      for (let cursor = '', i = 0; i < 5; i++) {
        const res = await gw.api('GET', `/api/webhook/messages?platform=hist&per_page=2${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        byCursor.push(...res.body.data);
        if (!res.body.next_cursor) break;
        cursor = res.body.next_cursor;
      }
      assert.deepEqual(byCursor.map((m) => m.id), all.map((m) => m.id));
      assertApiError(await gw.api('GET', '/api/webhook/messages?per_page=0'), 400, 'BG_ERR_VALIDATION');
      assertApiError(await gw.api('GET', '/api/webhook/messages?colour=red'), 400, 'BG_ERR_UNKNOWN_FIELD');
    });
  });

  describe('signed sources', () => {
    const hmac = (alg: 'sha256' | 'sha1', secret: string | Buffer, content: string, enc: 'hex' | 'base64') => createHmac(alg, secret).update(content, 'utf8').digest(enc);
    const unix = (offsetSeconds = 0) => String(Math.floor(Date.now() / 1000) + offsetSeconds);
    const incomingCount = async (name: string) => (await c.history(`platform=${name}&message_type=incoming`)).length;

    it('zendesk: base64 HMAC-SHA256 over timestamp + body', async () => {
      const cfg = await createConfig('zendesk', { signature: { preset: 'zendesk', secret: 'zd-secret' } });
      const sign = (raw: string, ts = new Date().toISOString(), secret = 'zd-secret') => ({
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
        signature: { preset: 'chatwoot', secret: 'cw-secret' },
        fields: { message: 'content', user_id: 'sender.id', conversation_id: 'conversation.id', message_id: 'id', username: 'sender.name' },
      });
      assert.deepEqual(cfg.fields, { message: 'content', user_id: 'sender.id', conversation_id: 'conversation.id', message_id: 'id', username: 'sender.name' });
      const sign = (raw: string, ts = unix()) => ({ 'x-chatwoot-signature': `sha256=${hmac('sha256', 'cw-secret', `${ts}.${raw}`, 'hex')}`, 'x-chatwoot-timestamp': ts });
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
      assertPlatformError(await c.signed(cfg.id, '{"id": 104, "content": ', sign('{"id": 104, "content": ')), 400, 'BG_ERR_INVALID_JSON');
      assert.equal(await incomingCount('chatwoot'), 3, 'the first message, and the two with long ids');
    });

    it('intercom: sha1= hex HMAC-SHA1 over the body', async () => {
      const cfg = await createConfig('intercom', { signature: { preset: 'intercom', secret: 'ic-secret' }, fields: { message: 'data.item.body', user_id: 'data.item.user.id' } });
      const sign = (raw: string, secret = 'ic-secret') => ({ 'x-hub-signature': `sha1=${hmac('sha1', secret, raw, 'hex')}` });
      const raw = JSON.stringify({ type: 'notification_event', topic: 'conversation.user.replied', data: { item: { body: 'order a pizza', user: { id: 'ic-user-1' } } } });
      const res = await c.signed(cfg.id, raw, sign(raw));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.response.answer, PIZZA);
      assert.equal(res.body.response.user_info.user_id, 'ic-user-1');
      assertPlatformError(await c.signed(cfg.id, raw + ' ', sign(raw)), 401, 'BG_ERR_SIGNATURE_INVALID');
      assertPlatformError(await c.signed(cfg.id, raw, sign(raw, 'wrong')), 401, 'BG_ERR_SIGNATURE_INVALID');
      assertPlatformError(await c.signed(cfg.id, raw, { 'x-hub-signature': `sha256=${hmac('sha256', 'ic-secret', raw, 'hex')}` }), 401, 'BG_ERR_SIGNATURE_INVALID');
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
        signature: { preset: 'custom', secret: 'acme-secret', header: 'X-Acme-Signature', algorithm: 'sha256', encoding: 'base64', prefix: 'v1=', content: '{timestamp}.{body}', timestamp_header: 'X-Acme-Timestamp', tolerance_seconds: 60 },
      });
      assert.deepEqual(cfg.signature, { preset: 'custom', header: 'X-Acme-Signature', algorithm: 'sha256', encoding: 'base64', prefix: 'v1=', content: '{timestamp}.{body}', timestamp_header: 'X-Acme-Timestamp', tolerance_seconds: 60 });
      const sign = (raw: string, ts = unix()) => ({ 'x-acme-signature': `v1=${hmac('sha256', 'acme-secret', `${ts}.${raw}`, 'base64')}`, 'x-acme-timestamp': ts });
      const raw = JSON.stringify({ user_id: 'ac-1', message: 'what is my balance', message_id: 'acme-1' });
      const res = await c.signed(cfg.id, raw, sign(raw, unix(-30)));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.response.answer, BALANCE);
      assertPlatformError(await c.signed(cfg.id, raw, sign(raw, unix(-120))), 401, 'BG_ERR_SIGNATURE_INVALID');
      assertPlatformError(await c.signed(cfg.id, raw.replace('ac-1', 'ac-2'), sign(raw)), 401, 'BG_ERR_SIGNATURE_INVALID');
      const hex = unix();
      assertPlatformError(await c.signed(cfg.id, raw, { 'x-acme-signature': `v1=${hmac('sha256', 'acme-secret', `${hex}.${raw}`, 'hex')}`, 'x-acme-timestamp': hex }), 401, 'BG_ERR_SIGNATURE_INVALID');
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
      const res2 = await c.signed(cfg.id, raw2, { 'x-acme-signature': hmac('sha1', 'acme-secret', raw2, 'hex') });
      assert.equal(res2.status, 200, JSON.stringify(res2.body));
      assert.equal(res2.body.response.answer, PIZZA);
    });

    it('an inactive signed source: 403 even when signed right, nothing stored', async () => {
      const cfg = await createConfig('intercom-off', { is_active: false, signature: { preset: 'intercom', secret: 'off-secret' } });
      const raw = JSON.stringify({ user_id: 'io-1', message: 'what is my balance' });
      assertPlatformError(await c.signed(cfg.id, raw, { 'x-hub-signature': `sha1=${hmac('sha1', 'off-secret', raw, 'hex')}` }), 403, 'BG_ERR_PLATFORM_INACTIVE');
      assert.equal(await incomingCount('intercom-off'), 0);
    });
  });
});

const postgres = await postgresAvailability();

describe('platform webhook on PostgreSQL', { skip: 'skip' in postgres ? postgres.skip : false }, () => {
  it('two gateways on one schema share the rate limit: 5 a minute, 3 requests to each → 5 succeed, 1 gets 429', async () => {
    const { url } = postgres as { url: string };
    const schema = await freshSchema(url);
    const env = { BOTGATE_DATABASE_URL: url, BOTGATE_DATABASE_SCHEMA: schema.schema };
    const rx = await startReceiver();
    const gateways: TestGateway[] = [];
    try {
      gateways.push(await platformGateway(env));
      gateways.push(await platformGateway(env));
      const created = await gateways[0].api('POST', '/api/webhook/config', { name: 'shared', outgoing_webhook_url: rx.url, rate_limit_per_minute: 5 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const [a, b] = gateways.map(client);
      await awayFromMinuteEdge();
      const results = await Promise.all([a, b, a, b, a, b].map((cl, i) => cl.incoming(created.body.inbound_token, { user_id: `pg-${i}`, message: 'what is my balance' })));
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429], JSON.stringify(results.map((r) => r.body)));
      const refused = results.find((r) => r.status === 429)!;
      assertPlatformError(refused, 429, 'BG_ERR_RATE_LIMITED');
      assert.ok(Number(refused.headers['retry-after']) >= 1);
      for (const r of results.filter((x) => x.status === 200)) assert.equal(r.body.response.answer, BALANCE);
      // Either gateway sees the same history: five messages in, five replies out.
      assert.equal((await b.history('platform=shared&message_type=incoming')).length, 5);
      await rx.waitFor(5);
      // Deletes racing on both gateways: one removed the config (204), the others found nothing (404).
      const deletes = await Promise.all([0, 1, 0, 1].map((g) => gateways[g].api('DELETE', `/api/webhook/config/${created.body.id}`)));
      assert.deepEqual(deletes.map((d) => d.status).sort(), [204, 404, 404, 404]);
    } finally {
      for (const g of gateways) await g.close();
      await rx.close();
      await schema.drop();
    }
  });
});
