// Bad input on the management API: every malformed, oversized, unauthenticated or unknown request gets a
// coded 4xx in the API error shape — never a 500.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

describe('bad input', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({}, { start: false });
  });
  after(async () => {
    await gw.close();
  });

  const raw = (method: string, url: string, payload?: string, headers: Record<string, string> = {}) =>
    gw.app.inject({ method: method as 'POST', url, payload, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...headers } });

  function expectError(res: { statusCode: number; body: string }, status: number, code: string) {
    assert.equal(res.statusCode, status, res.body);
    const body = JSON.parse(res.body);
    assert.deepEqual(Object.keys(body).sort(), ['code', 'message', 'statusCode']);
    assert.equal(body.code, code);
    assert.equal(body.statusCode, status);
  }

  it('answers what is not HTTP, or has headers over the limit, with a coded error and closes the connection', async () => {
    const { connect } = await import('node:net');
    const address = await gw.app.listen({ port: 0, host: '127.0.0.1' });
    const port = Number(new URL(address).port);
    const exchange = (request: string) => new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(request));
      let answer = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk)).on('close', () => resolve(answer)).on('error', reject);
    });
    const codeOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).code;
    const big = await exchange(`GET /api/endpoints HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(big, /^HTTP\/1\.1 431 /);
    assert.equal(codeOf(big), 'BG_ERR_HEADERS_TOO_LARGE');
    for (const request of ['FOO / HTTP/1.1\r\nHost: x\r\n\r\n', 'POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'GET / HTTP/9.9\r\n\r\n']) {
      const answer = await exchange(request);
      assert.match(answer, /^HTTP\/1\.1 400 /, request);
      assert.equal(codeOf(answer), 'BG_ERR_MALFORMED_REQUEST', request);
    }
    // Node's own answers to these were a bare 400 and 417 with no body; they are coded, in the route's surface shape.
    const noHost = await exchange(`GET /api/endpoints HTTP/1.1\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nConnection: close\r\n\r\n`);
    assert.match(noHost, /^HTTP\/1\.1 400 /);
    assert.equal(codeOf(noHost), 'BG_ERR_MALFORMED_REQUEST');
    assert.match(await exchange(`GET /api/endpoints HTTP/1.0\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\n\r\n`), /^HTTP\/1\.1 200 /);
    const expect = await exchange(`POST /api/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nContent-Type: application/json\r\nExpect: 200-ok\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
    assert.match(expect, /^HTTP\/1\.1 417 /);
    assert.equal(codeOf(expect), 'BG_ERR_EXPECTATION_FAILED');
    const kore = await exchange('POST /chatbot/hooks/demo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
    assert.equal(JSON.parse(kore.slice(kore.indexOf('\r\n\r\n') + 4)).bg_code, 'BG_ERR_EXPECTATION_FAILED');
    // CONNECT never reached the app: Node closed the connection without an answer.
    const proxied = await exchange('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    assert.match(proxied, /^HTTP\/1\.1 400 /);
    assert.equal(codeOf(proxied), 'BG_ERR_MALFORMED_REQUEST');
    const cont = await exchange(`GET /api/endpoints HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
    assert.match(cont, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
  });

  it('refuses a missing or wrong admin token with 401', async () => {
    expectError(await gw.app.inject({ method: 'GET', url: '/api/endpoints' }), 401, 'BG_ERR_UNAUTHORIZED');
    expectError(await raw('GET', '/api/endpoints', undefined, { authorization: 'Bearer nope-nope-nope' }), 401, 'BG_ERR_UNAUTHORIZED');
    expectError(await raw('GET', '/api/endpoints', undefined, { authorization: ADMIN_TOKEN }), 401, 'BG_ERR_UNAUTHORIZED');
    expectError(await gw.app.inject({ method: 'POST', url: '/api/messages', payload: 'garbage' }), 401, 'BG_ERR_UNAUTHORIZED');
  });

  it('refuses invalid JSON, wrong types, missing and unknown fields with 400', async () => {
    expectError(await raw('POST', '/api/endpoints', '{"name": "x",'), 400, 'BG_ERR_INVALID_JSON');
    expectError(await raw('POST', '/api/endpoints', ''), 400, 'BG_ERR_VALIDATION');
    // Valid JSON, but a key that could set a prototype, outside a message's payload: refused, named (it is no JSON error).
    for (const [body, path] of [
      ['{"__proto__": {"admin": true}}', 'body.__proto__'],
      ['{"name": "x", "url": "http://a.example", "custom_headers": {"\\u005f_proto__": "x"}}', 'body.custom_headers.__proto__'],
      ['{"name": "x", "url": "http://a.example", "auth": {"kind": "none", "constructor": {"prototype": {}}}}', 'body.auth.constructor'],
    ]) {
      const res = await raw('POST', '/api/endpoints', body);
      expectError(res, 400, 'BG_ERR_VALIDATION');
      assert.ok(JSON.parse(res.body).message.startsWith(`${path}: `), res.body);
    }
    expectError(await raw('POST', '/api/messages', '{"event_type": "a", "payload": {}, "__proto__": {}}'), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('POST', '/api/messages/batch', '{"messages": [{"event_type": "a", "payload": {}, "__proto__": {}}]}'), 400, 'BG_ERR_VALIDATION');
    assert.equal(({} as Record<string, unknown>).admin, undefined);
    expectError(await raw('POST', '/api/endpoints', JSON.stringify({ name: 'x' })), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('POST', '/api/endpoints', JSON.stringify({ name: 'x', url: 'http://a.example', timeout_seconds: '15' })), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('POST', '/api/endpoints', JSON.stringify({ name: 'x', url: 'http://a.example', timeuot_seconds: 15 })), 400, 'BG_ERR_UNKNOWN_FIELD');
    expectError(await raw('POST', '/api/endpoints', JSON.stringify({ name: 'x', url: 'ftp://a.example' })), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('POST', '/api/endpoints', JSON.stringify({ name: 'x', url: 'http://a.example', auth: { kind: 'magic' } })), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('POST', '/api/endpoints', JSON.stringify({ name: 'x', url: 'http://a.example', auth: { kind: 'bearer' } })), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('POST', '/api/endpoints', JSON.stringify({ name: 'x', url: 'http://a.example', custom_headers: { 'webhook-id': 'x' } })), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('POST', '/api/endpoints', JSON.stringify({ name: 'x', url: 'http://a.example', secret: 'whsec_short' })), 400, 'BG_ERR_VALIDATION');
    // Headers the HTTP client could never send (every try would fail before it starts, and stall the pool's queue),
    // auth headers botgate writes itself, and a secret receivers' Standard Webhooks libraries cannot decode.
    for (const bad of [
      { custom_headers: { Expect: '100-continue' } }, { custom_headers: { 'Keep-Alive': 'x' } }, { custom_headers: { 'x-note': 'héllo ☃' } },
      { auth: { kind: 'bearer', token: 'abc\r\nX-Injected: 1' } }, { auth: { kind: 'header', name: 'x-k', value: 'a\nb' } },
      { auth: { kind: 'header', name: 'Content-Type', value: 'key' } }, { auth: { kind: 'header', name: 'webhook-signature', value: 'key' } },
      { secret: 'whsec_!!!!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, { secret: 'whsec_-_-_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
      { secret: `whsec_${Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '')}` }, // unpadded: Python's base64 refuses it
      // A custom header the auth writes too: the auth's would silently replace it on every try.
      { auth: { kind: 'bearer', token: 't' }, custom_headers: { Authorization: 'x' } }, { auth: { kind: 'basic', username: 'u', password: 'p' }, custom_headers: { authorization: 'x' } },
      { auth: { kind: 'header', name: 'X-Key', value: 'k' }, custom_headers: { 'x-key': 'other' } },
      { auth: { kind: 'kore_jwt', client_id: 'cs-1', client_secret: 'kore-client-secret-0123456789' }, custom_headers: { Auth: 'x' } },
    ]) expectError(await raw('POST', '/api/endpoints', JSON.stringify({ name: 'x', url: 'http://a.example', ...bad })), 400, 'BG_ERR_VALIDATION');
    // The same through an update, whichever of the two it changes; the endpoint keeps what it had.
    const plain = await raw('POST', '/api/endpoints', JSON.stringify({ name: 'auth-vs-header', url: 'http://a.example', auth: { kind: 'bearer', token: 't' } }));
    assert.equal(plain.statusCode, 201, plain.body);
    const plainId = JSON.parse(plain.body).id;
    expectError(await raw('PATCH', `/api/endpoints/${plainId}`, JSON.stringify({ custom_headers: { Authorization: 'x' } })), 400, 'BG_ERR_VALIDATION');
    const headered = await raw('PATCH', `/api/endpoints/${plainId}`, JSON.stringify({ auth: { kind: 'none' }, custom_headers: { Authorization: 'x' } }));
    assert.equal(headered.statusCode, 200, headered.body);
    expectError(await raw('PATCH', `/api/endpoints/${plainId}`, JSON.stringify({ auth: { kind: 'bearer', token: 't' } })), 400, 'BG_ERR_VALIDATION');
    assert.deepEqual(JSON.parse((await raw('GET', `/api/endpoints/${plainId}`)).body).custom_headers, { authorization: 'x' });
    expectError(await raw('POST', '/api/endpoints', '[]'), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('POST', '/api/messages', JSON.stringify({ event_type: 'a', payload: 'text' })), 400, 'BG_ERR_VALIDATION');
    // Numbers a double cannot hold would be stored and sent changed ("the payload exactly as published"): refused.
    expectError(await raw('POST', '/api/messages', '{"event_type": "a", "payload": {"n": 12345678901234567890}}'), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('POST', '/api/messages', '{"event_type": "a", "payload": {"f": 1e400}}'), 400, 'BG_ERR_VALIDATION');
    for (const lossy of ['12345678901234567890.5', '1e-400', '1234567890123456789e0', '0.1234567890123456789']) {
      expectError(await raw('POST', '/api/messages', `{"event_type": "a", "payload": {"x": ${lossy}}}`), 400, 'BG_ERR_VALIDATION');
    }
    const exact = await raw('POST', '/api/messages', '{"event_type": "a", "payload": {"max": 9007199254740991, "big": 1e20, "far": 1.5e300, "tiny": 5e-324, "id": "12345678901234567890"}}');
    assert.equal(exact.statusCode, 202, exact.body);
    expectError(await raw('POST', '/api/messages', JSON.stringify({ event_type: 'has space', payload: {} })), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('GET', '/api/deliveries?status=lost'), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('GET', '/api/deliveries?per_page=0'), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('GET', '/api/deliveries?since=yesterday'), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('GET', '/api/messages?bogus=1'), 400, 'BG_ERR_UNKNOWN_FIELD');
    // Routes that declare no query parameters refuse them too (they were ignored: ?limit=1 listed everything).
    for (const url of ['/api/notify/feeds?limit=1', '/api/notify/types?bogus=1', '/api/producer-keys?bogus=1', '/api/endpoints/ep_x/secret/rotate?now=1']) {
      const method = url.includes('rotate') ? 'POST' : 'GET';
      const res = await raw(method, url);
      expectError(res, 400, 'BG_ERR_UNKNOWN_FIELD');
      assert.match(JSON.parse(res.body).message, /querystring has an unknown field/, url);
    }
    assert.equal((await raw('GET', '/api/notify/feeds')).statusCode, 200);
  });

  it('refuses bodies over the limit with 413 and batches over the limit with 413', async () => {
    const big = JSON.stringify({ event_type: 'a', payload: { blob: 'x'.repeat(1.1 * 1024 * 1024) } });
    expectError(await raw('POST', '/api/messages', big), 413, 'BG_ERR_PAYLOAD_TOO_LARGE');
    const batch = JSON.stringify({ messages: Array.from({ length: 1001 }, () => ({ event_type: 'a', payload: {} })) });
    expectError(await raw('POST', '/api/messages/batch', batch), 413, 'BG_ERR_BATCH_TOO_LARGE');
  });

  it('refuses other content types with 415', async () => {
    expectError(await raw('POST', '/api/messages', 'event_type=a', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'BG_ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  it('refuses a compressed body with 415 (and takes identity)', async () => {
    const { gzipSync } = await import('node:zlib');
    const body = JSON.stringify({ event_type: 'gz.test', payload: {} });
    const gz = await gw.app.inject({ method: 'POST', url: '/api/messages', payload: gzipSync(body), headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', 'content-encoding': 'gzip' } });
    expectError(gz, 415, 'BG_ERR_UNSUPPORTED_MEDIA_TYPE');
    assert.match(JSON.parse(gz.body).message, /Content-Encoding/);
    assert.equal((await raw('POST', '/api/messages', body, { 'content-encoding': 'identity' })).statusCode, 202);
  });

  it('answers unknown ids and routes with 404', async () => {
    expectError(await raw('GET', '/api/endpoints/ep_nope'), 404, 'BG_ERR_ENDPOINT_NOT_FOUND');
    expectError(await raw('PATCH', '/api/endpoints/ep_nope', '{"name":"y"}'), 404, 'BG_ERR_ENDPOINT_NOT_FOUND');
    expectError(await raw('DELETE', '/api/endpoints/ep_nope'), 404, 'BG_ERR_ENDPOINT_NOT_FOUND');
    expectError(await raw('POST', '/api/endpoints/ep_nope/enable'), 404, 'BG_ERR_ENDPOINT_NOT_FOUND');
    expectError(await raw('POST', '/api/endpoints/ep_nope/test'), 404, 'BG_ERR_ENDPOINT_NOT_FOUND');
    expectError(await raw('POST', '/api/endpoints/ep_nope/secret/rotate'), 404, 'BG_ERR_ENDPOINT_NOT_FOUND');
    expectError(await raw('POST', '/api/endpoints/ep_nope/recover', JSON.stringify({ since: new Date().toISOString() })), 404, 'BG_ERR_ENDPOINT_NOT_FOUND');
    expectError(await raw('GET', '/api/messages/msg_nope'), 404, 'BG_ERR_MESSAGE_NOT_FOUND');
    expectError(await raw('GET', '/api/deliveries/dlv_nope'), 404, 'BG_ERR_DELIVERY_NOT_FOUND');
    expectError(await raw('GET', '/api/deliveries/dlv_nope/attempts'), 404, 'BG_ERR_DELIVERY_NOT_FOUND');
    expectError(await raw('GET', '/api/jobs/job_nope'), 404, 'BG_ERR_JOB_NOT_FOUND');
    expectError(await raw('POST', '/api/messages', JSON.stringify({ event_type: 'a', payload: {}, endpoint_ids: ['ep_nope'] })), 404, 'BG_ERR_ENDPOINT_NOT_FOUND');
    expectError(await raw('GET', '/nowhere'), 404, 'BG_ERR_ROUTE_NOT_FOUND');
    expectError(await raw('GET', '/api/messagez'), 404, 'BG_ERR_ROUTE_NOT_FOUND');
    expectError(await raw('GET', '/api/endpoints/ep_x/nowhere'), 404, 'BG_ERR_ROUTE_NOT_FOUND');
  });

  it('answers a known path under a method it does not take with 405 and the methods it takes', async () => {
    const put = await raw('PUT', '/api/messages');
    expectError(put, 405, 'BG_ERR_METHOD_NOT_ALLOWED');
    assert.equal(put.headers.allow, 'GET, HEAD, POST');
    // Paths with parameters, and HEAD that Fastify adds for each GET.
    const post = await raw('POST', '/api/endpoints/ep_nope');
    expectError(post, 405, 'BG_ERR_METHOD_NOT_ALLOWED');
    assert.equal(post.headers.allow, 'DELETE, GET, HEAD, PATCH');
    const options = await raw('OPTIONS', '/healthz');
    expectError(options, 405, 'BG_ERR_METHOD_NOT_ALLOWED');
    assert.equal(options.headers.allow, 'GET, HEAD');
    // Unauthenticated, too: the route table is public (/openapi.json); nothing behind the token is revealed.
    const anonymous = await gw.app.inject({ method: 'DELETE', url: '/api/messages' });
    assert.equal(anonymous.statusCode, 405);
  });

  it('validates optional bodies like any other: wrong types, short secrets, unknown fields are 400, no body is fine', async () => {
    const app = JSON.parse((await raw('POST', '/api/apps', JSON.stringify({ name: 'opt-body' }))).body);
    const endpoint = JSON.parse((await raw('POST', '/api/endpoints', JSON.stringify({ name: 'opt-body', url: 'http://127.0.0.1:9/x' }))).body);
    const rotate = `/api/apps/${app.client_id}/secret/rotate`;
    expectError(await raw('POST', rotate, JSON.stringify({ client_secret: 'a' })), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('POST', rotate, JSON.stringify({ client_secret: 5 })), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('POST', rotate, JSON.stringify({ bogus: 1 })), 400, 'BG_ERR_UNKNOWN_FIELD');
    expectError(await raw('POST', rotate, '[1]'), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('POST', `/api/endpoints/${endpoint.id}/secret/rotate`, JSON.stringify({ secret: 5 })), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('POST', `/api/endpoints/${endpoint.id}/test`, JSON.stringify({ event_type: { a: 1 } })), 400, 'BG_ERR_VALIDATION');
    assert.equal((await raw('POST', rotate)).statusCode, 200, 'no body: a generated secret');
    assert.equal((await raw('POST', rotate, JSON.stringify({ client_secret: 'a-long-enough-secret-0123' }))).statusCode, 200);
  });

  it('refuses a page past any data, and times Date cannot read (leap seconds), with 400', async () => {
    for (const page of ['99999999999999999999', '1e300', '1e17']) expectError(await raw('GET', `/api/endpoints?page=${page}&per_page=1000`), 400, 'BG_ERR_VALIDATION');
    assert.equal((await raw('GET', '/api/endpoints?page=1000000')).statusCode, 200);
    expectError(await raw('GET', '/api/deliveries?since=2016-12-31T23:59:60Z'), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('GET', '/api/notify/stats?since=2016-12-31T23:59:60Z'), 400, 'BG_ERR_VALIDATION');
  });

  it('refuses NUL (U+0000) in body strings, keys, paths and queries with 400: no store can keep it in text', async () => {
    expectError(await raw('POST', '/api/endpoints', JSON.stringify({ name: 'a\u0000b', url: 'http://a.example' })), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('POST', '/api/messages', JSON.stringify({ event_type: 'a', payload: {}, idempotency_key: 'k\u0000' })), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('POST', '/api/messages', JSON.stringify({ event_type: 'a', payload: { ['x\u0000']: 1 } })), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('PUT', '/api/users/u%00x', JSON.stringify({ tz: 'UTC' })), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('GET', '/api/deliveries?endpoint_id=ep%00'), 400, 'BG_ERR_VALIDATION');
    // An escaped backslash before u0000 is text, not NUL.
    assert.equal((await raw('POST', '/api/messages', JSON.stringify({ event_type: 'a', payload: { text: '\\u0000' } }))).statusCode, 202);
  });

  it('refuses bodies nested too deep and strings with an unpaired surrogate with 400, not a 500 or a changed id', async () => {
    const deep = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
    for (const url of ['/api/messages', '/api/notify/feeds']) {
      expectError(await raw('POST', url, `{"event_type":"a","payload":${deep(5000)}}`), 400, 'BG_ERR_VALIDATION');
    }
    expectError(await raw('POST', '/api/messages', JSON.stringify({ event_type: 'a', payload: { text: 'x\ud800' } })), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('POST', '/api/messages', JSON.stringify({ event_type: 'a', payload: { ['k\udfff']: 1 } })), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('PUT', '/api/users/u1', JSON.stringify({ identities: [{ kind: 'email', id: 'a\udbff@example.com' }] })), 400, 'BG_ERR_VALIDATION');
    // Bytes that are not UTF-8 likewise (decoded, "u\xff" and "u\xfe" would both be "u\ufffd").
    const notUtf8 = Buffer.concat([Buffer.from('{"event_type":"a","payload":{"user":"u'), Buffer.from([0xff]), Buffer.from('"}}')]);
    expectError(await gw.app.inject({ method: 'POST', url: '/api/messages', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, payload: notUtf8 }), 400, 'BG_ERR_VALIDATION');
    // Nesting up to the limit, brackets inside strings and paired surrogates (an emoji) are fine.
    assert.equal((await raw('POST', '/api/messages', `{"event_type":"a","payload":${deep(98)}}`)).statusCode, 202);
    assert.equal((await raw('POST', '/api/messages', JSON.stringify({ event_type: 'a', payload: { text: '{['.repeat(500) + '\ud83d\ude00' } }))).statusCode, 202);
  });

  it('checks a long number in time linear in its length: zeros between its digits do not stall the event loop', async () => {
    // 0.1, 100,000 zeros, 1: a double cannot hold it (400), and saying so took seconds (a regular expression that
    // backtracked over every zero from every zero), with every other request waiting.
    const zeros = '0'.repeat(100_000);
    assert.equal((await raw('POST', '/api/messages', '{"event_type": "a", "payload": {"x": 0.5}}')).statusCode, 202);
    const started = performance.now();
    expectError(await raw('POST', '/api/messages', `{"event_type": "a", "payload": {"x": 0.1${zeros}1}}`), 400, 'BG_ERR_VALIDATION');
    assert.equal((await raw('POST', '/api/messages', `{"event_type": "a", "payload": {"x": 0.1${zeros}}}`)).statusCode, 202);
    const ms = performance.now() - started;
    assert.ok(ms < 1500, `${Math.round(ms)} ms`);
  });

  it('takes a path of many slashes in time linear in its length, before any credential is checked', async () => {
    // The trailing slashes of an API path are cut before routing: a regular expression backtracking over every slash
    // of a 16 KB run (what a request line may hold) took a third of a second per unauthenticated request.
    assert.equal((await gw.app.inject({ url: '/api/x/' })).statusCode, 404);
    const started = performance.now();
    const res = await gw.app.inject({ url: `/api/${'/'.repeat(40_000)}x/` });
    const ms = performance.now() - started;
    assert.equal(res.statusCode, 404, res.body);
    assert.ok(ms < 500, `${Math.round(ms)} ms`);
    assert.equal((await raw('GET', '/api/endpoints///')).statusCode, 200);
  });

  it('refuses a cursor that is no id of the list it pages with 400 (one compared as text came back empty or as everything)', async () => {
    for (const url of ['/api/messages', '/api/deliveries', '/api/endpoints', '/api/conversations', '/api/notify/decisions']) {
      expectError(await raw('GET', `${url}?cursor=garbage`), 400, 'BG_ERR_VALIDATION');
    }
    assert.equal((await raw('GET', '/api/messages?cursor=msg_0')).statusCode, 200);
  });

  it('refuses cursor and page together on every list (the cursor was used while the answer said the page given); a cursor\'s page has no number', async () => {
    const agentToken = (await gw.api('POST', '/api/agents', { name: 'paging-agent' })).body.token;
    const lists = [
      ['/api/messages', 'msg'], ['/api/deliveries', 'dlv'], ['/api/endpoints', 'ep'], ['/api/conversations', 'conv'],
      ['/api/notify/decisions', 'dec'], ['/api/agents', 'agt'], ['/api/handoffs', 'hof'], ['/api/apps', 'app'],
      ['/api/webhook/messages', 'msg'], ['/api/agent/sessions', 'hof'],
    ];
    for (const [url, prefix] of lists) {
      const headers: Record<string, string> = url.startsWith('/api/agent/') ? { authorization: `Bearer ${agentToken}` } : {};
      for (const page of [1, 2]) {
        const res = await raw('GET', `${url}?cursor=${prefix}_0&page=${page}`, undefined, headers);
        expectError(res, 400, 'BG_ERR_VALIDATION');
        assert.equal(JSON.parse(res.body).message, 'querystring: use cursor or page, not both', url);
      }
      // A page found by cursor has no page number: it claimed page 1 wherever the cursor pointed.
      const cursored = await raw('GET', `${url}?cursor=${prefix}_0`, undefined, headers);
      assert.equal(cursored.statusCode, 200, url);
      assert.equal(JSON.parse(cursored.body).page, null, url);
      const paged = await raw('GET', `${url}?page=2`, undefined, headers);
      assert.equal(paged.statusCode, 200, url);
      assert.equal(JSON.parse(paged.body).page, 2, url);
      assert.equal(JSON.parse((await raw('GET', url, undefined, headers)).body).page, 1, url);
    }
  });

  it('refuses a reversed or empty time window on the lists that take since and until, as recover does (it answered an empty 200)', async () => {
    for (const url of ['/api/messages', '/api/deliveries']) {
      for (const [since, until] of [['2024-01-02T00:00:00Z', '2024-01-01T00:00:00Z'], ['2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z']]) {
        const res = await raw('GET', `${url}?since=${since}&until=${until}`);
        expectError(res, 400, 'BG_ERR_VALIDATION');
        assert.equal(JSON.parse(res.body).message, 'querystring.since must be before querystring.until', url);
      }
      assert.equal((await raw('GET', `${url}?since=2024-01-01T00:00:00Z&until=2024-01-01T00:00:00.001Z`)).statusCode, 200, url);
      assert.equal((await raw('GET', `${url}?since=2024-01-02T00:00:00Z`)).statusCode, 200, url);
      assert.equal((await raw('GET', `${url}?until=2024-01-01T00:00:00Z`)).statusCode, 200, url);
    }
    // The same code recover answers a reversed window with.
    const endpoint = (await gw.api('POST', '/api/endpoints', { name: 'window', url: 'https://window.example/hooks' })).body.id;
    const recover = await raw('POST', `/api/endpoints/${endpoint}/recover`, JSON.stringify({ since: '2024-01-02T00:00:00Z', until: '2024-01-01T00:00:00Z' }));
    expectError(recover, 400, 'BG_ERR_VALIDATION');
  });

  it('names the allowed values when a filter is none of them (the sessions lists, deliveries)', async () => {
    const agentToken = (await gw.api('POST', '/api/agents', { name: 'filter-agent' })).body.token;
    const cases = [
      { url: '/api/agent/sessions?status=open', token: agentToken, allowed: 'waiting, active, closed' },
      { url: '/api/handoffs?status=done', token: ADMIN_TOKEN, allowed: 'waiting, active, closed' },
      { url: '/api/deliveries?status=ok', token: ADMIN_TOKEN, allowed: 'pending, sending, sent, failed' },
    ];
    for (const { url, token, allowed } of cases) {
      const res = await raw('GET', url, undefined, { authorization: `Bearer ${token}` });
      assert.deepEqual(JSON.parse(res.body), { statusCode: 400, code: 'BG_ERR_VALIDATION', message: `querystring.status must be one of ${allowed}` }, url);
    }
  });

  it('answers a bad URL or an over-long path segment with 400 in the API shape', async () => {
    expectError(await raw('GET', '/api/endpoints/%FF'), 400, 'BG_ERR_VALIDATION');
    expectError(await raw('GET', `/api/agents/${'x'.repeat(501)}`), 400, 'BG_ERR_VALIDATION');
    // A user id may be 200 characters: its routes reach the handler.
    expectError(await raw('GET', `/api/users/${'u'.repeat(200)}`), 404, 'BG_ERR_USER_NOT_FOUND');
  });

  it('refuses a body that says something on every route that takes none, in the API shape; none, null or {} is none', async () => {
    await gw.app.ready();
    const paths = (gw.app.swagger() as { paths: Record<string, Record<string, { requestBody?: unknown }>> }).paths;
    const bodyless = Object.entries(paths).flatMap(([path, ops]) => Object.entries(ops)
      .filter(([method, op]) => ['post', 'put', 'patch', 'delete'].includes(method) && !op.requestBody && path.startsWith('/api/') && !path.startsWith('/api/webhook/incoming') && !path.startsWith('/api/webhook/twilio'))
      .map(([method]) => [method.toUpperCase(), path.replace(/\{[^}]+\}/g, 'x_nope')] as const));
    assert.ok(bodyless.some(([m, p]) => m === 'POST' && p === '/api/endpoints/x_nope/enable'));
    assert.ok(bodyless.some(([m, p]) => m === 'DELETE' && p === '/api/webhook/config/x_nope'));
    for (const [method, url] of bodyless) {
      expectError(await raw(method, url, '{"reason": "typo"}'), 400, 'BG_ERR_UNKNOWN_FIELD');
      expectError(await raw(method, url, '[1]'), 400, 'BG_ERR_VALIDATION');
      expectError(await raw(method, url, '"x"'), 400, 'BG_ERR_VALIDATION');
      expectError(await raw(method, url, '{a'), 400, 'BG_ERR_INVALID_JSON');
      expectError(await raw(method, url, '<a/>', { 'content-type': 'application/xml' }), 415, 'BG_ERR_UNSUPPORTED_MEDIA_TYPE');
      for (const none of [undefined, 'null', '{}']) {
        const res = await raw(method, url, none);
        assert.ok(res.statusCode === 404 || res.statusCode === 400, `${method} ${url} ${none} → ${res.statusCode} ${res.body}`);
        assert.doesNotMatch(JSON.parse(res.body).message, /takes no body/);
      }
    }
    // The admin routes under /api/webhook/ refuse unknown query parameters too (only inbound webhooks take any).
    expectError(await raw('GET', '/api/webhook/config?bogus=1'), 400, 'BG_ERR_UNKNOWN_FIELD');
    // A GET's body is never read.
    assert.equal((await raw('GET', '/api/endpoints', '{"reason": "typo"}')).statusCode, 200);
  });

  it('answers a name taken with 409, also when the store is the one to notice', async () => {
    const feed = { name: 'twice', cron: '0 9 * * *', event_type: 'digest_daily', user_ids: [] };
    assert.equal((await raw('POST', '/api/notify/feeds', JSON.stringify(feed))).statusCode, 201);
    expectError(await raw('POST', '/api/notify/feeds', JSON.stringify(feed)), 409, 'BG_ERR_CONFLICT');
  });

  it('never answers 500 to a fuzzed body', async () => {
    const samples = ['null', 'true', '1', '"s"', '{"__proto__": {"x": 1}}', '{"constructor": {"prototype": {}}}', '{"name": null, "url": null}', '{"name": "x", "url": "http://a.example", "retry_schedule": [-1]}', '{"name": "x", "url": "http://a.example", "custom_headers": {"bad header": "x"}}', '{"name": "x", "url": "http://a.example", "custom_headers": {"x": "a\\r\\nb"}}', '\u0000', '{"name": "' + 'n'.repeat(300) + '", "url": "http://a"}'];
    for (const body of samples) {
      for (const url of ['/api/endpoints', '/api/messages', '/api/messages/batch']) {
        const res = await raw('POST', url, body);
        assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${url} ${body.slice(0, 40)} → ${res.statusCode} ${res.body}`);
      }
    }
  });
});
