// Receiver faults, each against a real loopback receiver: 500s, timeouts, slow bodies, refused connections,
// resets mid-response, 429 with Retry-After, redirects, huge responses; and the SSRF guard.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

describe('receiver faults', () => {
  let gw: TestGateway;
  const receivers: Receiver[] = [];
  before(async () => {
    gw = await startTestGateway();
  });
  after(async () => {
    await gw.close();
    for (const r of receivers) await r.close();
  });

  /** Publishes one message to a fresh endpoint and returns its first attempt and the delivery after it. */
  async function firstAttempt(url: string, settings: Record<string, unknown> = {}) {
    const type = `fault.${Math.random().toString(36).slice(2)}`;
    const ep = await gw.api('POST', '/api/endpoints', { name: 'fault', url, event_types: [type], ...settings });
    assert.equal(ep.status, 201, JSON.stringify(ep.body));
    const msg = await gw.api('POST', '/api/messages', { event_type: type, payload: { k: 1 } });
    const id = msg.body.delivery_ids[0];
    const attempts = await eventually(async () => {
      const list = (await gw.api('GET', `/api/deliveries/${id}/attempts`)).body.data;
      return list.length > 0 && list;
    }, 15_000);
    const delivery = await eventually(async () => {
      const d = (await gw.api('GET', `/api/deliveries/${id}`)).body;
      return d.status !== 'sending' && d;
    });
    return { attempt: attempts[0], delivery, endpointId: ep.body.id as string };
  }

  async function receiver(behaviour: Parameters<typeof startReceiver>[0]) {
    const r = await startReceiver(behaviour);
    receivers.push(r);
    return r;
  }

  it('a 500 is a failure with its body kept, and the next try follows the schedule', async () => {
    const r = await receiver((_q, res) => void res.writeHead(500).end('internal trouble'));
    const { attempt, delivery } = await firstAttempt(r.url, { retry_schedule: [0, 300] });
    assert.equal(attempt.status_code, 500);
    assert.equal(attempt.error_kind, 'http_status');
    assert.equal(attempt.response_body, 'internal trouble');
    const wait = Date.parse(delivery.next_attempt_at) - Date.parse(attempt.attempted_at);
    assert.ok(wait >= 0.8 * 300_000 - 1000 && wait <= 1.2 * 300_000 + 1000, `waits 5 min ±20%, got ${wait} ms`);
  });

  it('a timeout is recorded as such and the next try waits at least 60 s', async () => {
    const r = await receiver(() => {}); // never answers
    const { attempt, delivery } = await firstAttempt(r.url, { timeout_seconds: 1, retry_schedule: [0, 5] });
    assert.equal(attempt.error_kind, 'timeout');
    assert.equal(attempt.status_code, null);
    assert.ok(attempt.duration_ms >= 950, `took ${attempt.duration_ms} ms`);
    assert.equal(delivery.status, 'pending');
    assert.ok(Date.parse(delivery.next_attempt_at) - Date.parse(attempt.attempted_at) >= 60_000);
  });

  it('a 429 with Retry-After is honoured within [delay, 2×delay]', async () => {
    const r = await receiver((_q, res) => void res.writeHead(429, { 'retry-after': '100' }).end());
    const { attempt, delivery } = await firstAttempt(r.url, { retry_schedule: [0, 5] });
    assert.equal(attempt.status_code, 429);
    const wait = Date.parse(delivery.next_attempt_at) - Date.parse(attempt.attempted_at);
    assert.ok(wait >= 99_000 && wait <= 101_500, `Retry-After 100 s within [60 s, 120 s], got ${wait} ms`);
    const capped = await receiver((_q, res) => void res.writeHead(429, { 'retry-after': '100000' }).end());
    const second = await firstAttempt(capped.url, { retry_schedule: [0, 5] });
    const cappedWait = Date.parse(second.delivery.next_attempt_at) - Date.parse(second.attempt.attempted_at);
    assert.ok(cappedWait <= 121_000, `a huge Retry-After is capped at 2×delay, got ${cappedWait} ms`);
  });

  it('redirects are not followed and count as failures', async () => {
    const target = await receiver((_q, res) => void res.writeHead(200).end());
    const r = await receiver((_q, res) => void res.writeHead(302, { location: target.url }).end());
    const { attempt } = await firstAttempt(r.url);
    assert.equal(attempt.status_code, 302);
    assert.match(attempt.error, /redirects are not followed/);
    assert.equal(target.requests.length, 0);
  });

  it('a refused connection is recorded as connection_refused', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const { attempt } = await firstAttempt(`http://127.0.0.1:${port}/gone`);
    assert.equal(attempt.error_kind, 'connection_refused');
  });

  it('a connection reset: after the status line the status decides; before it, a failure to retry', async () => {
    const r = await receiver((_q, _res, socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
      setTimeout(() => socket.destroy(), 20);
    });
    const { attempt, delivery } = await firstAttempt(r.url);
    // The status line arrived: the receiver accepted it even though the body broke off.
    assert.equal(attempt.status_code, 200);
    assert.equal(delivery.status, 'sent');
    const reset = await receiver((_q, _res, socket) => void socket.destroy());
    const second = await firstAttempt(reset.url);
    assert.equal(second.attempt.error_kind, 'connection_reset');
    assert.equal(second.delivery.status, 'pending');
  });

  it('a very slow body is cut at the deadline; the status decides', async () => {
    const r = await receiver((_q, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('a');
      const timer = setInterval(() => res.write('b'), 200);
      res.on('close', () => clearInterval(timer));
    });
    const { attempt, delivery } = await firstAttempt(r.url, { timeout_seconds: 1 });
    assert.equal(attempt.status_code, 200);
    assert.equal(delivery.status, 'sent');
    assert.ok(attempt.duration_ms < 3000);
    assert.match(attempt.response_body, /^ab*/);
  });

  it('keeps only the first 20 KB of a huge response', async () => {
    const chunk = 'x'.repeat(64 * 1024);
    const r = await receiver((_q, res) => {
      res.writeHead(200);
      for (let i = 0; i < 80; i++) res.write(chunk); // 5 MB
      res.end();
    });
    const { attempt, delivery } = await firstAttempt(r.url);
    assert.equal(delivery.status, 'sent');
    assert.equal(attempt.response_body.length, 20 * 1024);
  });

  it('refuses private addresses that are not allow-listed, after DNS resolution too', async () => {
    const guarded = await startTestGateway({ BOTGATE_DELIVERY__ALLOW_PRIVATE: '' });
    try {
      const r = await receiver((_q, res) => void res.writeHead(200).end());
      for (const url of [r.url, `http://localhost:${r.port}/hook`, 'http://10.1.2.3/x', 'http://[::1]:9/x', 'http://169.254.169.254/latest']) {
        const ep = await guarded.api('POST', '/api/endpoints', { name: 'ssrf', url, event_types: ['ssrf.try'] });
        const msg = await guarded.api('POST', '/api/messages', { event_type: 'ssrf.try', payload: {}, endpoint_ids: [ep.body.id] });
        const attempts = await eventually(async () => {
          const list = (await guarded.api('GET', `/api/deliveries/${msg.body.delivery_ids[0]}/attempts`)).body.data;
          return list.length > 0 && list;
        });
        assert.equal(attempts[0].error_kind, 'blocked', url);
      }
      assert.equal(r.requests.length, 0);
    } finally {
      await guarded.close();
    }
  });
});
