// Auth kind kore_jwt end to end: an endpoint standing for Kore.ai's notify API gets a JWT in its `auth`
// header, verified with jose as Kore would, minted afresh for every attempt; its secret is never shown nor
// logged; bad settings are refused. Also the notify body and URL.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import pino from 'pino';
import { createManualClock } from '../../src/clock.ts';
import { koreNotifyBody, koreNotifyUrl } from '../../src/notify/kore-notify.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';

const CLIENT_ID = 'cs-5d3c1a7e-0b2f-4c39-9a51-2f4d8e6b7c10';
const CLIENT_SECRET = 'kore-client-secret-Zq8vN3xW7rT1yU5p';
const key = new TextEncoder().encode(CLIENT_SECRET);

describe('koreNotifyBody / koreNotifyUrl', () => {
  it('builds the notify API body as Kore.ai documents it: channel, identities resolved by Kore, a text message, identities as strings', () => {
    const body = koreNotifyBody({ channel: 'msteams', text: 'Your order "42" shipped 🚚', identities: ['ana@example.com', 'bo@example.com'] });
    assert.equal(body, '{"channel":"msteams","userIdentityType":"resolve","message":{"type":"text","val":"Your order \\"42\\" shipped 🚚"},"identities":["ana@example.com","bo@example.com"]}');
    assert.deepEqual(JSON.parse(body).message, { type: 'text', val: 'Your order "42" shipped 🚚' });
  });

  it('builds the notify URL with or without a trailing slash on the host', () => {
    assert.equal(koreNotifyUrl('https://bots.kore.ai/', 'st-1234'), 'https://bots.kore.ai/api/public/bot/st-1234/notify');
    assert.equal(koreNotifyUrl('https://bots.kore.ai', 'st-1234'), 'https://bots.kore.ai/api/public/bot/st-1234/notify');
  });
});

describe('auth kind kore_jwt', () => {
  const clock = createManualClock(Date.UTC(2026, 5, 1, 12, 0, 0, 250));
  const logLines: string[] = [];
  let gw: TestGateway;
  let kore: Receiver;
  /** What the receiver, acting as Kore.ai, made of each request's token. */
  const seen: { token: string; claims: JWTPayload | null; gatewayNow: number }[] = [];
  let answers: number[] = [];

  before(async () => {
    const logger = pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) });
    gw = await startTestGateway({}, { clock, logger });
    kore = await startReceiver(async (req, res) => {
      const token = String(req.headers.auth ?? '');
      let claims: JWTPayload | null = null;
      try {
        ({ payload: claims } = await jwtVerify(token, key, { algorithms: ['HS256'], currentDate: new Date(clock.now()), requiredClaims: ['iat', 'exp'] }));
      } catch {
        // claims stays null: answered 401 like Kore
      }
      seen.push({ token, claims, gatewayNow: clock.now() });
      if (!claims || claims.appId !== CLIENT_ID) return void res.writeHead(401).end('{"errors":[{"msg":"invalid token"}]}');
      res.writeHead(answers.shift() ?? 200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  after(async () => {
    await gw.close();
    await kore.close();
  });

  const deliveryOf = async (id: string) => (await gw.api('GET', `/api/deliveries/${id}`)).body;

  it('sends a freshly minted token Kore verifies, and a new one on the retry; the secret is never shown nor logged', async () => {
    seen.length = 0;
    answers = [500];
    const url = koreNotifyUrl(`http://127.0.0.1:${kore.port}/`, 'st-bot-1');
    const created = await gw.api('POST', '/api/endpoints', {
      name: 'kore notify', provider: 'kore', url, signing: false, event_types: ['kore.notify'], retry_schedule: [0, 60],
      auth: { kind: 'kore_jwt', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, claims: { tenant: 'acme' } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.auth, { kind: 'kore_jwt', client_id: CLIENT_ID, header: 'auth', claims: { tenant: 'acme' } });

    const body = koreNotifyBody({ channel: 'msteams', text: 'Your refund is on its way', identities: ['ana@example.com'] });
    const published = await gw.api('POST', '/api/messages', { event_type: 'kore.notify', payload: JSON.parse(body) });
    assert.equal(published.status, 202, JSON.stringify(published.body));
    const deliveryId = published.body.delivery_ids[0];

    await eventually(() => seen.length === 1);
    const first = clock.now();
    await eventually(async () => (await deliveryOf(deliveryId)).attempts === 1);
    clock.advance(90_000); // past the 60 s retry ± 20%
    gw.outbox.nudge();
    await eventually(async () => (await deliveryOf(deliveryId)).status === 'sent');

    assert.equal(kore.requests.length, 2);
    for (const request of kore.requests) {
      assert.equal(request.url, '/api/public/bot/st-bot-1/notify');
      assert.equal(request.body, body, 'the notify body exactly as built');
      assert.equal(request.headers.authorization, undefined);
    }
    assert.equal(seen.length, 2);
    for (const [i, { claims, gatewayNow }] of seen.entries()) {
      assert.ok(claims, `attempt ${i + 1}: the token verifies with HS256 and the client secret`);
      assert.equal(claims.appId, CLIENT_ID);
      assert.equal(claims.sub, 'botgate');
      assert.equal(claims.tenant, 'acme');
      assert.equal(claims.iat, Math.floor(gatewayNow / 1000), 'issued at the attempt');
      assert.equal(claims.exp, claims.iat + 300, 'short-lived');
    }
    assert.equal(seen[0].gatewayNow, first);
    assert.notEqual(seen[1].token, seen[0].token, 'the retry carries a new token');
    assert.equal(seen[1].claims!.iat! - seen[0].claims!.iat!, 90);
    await assert.rejects(jwtVerify(seen[0].token, new TextEncoder().encode('another-secret'), { algorithms: ['HS256'], currentDate: new Date(first) }), joseErrors.JWSSignatureVerificationFailed);
    const tries = (await gw.api('GET', `/api/deliveries/${deliveryId}/attempts`)).body.data as { status_code: number }[];
    assert.deepEqual(tries.map((t) => t.status_code), [500, 200]);

    const shown = [created.body, (await gw.api('GET', `/api/endpoints/${created.body.id}`)).body, (await gw.api('GET', '/api/endpoints?provider=kore')).body];
    for (const view of shown) {
      assert.ok(!JSON.stringify(view).includes(CLIENT_SECRET), 'the client secret is never shown');
      assert.ok(!JSON.stringify(view).includes('client_secret'));
    }
    assert.ok(logLines.length > 0, 'the logger was in use');
    assert.ok(!logLines.join('\n').includes(CLIENT_SECRET), 'the client secret is never logged');
  });

  it('sends the token in another header when asked, and keeps working after switching auth by PATCH', async () => {
    seen.length = 0;
    kore.requests.length = 0;
    const ep = (await gw.api('POST', '/api/endpoints', { name: 'plain', url: koreNotifyUrl(`http://127.0.0.1:${kore.port}`, 'st-bot-2'), signing: false, event_types: ['kore.other'] })).body;
    const patched = await gw.api('PATCH', `/api/endpoints/${ep.id}`, { auth: { kind: 'kore_jwt', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, header: 'X-Kore-Auth', claims: { sub: 'orders-service' } } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual(patched.body.auth, { kind: 'kore_jwt', client_id: CLIENT_ID, header: 'x-kore-auth', claims: { sub: 'orders-service' } });
    assert.ok(!JSON.stringify(patched.body).includes(CLIENT_SECRET));
    await gw.api('POST', '/api/messages', { event_type: 'kore.other', payload: { n: 1 } });
    const [request] = await kore.waitFor(1);
    assert.equal(request.headers.auth, undefined);
    const { payload } = await jwtVerify(String(request.headers['x-kore-auth']), key, { algorithms: ['HS256'], currentDate: new Date(clock.now()) });
    assert.equal(payload.appId, CLIENT_ID);
    assert.equal(payload.sub, 'orders-service');
  });

  it('refuses bad settings with 400 BG_ERR_VALIDATION naming the field', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ client_secret: CLIENT_SECRET }, /auth\.client_id is required/],
      [{ client_id: CLIENT_ID }, /auth\.client_secret is required/],
      [{ client_id: CLIENT_ID, client_secret: '' }, /auth\.client_secret is required/],
      [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, token: 'x' }, /auth\.token is not a setting of auth kind kore_jwt/],
      [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, header: 'bad header' }, /auth\.header is not a valid header name/],
      [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, claims: ['x'] }, /auth\.claims must be an object/],
      [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, claims: { exp: 9999999999 } }, /auth\.claims\.exp is set by botgate/],
    ];
    for (const [settings, message] of cases) {
      const res = await gw.api('POST', '/api/endpoints', { name: 'bad', url: kore.url, auth: { kind: 'kore_jwt', ...settings } });
      assert.equal(res.status, 400, JSON.stringify(settings));
      assert.equal(res.body.code, 'BG_ERR_VALIDATION');
      assert.match(res.body.message, message);
      assert.ok(!JSON.stringify(res.body).includes(CLIENT_SECRET), 'errors never echo the secret');
    }
    const list = (await gw.api('GET', '/api/endpoints?per_page=100')).body.data as { name: string }[];
    assert.equal(list.filter((e) => e.name === 'bad').length, 0, 'nothing was stored');
  });
});
