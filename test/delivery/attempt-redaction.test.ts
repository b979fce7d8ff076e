// An attempt keeps the receiver's answer without the credentials botgate sent it: a receiver on loopback that echoes
// the request's headers (as httpbin and many debug receivers do) must not have the endpoint's token, password or
// header value stored and served by GET /api/deliveries/{id}/attempts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';

const TOKEN = 'bearer-tok/Zq8vN3xW7rT1yU5p+9';
const PASSWORD = 'basic-pw-Qm4L7#x"2';
const HEADER_VALUE = 'hdr-value-Tz3Kp9Wq';
const CLIENT_SECRET = 'kore-client-secret-Zq8vN3xW7rT1yU5p';
const MAX = 20_480;

describe('attempt response bodies', () => {
  let gw: TestGateway;
  let echo: Receiver;

  before(async () => {
    gw = await startTestGateway();
    echo = await startReceiver((req, res) => {
      const headers = JSON.stringify({ url: req.url, headers: req.headers });
      // /cut: the answer is padded so that the kept 20 KB end inside the echoed token.
      const body = req.url.endsWith('/cut') ? 'x'.repeat(MAX - 12) + String(req.headers.authorization) : headers;
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  });
  after(async () => {
    await gw.close();
    await echo.close();
  });

  const deliver = async (name: string, auth: Record<string, unknown>, path = '/echo') => {
    const created = await gw.api('POST', '/api/endpoints', { name, url: echo.url + path, signing: false, event_types: [name], auth });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const published = await gw.api('POST', '/api/messages', { event_type: name, payload: { order: 42 } });
    assert.equal(published.status, 202, JSON.stringify(published.body));
    const id = published.body.delivery_ids[0];
    const [attempt] = await eventually(async () => {
      const list = (await gw.api('GET', `/api/deliveries/${id}/attempts`)).body.data as any[];
      return list.length > 0 ? list : null;
    });
    assert.equal(attempt.status_code, 200);
    return String(attempt.response_body);
  };
  const received = (path: string) => echo.requests.filter((r) => r.url.endsWith(path)).at(-1)!;

  it('keeps no bearer token, basic password (raw or base64) nor auth header value an echo sent back, and the rest of the echo', async () => {
    const bearer = await deliver('echo.bearer', { kind: 'bearer', token: TOKEN }, '/bearer');
    assert.equal(received('/bearer').headers.authorization, `Bearer ${TOKEN}`, 'the receiver got the token');
    assert.ok(!bearer.includes(TOKEN) && !bearer.includes(TOKEN.replace('/', '\\/')), bearer);
    assert.equal(JSON.parse(bearer).headers.authorization, 'Bearer [redacted]');
    assert.equal(JSON.parse(bearer).url, '/hook/bearer', 'the rest of the echo is kept');

    const basic = await deliver('echo.basic', { kind: 'basic', username: 'ana', password: PASSWORD }, '/basic');
    const base64 = Buffer.from(`ana:${PASSWORD}`).toString('base64');
    assert.equal(received('/basic').headers.authorization, `Basic ${base64}`);
    assert.ok(!basic.includes(base64) && !basic.includes(JSON.stringify(PASSWORD).slice(1, -1)), basic);
    assert.equal(JSON.parse(basic).headers.authorization, 'Basic [redacted]');

    const header = await deliver('echo.header', { kind: 'header', name: 'X-Api-Key', value: HEADER_VALUE }, '/header');
    assert.equal(received('/header').headers['x-api-key'], HEADER_VALUE);
    assert.equal(JSON.parse(header).headers['x-api-key'], '[redacted]');

    const kore = await deliver('echo.kore', { kind: 'kore_jwt', client_id: 'cs-1', client_secret: CLIENT_SECRET }, '/kore');
    const jwt = String(received('/kore').headers.auth);
    assert.match(jwt, /^ey/);
    assert.ok(!kore.includes(jwt), kore);
    assert.equal(JSON.parse(kore).headers.auth, '[redacted]');
  });

  it('keeps no start of a token where the kept 20 KB end inside it', async () => {
    const body = await deliver('echo.cut', { kind: 'bearer', token: TOKEN }, '/cut');
    assert.ok(!body.includes(TOKEN.slice(0, 5)), body.slice(-40));
    assert.ok(body.endsWith('xBearer [redacted]'), body.slice(-40));
  });
});
