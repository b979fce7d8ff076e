// The delivery engine end to end: real loopback receivers, real HTTP, signatures checked with the npm
// package `standardwebhooks`, as a receiver would.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { startReceiver } from '../helpers/receiver.ts';
import { ADMIN_TOKEN, eventually } from '../helpers/gateway.ts';
import { gatewayAndReceiver } from '../helpers/gateway-receiver.ts';

function verify(secret: string, r: { body: string; headers: Record<string, unknown> }) {
  return new Webhook(secret).verify(r.body, {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  });
}

describe('delivery', () => {
  const f = gatewayAndReceiver();

  const createEndpoint = async (body: Record<string, unknown>) => {
    const res = await f.gw.api('POST', '/api/endpoints', { name: 'rx', url: f.rx.url, ...body });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as { id: string; secret: string };
  };
  const publish = async (body: Record<string, unknown>) => {
    const res = await f.gw.api('POST', '/api/messages', body);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body as { id: string; delivery_ids: string[] };
  };
  const delivery = async (id: string) => (await f.gw.api('GET', `/api/deliveries/${id}`)).body;
  const attempts = async (id: string) => (await f.gw.api('GET', `/api/deliveries/${id}/attempts`)).body.data as any[];

  it('sends the stored body byte for byte, signed so that standardwebhooks verifies it, with auth and custom headers', async () => {
    f.rx.requests.length = 0;
    const ep = await createEndpoint({ event_types: ['order.created'], auth: { kind: 'bearer', token: 'tok-123' }, custom_headers: { 'X-Tenant': 'acme' } });
    const payload = { order: { id: 42, items: ['ü', '🍕'] }, note: 'a "quoted" \\ text', n: 1.5 };
    const msg = await publish({ event_type: 'order.created', payload, endpoint_ids: [ep.id] });
    const [req] = await f.rx.waitFor(1);
    assert.equal(req.body, JSON.stringify(payload));
    assert.deepEqual(verify(ep.secret, req), payload);
    assert.equal(req.headers['webhook-id'], msg.id);
    assert.equal(req.headers.authorization, 'Bearer tok-123');
    assert.equal(req.headers['x-tenant'], 'acme');
    assert.equal(req.headers['content-type'], 'application/json');
    const d = await eventually(async () => {
      const current = await delivery(msg.delivery_ids[0]);
      return current.status === 'sent' && current;
    });
    assert.equal(d.attempts, 1);
    const [attempt] = await attempts(msg.delivery_ids[0]);
    assert.equal(attempt.status_code, 200);
    assert.equal(attempt.response_body, 'ok');
    assert.equal(attempt.error_kind, null);
  });

  it('keeps payload keys named __proto__ (and constructor.prototype) as data: stored, shown and sent as published', async () => {
    const ep = await createEndpoint({ event_types: ['proto.keys'] });
    const text = '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}},"n":[{"__proto__":null}]}';
    const send = async (url: string, body: string) => {
      const res = await f.gw.app.inject({ method: 'POST', url, payload: body, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' } });
      assert.equal(res.statusCode, 202, res.body);
      return JSON.parse(res.body);
    };
    const one = await send('/api/messages', `{"event_type": "proto.keys", "payload": ${text}, "endpoint_ids": ["${ep.id}"]}`);
    const batch = await send('/api/messages/batch', `{"messages": [{"event_type": "proto.keys", "payload": ${text}, "endpoint_ids": ["${ep.id}"]}]}`);
    const test = await send(`/api/endpoints/${ep.id}/test`, `{"payload": ${text}}`);
    for (const id of [one.id, batch.messages[0].id, test.id]) {
      const req = await eventually(() => f.rx.requests.find((r) => r.headers['webhook-id'] === id));
      assert.equal(req.body, text);
      const shown = await f.gw.app.inject({ method: 'GET', url: `/api/messages/${id}`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.ok(shown.body.includes(`"payload":${text}`), shown.body);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('retries failures on the schedule with a stable webhook-id and a fresh signature each time', async () => {
    f.rx.requests.length = 0;
    let calls = 0;
    f.rx.respond((_r, res) => void res.writeHead(++calls < 3 ? 500 : 200).end(calls < 3 ? 'boom' : 'fine'));
    const ep = await createEndpoint({ event_types: ['retry.me'], retry_schedule: [0, 0.2, 0.2, 0.2] });
    const msg = await publish({ event_type: 'retry.me', payload: { a: 1 } });
    const reqs = await f.rx.waitFor(3);
    for (const r of reqs) {
      assert.equal(r.headers['webhook-id'], msg.id);
      assert.equal(r.body, '{"a":1}');
      verify(ep.secret, r);
    }
    assert.ok(reqs[1].at - reqs[0].at >= 150, 'waited for the schedule');
    const d = await eventually(async () => (await delivery(msg.delivery_ids[0])).status === 'sent' && delivery(msg.delivery_ids[0]));
    assert.equal(d.attempts, 3);
    const tries = await attempts(msg.delivery_ids[0]);
    assert.deepEqual(tries.map((a) => a.status_code), [500, 500, 200]);
    assert.equal(tries[0].error_kind, 'http_status');
    assert.equal(tries[0].response_body, 'boom');
    f.rx.respond((_r, res) => void res.writeHead(200).end('ok'));
  });

  it('marks an exhausted delivery failed and tells subscribed endpoints, never the endpoint it is about', async () => {
    const dead = await startReceiver((_r, res) => void res.writeHead(503).end());
    const watcher = await startReceiver();
    try {
      const bad = await f.gw.api('POST', '/api/endpoints', { name: 'dead', url: dead.url, event_types: ['exhaust.me', 'message.attempt.exhausted'], retry_schedule: [0, 0.05], max_attempts: 2 });
      const watch = await f.gw.api('POST', '/api/endpoints', { name: 'watch', url: watcher.url, event_types: ['message.attempt.exhausted'] });
      const msg = await publish({ event_type: 'exhaust.me', payload: { x: 1 } });
      const [note] = await watcher.waitFor(1);
      const body = verify(watch.body.secret, note) as Record<string, unknown>;
      assert.equal(body.type, 'message.attempt.exhausted');
      assert.equal(body.message_id, msg.id);
      assert.equal(body.endpoint_id, bad.body.id);
      assert.equal(body.attempts, 2);
      assert.equal(dead.requests.length, 2, 'the failing endpoint got its two tries and no notice about itself');
      assert.equal((await delivery(msg.delivery_ids[0])).status, 'failed');
    } finally {
      await dead.close();
      await watcher.close();
    }
  });

  it('disables an endpoint on 410, announces it, and resumes its pending deliveries when re-enabled', async () => {
    const gone = await startReceiver((_r, res) => void res.writeHead(410).end('gone'));
    const watcher = await startReceiver();
    try {
      const ep = (await f.gw.api('POST', '/api/endpoints', { name: 'gone', url: gone.url, event_types: ['g.*'], retry_schedule: [0, 0.05] })).body;
      await f.gw.api('POST', '/api/endpoints', { name: 'watch', url: watcher.url, event_types: ['endpoint.disabled'] });
      const msg = await publish({ event_type: 'g.one', payload: { x: 1 } });
      const [note] = await watcher.waitFor(1);
      assert.equal(JSON.parse(note.body).endpoint_id, ep.id);
      assert.equal(JSON.parse(note.body).reason, 'gone');
      const disabled = (await f.gw.api('GET', `/api/endpoints/${ep.id}`)).body;
      assert.equal(disabled.is_active, false);
      assert.equal(disabled.disabled_reason, 'gone');
      assert.equal((await delivery(msg.delivery_ids[0])).status, 'pending');
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(gone.requests.length, 1, 'nothing is sent to a disabled endpoint');
      gone.respond((_r, res) => void res.writeHead(204).end());
      assert.equal((await f.gw.api('POST', `/api/endpoints/${ep.id}/enable`)).status, 200);
      await gone.waitFor(2);
      await eventually(async () => (await delivery(msg.delivery_ids[0])).status === 'sent');
    } finally {
      await gone.close();
      await watcher.close();
    }
  });

  it('makes a delivery waiting for a later retry due at once when its endpoint is enabled again', async () => {
    const down = await startReceiver((_r, res) => void res.writeHead(503).end('down'));
    try {
      const ep = (await f.gw.api('POST', '/api/endpoints', { name: 'mended', url: down.url, event_types: ['m.*'], retry_schedule: [0, 3600] })).body;
      const msg = await publish({ event_type: 'm.one', payload: { x: 1 } });
      await down.waitFor(1);
      const waiting = await eventually(async () => {
        const d = await delivery(msg.delivery_ids[0]);
        return d.attempts === 1 && d.status === 'pending' && d;
      });
      assert.ok(Date.parse(waiting.next_attempt_at) > Date.now() + 2_400_000, 'the next try is an hour away (±20% jitter)');
      assert.equal((await f.gw.api('POST', `/api/endpoints/${ep.id}/disable`)).status, 200);
      down.respond((_r, res) => void res.writeHead(204).end());
      assert.equal((await f.gw.api('POST', `/api/endpoints/${ep.id}/enable`)).status, 200);
      await eventually(async () => (await delivery(msg.delivery_ids[0])).status === 'sent');
      assert.equal(down.requests.length, 2);
    } finally {
      await down.close();
    }
  });

  it('rotates the secret: both the old and the new secret verify during the overlap', async () => {
    f.rx.requests.length = 0;
    const ep = await createEndpoint({ event_types: ['rotate.me'] });
    const rotated = (await f.gw.api('POST', `/api/endpoints/${ep.id}/secret/rotate`)).body;
    assert.match(rotated.secret, /^whsec_/);
    assert.notEqual(rotated.secret, ep.secret);
    await publish({ event_type: 'rotate.me', payload: { r: 1 } });
    const [req] = await f.rx.waitFor(1);
    assert.equal(String(req.headers['webhook-signature']).split(' ').length, 2);
    verify(ep.secret, req);
    verify(rotated.secret, req);
    const shown = await f.gw.api('GET', `/api/endpoints/${ep.id}`);
    assert.ok(!JSON.stringify(shown.body).includes('whsec_'), 'secrets are never shown again');
  });

  it('keeps at most 10 previous secrets: rotating again within the overlap is refused (409), every valid one still signs', async () => {
    f.rx.requests.length = 0;
    const ep = await createEndpoint({ event_types: ['rotate.often'] });
    const secrets = [ep.secret];
    for (let i = 0; i < 10; i++) {
      const rotated = await f.gw.api('POST', `/api/endpoints/${ep.id}/secret/rotate`);
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      secrets.push(rotated.body.secret);
    }
    const refused = await f.gw.api('POST', `/api/endpoints/${ep.id}/secret/rotate`);
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'BG_ERR_CONFLICT');
    assert.match(refused.body.message, /10 previous signing secrets still valid .*rotate again after \d{4}-\d\d-\d\dT/);
    // Before, every rotation added a signature to every try, without end: a few hundred made the header too large
    // for the receiver (431 from Node) and every delivery failed for a day.
    await publish({ event_type: 'rotate.often', payload: { r: 11 } });
    const [req] = await f.rx.waitFor(1);
    assert.equal(String(req.headers['webhook-signature']).split(' ').length, 11);
    for (const secret of secrets) verify(secret, req);
  });

  it('sends form bodies to form endpoints, with basic auth, signed over the form text', async () => {
    f.rx.requests.length = 0;
    const ep = await createEndpoint({ event_types: ['form.me'], content_type: 'form', auth: { kind: 'basic', username: 'AC1', password: 'pw' } });
    await publish({ event_type: 'form.me', payload: { To: '+15550001', Body: 'hi there', Extra: { a: 1 } } });
    const [req] = await f.rx.waitFor(1);
    assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(req.body, 'To=%2B15550001&Body=hi+there&Extra=%7B%22a%22%3A1%7D');
    assert.equal(req.headers.authorization, 'Basic ' + Buffer.from('AC1:pw').toString('base64'));
    const key = Buffer.from(ep.secret.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key).update(`${req.headers['webhook-id']}.${req.headers['webhook-timestamp']}.${req.body}`).digest('base64');
    assert.equal(req.headers['webhook-signature'], `v1,${expected}`);
  });

  it('sends a custom auth header and nothing signed when signing is off', async () => {
    f.rx.requests.length = 0;
    await createEndpoint({ event_types: ['plain.me'], signing: false, auth: { kind: 'header', name: 'X-Api-Key', value: 'k-1' } });
    await publish({ event_type: 'plain.me', payload: { p: 1 } });
    const [req] = await f.rx.waitFor(1);
    assert.equal(req.headers['x-api-key'], 'k-1');
    assert.equal(req.headers['webhook-signature'], undefined);
    assert.ok(req.headers['webhook-id']);
  });

  it('resends one delivery on request as a single try, and a test send reaches only that endpoint', async () => {
    const flaky = await startReceiver((_r, res) => void res.writeHead(500).end());
    try {
      const ep = (await f.gw.api('POST', '/api/endpoints', { name: 'flaky', url: flaky.url, event_types: ['resend.me'], max_attempts: 1 })).body;
      const msg = await publish({ event_type: 'resend.me', payload: { y: 1 } });
      await eventually(async () => (await delivery(msg.delivery_ids[0])).status === 'failed');
      const again = await f.gw.api('POST', `/api/deliveries/${msg.delivery_ids[0]}/resend`);
      assert.equal(again.status, 202);
      assert.equal(again.body.one_shot, true);
      await flaky.waitFor(2);
      await eventually(async () => (await delivery(msg.delivery_ids[0])).status === 'failed');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(flaky.requests.length, 2, 'a failed one-shot schedules nothing more');
      flaky.respond((_r, res) => void res.writeHead(200).end());
      await f.gw.api('POST', `/api/deliveries/${msg.delivery_ids[0]}/resend`);
      await eventually(async () => (await delivery(msg.delivery_ids[0])).status === 'sent');
      const test = await f.gw.api('POST', `/api/endpoints/${ep.id}/test`);
      assert.equal(test.status, 202);
      assert.equal(test.body.delivery_ids.length, 1);
      // Answered as a publish is (POST /api/messages), ordering_key included.
      assert.deepEqual(Object.keys(test.body).sort(), Object.keys(msg).sort());
      assert.equal(test.body.ordering_key, null);
      const [req] = (await flaky.waitFor(4)).slice(3);
      assert.equal(JSON.parse(req.body).type, 'webhook.test');
      assert.equal((await f.gw.api('POST', '/api/deliveries/dlv_missing/resend')).status, 404);
      // A disabled endpoint would hold the test (or a resend) unsent: 409, nothing stored or changed.
      await f.gw.api('POST', `/api/endpoints/${ep.id}/disable`);
      const heldResend = await f.gw.api('POST', `/api/deliveries/${msg.delivery_ids[0]}/resend`);
      assert.equal(heldResend.status, 409, JSON.stringify(heldResend.body));
      assert.equal(heldResend.body.code, 'BG_ERR_CONFLICT');
      assert.match(heldResend.body.message, /is disabled \(manual\): enable it first/);
      assert.equal((await delivery(msg.delivery_ids[0])).status, 'sent', 'the refused resend changed nothing');
      const before = (await f.gw.api('GET', `/api/deliveries?endpoint_id=${ep.id}`)).body.data.length;
      const toDisabled = await f.gw.api('POST', `/api/endpoints/${ep.id}/test`);
      assert.equal(toDisabled.status, 409, JSON.stringify(toDisabled.body));
      assert.equal(toDisabled.body.code, 'BG_ERR_CONFLICT');
      assert.match(toDisabled.body.message, /is disabled \(manual\): enable it first/);
      assert.equal((await f.gw.api('GET', `/api/deliveries?endpoint_id=${ep.id}`)).body.data.length, before);
      await f.gw.api('POST', `/api/endpoints/${ep.id}/enable`);
      const badType = await f.gw.api('POST', `/api/endpoints/${ep.id}/test`, { event_type: 'has space' });
      assert.equal(badType.status, 400);
      assert.equal(badType.body.code, 'BG_ERR_VALIDATION');
    } finally {
      await flaky.close();
    }
  });

  it('recovers every failed delivery of an endpoint in a window as a job with progress', async () => {
    const down = await startReceiver((_r, res) => void res.writeHead(500).end());
    try {
      const ep = (await f.gw.api('POST', '/api/endpoints', { name: 'down', url: down.url, event_types: ['recover.me'], max_attempts: 1 })).body;
      const since = new Date(Date.now() - 1000).toISOString();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await publish({ event_type: 'recover.me', payload: { i } })).delivery_ids[0]);
      await eventually(async () => (await f.gw.api('GET', `/api/deliveries?endpoint_id=${ep.id}&status=failed`)).body.data.length === 5);
      down.respond((_r, res) => void res.writeHead(200).end());
      const job = await f.gw.api('POST', `/api/endpoints/${ep.id}/recover`, { since });
      assert.equal(job.status, 202);
      assert.equal(job.body.total, 5);
      const done = await eventually(async () => {
        const j = (await f.gw.api('GET', `/api/jobs/${job.body.id}`)).body;
        return j.status === 'done' && j;
      });
      assert.equal(done.done, 5);
      assert.equal(done.progress, 1);
      await eventually(async () => (await f.gw.api('GET', `/api/deliveries?endpoint_id=${ep.id}&status=sent`)).body.data.length === 5);
      // Through a disabled endpoint the recovered deliveries would wait unsent: refused, as a resend is (before: 202, held).
      assert.equal((await f.gw.api('PATCH', `/api/endpoints/${ep.id}`, { is_active: false })).status, 200);
      const held = await f.gw.api('POST', `/api/endpoints/${ep.id}/recover`, { since });
      assert.deepEqual([held.status, held.body.code], [409, 'BG_ERR_CONFLICT']);
      assert.match(held.body.message, /is disabled \(manual\): enable it first/);
      assert.equal((await f.gw.api('POST', `/api/endpoints/${ep.id}/enable`)).status, 200);
      const tooLong = await f.gw.api('POST', `/api/endpoints/${ep.id}/recover`, { since: new Date(Date.now() - 15 * 86_400_000).toISOString() });
      assert.equal(tooLong.status, 400);
      assert.equal(tooLong.body.code, 'BG_ERR_VALIDATION');
    } finally {
      await down.close();
    }
  });
});
