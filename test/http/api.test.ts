// The management API: endpoints CRUD and paging, idempotent publishing, history, docs, metrics, health, and
// secrets that never reach the logs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

describe('management API', () => {
  let gw: TestGateway;
  const logLines: string[] = [];
  before(async () => {
    const sink = new Writable({ write(chunk, _enc, done) { logLines.push(String(chunk)); done(); } });
    gw = await startTestGateway({ BOTGATE_METRICS_TOKEN: 'metrics-secret-1' }, { start: false, logger: pino({ level: 'trace' }, sink) });
  });
  after(async () => {
    await gw.close();
  });

  it('creates, lists with paging, updates and deletes endpoints; secrets are shown once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await gw.api('POST', '/api/endpoints', { name: `e${i}`, url: `https://hooks.example.com/${i}`, provider: i === 0 ? 'zendesk' : null, auth: { kind: 'basic', username: 'u', password: 'pass-word-secret' } });
      assert.equal(res.status, 201);
      assert.match(res.body.secret, /^whsec_[A-Za-z0-9+/=]{32,}$/);
      assert.deepEqual(res.body.auth, { kind: 'basic', username: 'u' });
      assert.equal(res.body.signing, true);
      assert.equal(res.body.timeout_seconds, 15);
      ids.push(res.body.id);
    }
    const first = await gw.api('GET', '/api/endpoints?per_page=2');
    assert.deepEqual(first.body.data.map((e: { id: string }) => e.id), [ids[2], ids[1]]);
    assert.equal(first.body.next_cursor, ids[1]);
    const second = await gw.api('GET', `/api/endpoints?per_page=2&cursor=${first.body.next_cursor}`);
    assert.deepEqual(second.body.data.map((e: { id: string }) => e.id), [ids[0]]);
    assert.equal(second.body.next_cursor, null);
    assert.equal((await gw.api('GET', '/api/endpoints?per_page=2&page=2')).body.data[0].id, ids[0]);
    // A cursor is checked to be an id of the list's kind, not a row's: the list goes on after where it sorts.
    const idsOf = async (cursor: string) => (await gw.api('GET', `/api/endpoints?cursor=${cursor}`)).body.data.map((e: { id: string }) => e.id);
    assert.deepEqual(await idsOf(`ep_${'z'.repeat(26)}`), [ids[2], ids[1], ids[0]]);
    assert.deepEqual(await idsOf(`${ids[1]}0`), [ids[1], ids[0]]);
    assert.deepEqual(await idsOf('ep_0'), []);
    assert.equal((await gw.api('GET', '/api/endpoints?provider=zendesk')).body.data.length, 1);
    const patched = await gw.api('PATCH', `/api/endpoints/${ids[0]}`, { name: 'renamed', event_types: ['a.b'], is_active: false });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.name, 'renamed');
    assert.equal(patched.body.is_active, false);
    assert.equal((await gw.api('GET', '/api/endpoints?is_active=false')).body.data.length, 1);
    assert.equal((await gw.api('DELETE', `/api/endpoints/${ids[2]}`)).status, 204);
    assert.equal((await gw.api('GET', `/api/endpoints/${ids[2]}`)).status, 404);
    const all = JSON.stringify((await gw.api('GET', '/api/endpoints')).body);
    assert.ok(!all.includes('whsec_') && !all.includes('pass-word-secret'));
  });

  it('publishes idempotently: the same key within 24 h returns the original answer and creates nothing', async () => {
    const ep = (await gw.api('POST', '/api/endpoints', { name: 'idem', url: 'https://hooks.example.com/i', event_types: ['idem.test'] })).body;
    const first = await gw.api('POST', '/api/messages', { event_type: 'idem.test', payload: { a: 1 }, endpoint_ids: [ep.id] }, { 'idempotency-key': 'key-1' });
    assert.equal(first.status, 202);
    assert.equal(first.body.delivery_ids.length, 1);
    const again = await gw.api('POST', '/api/messages', { event_type: 'idem.test', payload: { a: 2 } }, { 'idempotency-key': 'key-1' });
    assert.deepEqual(again.body, first.body);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    const viaBody = await gw.api('POST', '/api/messages', { event_type: 'idem.test', payload: { a: 3 }, idempotency_key: 'key-1' });
    assert.equal(viaBody.body.id, first.body.id);
    const list = await gw.api('GET', `/api/deliveries?endpoint_id=${ep.id}`);
    assert.equal(list.body.data.length, 1, 'no second delivery');
    const batch = await gw.api('POST', '/api/messages/batch', { messages: [{ event_type: 'idem.test', payload: {}, idempotency_key: 'key-1' }, { event_type: 'idem.test', payload: { b: 1 }, idempotency_key: 'key-2' }] });
    assert.equal(batch.status, 202);
    assert.equal(batch.body.messages[0].id, first.body.id);
    assert.notEqual(batch.body.messages[1].id, first.body.id);
    const message = await gw.api('GET', `/api/messages/${first.body.id}`);
    assert.deepEqual(message.body.payload, { a: 1 });
    assert.equal(message.body.deliveries.length, 1);
    assert.equal(message.body.deliveries[0].status, 'pending');
    assert.equal((await gw.api('GET', `/api/messages?event_type=idem.test`)).body.data.length, 2);
    assert.equal((await gw.api('GET', `/api/messages?endpoint_id=${ep.id}&since=${new Date(Date.now() - 60_000).toISOString()}`)).body.data.length, 2);
    assert.equal((await gw.api('GET', `/api/deliveries?event_type=idem.test&status=pending&provider=nobody`)).body.data.length, 0);
  });

  it('refuses to publish an event type botgate publishes itself, naming the field, and stores nothing', async () => {
    const ep = (await gw.api('POST', '/api/endpoints', { name: 'ops watcher', url: 'https://hooks.example.com/ops', event_types: ['endpoint.disabled', 'message.attempt.exhausted', 'handoff.*'] })).body;
    for (const type of ['endpoint.disabled', 'message.attempt.exhausted', 'handoff.requested', 'handoff.closed', 'platform.message', 'kore.message', 'twilio.message', 'notification.sent', 'message.received']) {
      const one = await gw.api('POST', '/api/messages', { event_type: type, payload: { endpoint_id: 'ep_forged' } });
      assert.equal(one.status, 400, `${type}: ${JSON.stringify(one.body)}`);
      assert.equal(one.body.code, 'BG_ERR_EVENT_TYPE_RESERVED');
      assert.match(one.body.message, new RegExp(`^body\\.event_type: ${type.replaceAll('.', '\\.')} is published by botgate`));
    }
    const batch = await gw.api('POST', '/api/messages/batch', { messages: [{ event_type: 'fine.type', payload: {} }, { event_type: 'endpoint.disabled', payload: {} }] });
    assert.equal(batch.status, 400);
    assert.equal(batch.body.code, 'BG_ERR_EVENT_TYPE_RESERVED');
    assert.match(batch.body.message, /^body\.messages\.1\.event_type/);
    assert.deepEqual((await gw.api('GET', '/api/messages?event_type=fine.type')).body.data, [], 'the batch stored nothing');
    assert.deepEqual((await gw.api('GET', `/api/deliveries?endpoint_id=${ep.id}`)).body.data, []);
    // Types that only look alike are the caller's own.
    assert.equal((await gw.api('POST', '/api/messages', { event_type: 'endpoint.disabled.mine', payload: {} })).status, 202);
    assert.equal((await gw.api('POST', '/api/messages', { event_type: 'handoff', payload: {} })).status, 202);
  });

  it('publishes a batch idempotently under an Idempotency-Key: a retry gets the original answer and stores nothing', async () => {
    const ep = (await gw.api('POST', '/api/endpoints', { name: 'idem-batch', url: 'https://hooks.example.com/b', event_types: ['idem.batch'] })).body;
    const items = [{ event_type: 'idem.batch', payload: { n: 0 } }, { event_type: 'idem.batch', payload: { n: 1 }, idempotency_key: 'own-key' }];
    const first = await gw.api('POST', '/api/messages/batch', { messages: items }, { 'idempotency-key': 'batch-1' });
    assert.equal(first.status, 202);
    assert.equal(first.headers['idempotent-replayed'], 'false');
    const again = await gw.api('POST', '/api/messages/batch', { messages: items }, { 'idempotency-key': 'batch-1' });
    assert.deepEqual(again.body, first.body);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal((await gw.api('GET', `/api/deliveries?endpoint_id=${ep.id}`)).body.data.length, 2, 'no second deliveries');
    // An item's own key stays its key; another batch key is another batch; a single publish never meets a batch's keys.
    const single = await gw.api('POST', '/api/messages', { event_type: 'idem.batch', payload: {}, idempotency_key: 'own-key' });
    assert.equal(single.body.id, first.body.messages[1].id);
    const other = await gw.api('POST', '/api/messages/batch', { messages: [items[0]] }, { 'idempotency-key': 'batch-2' });
    assert.notEqual(other.body.messages[0].id, first.body.messages[0].id);
    const lookalike = await gw.api('POST', '/api/messages', { event_type: 'idem.batch', payload: {} }, { 'idempotency-key': 'batch-1:0' });
    assert.notEqual(lookalike.body.id, first.body.messages[0].id);
    assert.equal((await gw.api('POST', '/api/messages/batch', { messages: items }, { 'idempotency-key': 'x'.repeat(201) })).status, 400);
  });

  it('serves the OpenAPI document, the docs page, health and readiness', async () => {
    const spec = await gw.app.inject({ url: '/openapi.json' });
    assert.equal(spec.statusCode, 200);
    const doc = JSON.parse(spec.body);
    for (const path of ['/api/endpoints', '/api/endpoints/{id}', '/api/messages', '/api/messages/batch', '/api/deliveries', '/api/deliveries/{id}/attempts', '/api/deliveries/{id}/resend', '/api/endpoints/{id}/recover', '/api/jobs/{id}', '/healthz', '/readyz', '/metrics']) {
      assert.ok(doc.paths[path], `${path} documented`);
    }
    assert.ok(doc.paths['/api/endpoints'].post.requestBody);
    // What the server answers besides 200 is documented, in the media type it sends.
    assert.ok(doc.paths['/api/bots'].get.responses['401'], 'GET /api/bots 401');
    assert.ok(doc.paths['/r/{token}'].get.responses['302'], 'a tracked link redirects');
    assert.ok(doc.paths['/chatbot/hooks/{botId}'].post.responses['415'], 'a Kore hook refuses a body that is not JSON');
    assert.deepEqual(Object.keys(doc.paths['/metrics'].get.responses['200'].content), ['text/plain']);
    const docs = await gw.app.inject({ url: '/docs/' });
    assert.equal(docs.statusCode, 200);
    assert.match(docs.body, /swagger/i);
    assert.deepEqual(JSON.parse((await gw.app.inject({ url: '/healthz' })).body), { status: 'ok' });
    // Not ready until provisioning is done and the workers run.
    const starting = await gw.app.inject({ url: '/readyz' });
    assert.equal(starting.statusCode, 503);
    assert.equal(JSON.parse(starting.body).code, 'BG_ERR_NOT_READY');
    await gw.start();
    assert.deepEqual(JSON.parse((await gw.app.inject({ url: '/readyz' })).body), { status: 'ready' });
  });

  it('answers /readyz 503 when the store does not answer without telling an unauthenticated caller what the driver said, and logs that', async () => {
    const ping = gw.store.ping;
    gw.store.ping = async () => {
      throw new Error('password authentication failed for user "botgate" at db.internal.example:5432');
    };
    try {
      const res = await gw.app.inject({ url: '/readyz' });
      assert.equal(res.statusCode, 503);
      const body = JSON.parse(res.body);
      assert.equal(body.code, 'BG_ERR_NOT_READY');
      assert.doesNotMatch(body.message, /password|botgate"|db\.internal/);
      assert.ok(logLines.some((line) => line.includes('db.internal.example')), 'the cause is in the log');
    } finally {
      gw.store.ping = ping;
    }
    assert.equal((await gw.app.inject({ url: '/readyz' })).statusCode, 200);
  });

  it('answers GET /api (and /api/) with an index: a link to each collection, the OpenAPI document and the docs page', async () => {
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const index = await gw.app.inject({ url: '/api', headers: admin });
    assert.equal(index.statusCode, 200, index.body);
    const body = JSON.parse(index.body) as { docs: string; openapi: string; collections: Record<string, string> };
    assert.deepEqual(JSON.parse((await gw.app.inject({ url: '/api/', headers: admin })).body), body);
    const base = gw.publicBase();
    assert.equal(body.docs, `${base}/docs`);
    assert.equal(body.openapi, `${base}/openapi.json`);
    for (const name of ['endpoints', 'messages', 'deliveries', 'apps', 'bots', 'conversations', 'agents', 'producer-keys', 'notify/decisions', 'webhook/config']) {
      assert.equal(body.collections[name], `${base}/api/${name}`, name);
    }
    // Every link answers, and what the OpenAPI document lists as a collection is in the index.
    for (const url of [body.docs, body.openapi, ...Object.values(body.collections)]) {
      const res = await gw.app.inject({ url: url.slice(base.length), headers: admin });
      assert.ok(res.statusCode === 200 || (url === body.docs && res.statusCode === 302), `${url}: ${res.statusCode}`);
    }
    const spec = JSON.parse((await gw.app.inject({ url: '/openapi.json' })).body) as { paths: Record<string, { get?: { security?: unknown[] } }> };
    const listed = Object.entries(spec.paths).filter(([path, ops]) => path.startsWith('/api/') && !path.includes('{') && ops.get && ops.get.security === undefined).map(([path]) => path.slice('/api/'.length));
    assert.deepEqual(listed.filter((name) => name !== '' && !body.collections[name]), []);
    assert.equal((await gw.app.inject({ url: '/api' })).statusCode, 401);
  });

  it('takes a trailing slash on an API path as the path without it: /api/endpoints/ is the collection, as /api/ is the index', async () => {
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const index = JSON.parse((await gw.app.inject({ url: '/api', headers: admin })).body) as { collections: Record<string, string> };
    for (const name of Object.keys(index.collections)) {
      const plain = await gw.app.inject({ url: `/api/${name}`, headers: admin });
      const slashed = await gw.app.inject({ url: `/api/${name}/`, headers: admin });
      assert.equal(slashed.statusCode, plain.statusCode, `/api/${name}/: ${slashed.body}`);
      assert.equal(slashed.statusCode, 200, `/api/${name}/: ${slashed.body}`);
    }
    const created = await gw.app.inject({ method: 'POST', url: '/api/endpoints/', headers: admin, payload: { name: 'slashed', url: 'https://hooks.example.com/slashed' } });
    assert.equal(created.statusCode, 201, created.body);
    const id = JSON.parse(created.body).id as string;
    assert.equal(JSON.parse((await gw.app.inject({ url: `/api/endpoints/${id}/`, headers: admin })).body).id, id);
    const page = await gw.app.inject({ url: '/api/endpoints/?per_page=1', headers: admin });
    assert.equal(page.statusCode, 200, page.body);
    assert.equal(JSON.parse((await gw.app.inject({ url: '/api/endpoints/ep_nope/', headers: admin })).body).code, 'BG_ERR_ENDPOINT_NOT_FOUND');
    // Only API paths: the docs page answers as before, with and without the slash (test/browser loads it).
    for (const url of ['/docs', '/docs/']) assert.match((await gw.app.inject({ url })).body, /swagger-ui\.css/, url);
  });

  it('documents the 400 every API route answers to an unknown query parameter, also where the route names no 400 itself', async () => {
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const doc = JSON.parse((await gw.app.inject({ url: '/openapi.json' })).body) as { paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown[] }>> };
    const undocumented: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      if (!path.startsWith('/api/')) continue;
      for (const [method, op] of Object.entries(ops)) {
        if (!op.responses['400']) undocumented.push(`${method.toUpperCase()} ${path}`);
        if (op.security !== undefined || path.startsWith('/api/webhook/incoming') || path.startsWith('/api/webhook/twilio')) continue;
        // Admin routes: whatever the id, the unknown parameter (or, first, a missing body) is refused before the handler runs.
        const res = await gw.app.inject({ method: method.toUpperCase() as 'GET', url: `${path.replace(/\{[^}]+\}/g, 'x')}?no_such_parameter=1`, headers: admin });
        assert.equal(res.statusCode, 400, `${method.toUpperCase()} ${path}: ${res.body}`);
      }
    }
    assert.deepEqual(undocumented, []);
  });

  it('documents a request body the route may go without as not required (actions such as secret/rotate, test, close)', async () => {
    const doc = JSON.parse((await gw.app.inject({ url: '/openapi.json' })).body) as { paths: Record<string, Record<string, { requestBody?: { required?: boolean } }>> };
    for (const path of ['/api/endpoints/{id}/secret/rotate', '/api/endpoints/{id}/test', '/api/agents/{id}/token/rotate', '/api/agent/sessions/{id}/close']) {
      assert.equal(doc.paths[path].post.requestBody?.required, false, path);
    }
    for (const path of ['/api/endpoints', '/api/messages', '/api/endpoints/{id}/recover']) assert.equal(doc.paths[path].post.requestBody?.required, true, path);
    // As documented: the body-less call is taken.
    const ep = await gw.api('POST', '/api/endpoints', { name: 'no-body', url: 'https://hooks.example.com/nb' });
    const rotated = await gw.app.inject({ method: 'POST', url: `/api/endpoints/${ep.body.id}/secret/rotate`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(rotated.statusCode, 200, rotated.body);
  });

  it('exposes Prometheus metrics behind the metrics token', async () => {
    assert.equal((await gw.app.inject({ url: '/metrics' })).statusCode, 401);
    const openapi = JSON.parse((await gw.app.inject({ url: '/openapi.json' })).body);
    assert.deepEqual(openapi.paths['/metrics'].get.security, [{ metricsToken: [] }], 'documented as protected when metrics_token is set');
    const res = await gw.app.inject({ url: '/metrics', headers: { authorization: 'Bearer metrics-secret-1' } });
    assert.equal(res.statusCode, 200);
    for (const name of ['botgate_deliveries{status="pending"}', 'botgate_delivery_queue_depth', 'botgate_delivery_oldest_pending_age_seconds', 'botgate_delivery_attempt_duration_seconds', 'botgate_messages_published_total']) {
      assert.ok(res.body.includes(name), name);
    }
  });

  it('documents /metrics without a 401 when no metrics_token is set: it is open, and never answers 401', async () => {
    assert.ok(JSON.parse((await gw.app.inject({ url: '/openapi.json' })).body).paths['/metrics'].get.responses['401'], 'with the token: 401 documented');
    const open = await startTestGateway({}, { start: false });
    try {
      assert.equal((await open.app.inject({ url: '/metrics', headers: { authorization: 'Bearer wrong' } })).statusCode, 200);
      const metrics = JSON.parse((await open.app.inject({ url: '/openapi.json' })).body).paths['/metrics'].get;
      assert.deepEqual(metrics.security, []);
      assert.deepEqual(Object.keys(metrics.responses), ['200']);
    } finally {
      await open.close();
    }
  });

  it('documents the 409 of recovering through a disabled endpoint and of deleting a channel or platform config whose endpoint an event type uses', async () => {
    const doc = JSON.parse((await gw.app.inject({ url: '/openapi.json' })).body) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    const file = join(mkdtempSync(join(tmpdir(), 'botgate-api-')), 'bot.yaml');
    writeFileSync(file, 'id: conflicts\nname: Conflicts\nintents:\n  hi: [hi]\nflows:\n  hi:\n    message: [Hello]\n    next_state: end\n');
    assert.equal((await gw.api('POST', '/api/bots', { file })).status, 201);
    const app = await gw.api('POST', '/api/apps', { name: 'conflicts-app' });
    const channel = await gw.api('POST', '/api/bots/conflicts/channels', { name: 'conflicts-async', mode: 'async', app_id: app.body.client_id, post_url: 'https://kore.example.com/post', access_token: 'access-token-1' });
    const platform = await gw.api('POST', '/api/webhook/config', { name: 'conflicts-platform', bot: 'conflicts', outgoing_webhook_url: 'https://hooks.example.com/p' });
    assert.equal((await gw.api('PUT', '/api/notify/types/low_balance', { endpoint_id: channel.body.endpoint_id })).status, 200);
    assert.equal((await gw.api('PUT', '/api/notify/types/trial_expiring', { endpoint_id: platform.body.endpoint_id })).status, 200);
    const ep = await gw.api('POST', '/api/endpoints', { name: 'recover-disabled', url: 'https://hooks.example.com/rd' });
    await gw.api('POST', `/api/endpoints/${ep.body.id}/disable`);
    const answers: [string, string, number][] = [
      ['post', '/api/endpoints/{id}/recover', (await gw.api('POST', `/api/endpoints/${ep.body.id}/recover`, { since: new Date(Date.now() - 3600_000).toISOString() })).status],
      ['delete', '/api/channels/{id}', (await gw.api('DELETE', `/api/channels/${channel.body.id}`)).status],
      ['delete', '/api/webhook/config/{id}', (await gw.api('DELETE', `/api/webhook/config/${platform.body.id}`)).status],
    ];
    for (const [method, path, status] of answers) {
      assert.equal(status, 409, `${method.toUpperCase()} ${path}`);
      assert.ok(doc.paths[path][method].responses['409'], `${method.toUpperCase()} ${path} documents its 409`);
    }
    await gw.api('DELETE', '/api/notify/types/low_balance');
    await gw.api('DELETE', '/api/notify/types/trial_expiring');
  });

  it('logs a refused field of a platform config as no store conflict', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'botgate-api-')), 'bot.yaml');
    writeFileSync(file, 'id: hello\nname: Hello\nintents:\n  hi: [hi]\nflows:\n  hi:\n    message: [Hello]\n    next_state: end\n');
    assert.equal((await gw.api('POST', '/api/bots', { file })).status, 201);
    const res = await gw.api('POST', '/api/webhook/config', { name: 'ftp-platform', bot: 'hello', outgoing_webhook_url: 'ftp://hooks.example.com/x' });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(res.body.message, /^outgoing_webhook_url /);
    assert.ok(!logLines.join('').includes('the store refused a write as a conflict'), 'a 400 is no conflict of the store');
  });

  it('keeps secrets out of the logs', async () => {
    await gw.api('POST', '/api/endpoints', { name: 'logged', url: 'https://hooks.example.com/l', auth: { kind: 'bearer', token: 'super-secret-token-xyz' } });
    await gw.api('POST', '/api/endpoints', { name: 'logged', url: 'https://hooks.example.com/l', auth: { kind: 'bearer' } });
    const text = logLines.join('');
    assert.ok(logLines.length > 0, 'request logs were written at trace level');
    for (const secret of ['super-secret-token-xyz', 'whsec_', 'test-admin-token', 'metrics-secret-1', 'pass-word-secret']) {
      assert.ok(!text.includes(secret), `${secret} not logged`);
    }
  });
});
