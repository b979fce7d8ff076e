// Ordering (FIFO per key), per-endpoint rate limits, isolation of a dead endpoint, graceful shutdown; on both stores.
// The hand-off of what a process publishes to its own worker: handoff-flow.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { once } from 'node:events';
import { failingFirstTry, startReceiver } from '../helpers/receiver.ts';
import { ADMIN_TOKEN, eventually, type TestGateway } from '../helpers/gateway.ts';
import { startBackendGateway, testBackends } from '../helpers/backends.ts';

/** Not one try to this endpoint has ended yet: every delivery of it has no attempt recorded. */
async function noTryEnded(gw: TestGateway, endpointId: string): Promise<void> {
  const deliveries = (await gw.api('GET', `/api/deliveries?endpoint_id=${endpointId}&per_page=1000`)).body.data as { attempts: number; status: string }[];
  assert.ok(deliveries.length > 0);
  assert.deepEqual(deliveries.filter((d) => d.attempts > 0), [], 'a try of the dead endpoint ended before the healthy one had everything');
}

for (const backend of await testBackends()) describe(`flow control (${backend.name})`, { skip: backend.skip }, () => {
  it('delivers in publish order per ordering key; a failing head blocks only its own key', async () => {
    const { gw, drop } = await startBackendGateway(backend);
    let aFailures = 0;
    const rx = await startReceiver((req, res) => {
      const body = JSON.parse(req.body);
      if (body.key === 'a' && body.n === 1 && aFailures++ < 3) return void res.writeHead(503).end();
      res.writeHead(200).end();
    });
    try {
      await gw.api('POST', '/api/endpoints', { name: 'fifo', url: rx.url, ordered: true, retry_schedule: [0, 0.15, 0.15, 0.15, 0.15] });
      const sequence = [['a', 1], ['a', 2], ['b', 1], ['a', 3], ['b', 2], ['b', 3]] as const;
      for (const [key, n] of sequence) {
        const res = await gw.api('POST', '/api/messages', { event_type: 'chat.reply', payload: { key, n }, ordering_key: key });
        assert.equal(res.status, 202);
      }
      await eventually(() => rx.requests.filter((r) => r.headers['webhook-id']).length >= 9, 10_000);
      const order = rx.requests.map((r) => JSON.parse(r.body)).map((b) => `${b.key}${b.n}`);
      const firstSuccessA1 = order.lastIndexOf('a1');
      assert.deepEqual(order.filter((x) => x.startsWith('b')), ['b1', 'b2', 'b3'], 'b in order');
      assert.ok(order.indexOf('b3') < firstSuccessA1, 'b was not blocked by the failing head of a');
      assert.deepEqual(order.filter((x) => x.startsWith('a')), ['a1', 'a1', 'a1', 'a1', 'a2', 'a3'], 'a waits for its head');
    } finally {
      await gw.close();
      await drop();
      await rx.close();
    }
  });

  it('a test send to an ordered endpoint goes at once, not behind a failing head', async () => {
    const { gw, drop } = await startBackendGateway(backend);
    const rx = await startReceiver((req, res) => void res.writeHead(JSON.parse(req.body).type === 'webhook.test' ? 200 : 500).end());
    try {
      const endpoint = (await gw.api('POST', '/api/endpoints', { name: 'fifo', url: rx.url, ordered: true, retry_schedule: [0, 3600] })).body;
      assert.equal((await gw.api('POST', '/api/messages', { event_type: 'chat.reply', payload: { n: 1 } })).status, 202);
      await rx.waitFor(1);
      assert.equal((await gw.api('POST', `/api/endpoints/${endpoint.id}/test`)).status, 202);
      await rx.waitFor(2, 5000);
      assert.equal(JSON.parse(rx.requests[1].body).type, 'webhook.test');
    } finally {
      await gw.close();
      await drop();
      await rx.close();
    }
  });

  it('enforces an endpoint rate limit', async () => {
    const { gw, drop } = await startBackendGateway(backend);
    const rx = await startReceiver();
    try {
      await gw.api('POST', '/api/endpoints', { name: 'limited', url: rx.url, rate_limit_per_second: 5 });
      const res = await gw.api('POST', '/api/messages/batch', { messages: Array.from({ length: 15 }, (_, i) => ({ event_type: 'rl.test', payload: { i } })) });
      assert.equal(res.status, 202);
      await rx.waitFor(15, 10_000);
      const spread = rx.requests[14].at - rx.requests[0].at;
      assert.ok(spread >= 1000, `15 messages at 5/s span three one-second windows; took ${spread} ms after the first`);
      // Counted where the limit applies: when each try started, on the gateway's clock.
      const started = await eventually(async () => {
        const deliveries = (await gw.api('GET', '/api/deliveries?event_type=rl.test&status=sent&per_page=100')).body.data;
        if (deliveries.length < 15) return null;
        const times: number[] = [];
        for (const d of deliveries) times.push(...(await gw.api('GET', `/api/deliveries/${d.id}/attempts`)).body.data.map((a: { attempted_at: string }) => Date.parse(a.attempted_at)));
        return times;
      });
      const perWindow = new Map<number, number>();
      for (const at of started) perWindow.set(Math.floor(at / 1000), (perWindow.get(Math.floor(at / 1000)) ?? 0) + 1);
      assert.equal(started.length, 15);
      assert.ok(Math.max(...perWindow.values()) <= 5, `at most 5 tries started per second: ${JSON.stringify([...perWindow.values()])}`);
    } finally {
      await gw.close();
      await drop();
      await rx.close();
    }
  });

  // No clock in these two: the dead endpoint's tries time out only after 30 s, and the healthy endpoint must have
  // everything while not one of them has ended (a healthy delivery waiting behind a dead try would come after it).
  it('a dead endpoint never delays deliveries to a healthy one', async () => {
    const { gw, drop } = await startBackendGateway(backend, { BOTGATE_DELIVERY__PER_ENDPOINT_CONCURRENCY: '10', BOTGATE_DELIVERY__CONCURRENCY: '40', BOTGATE_DELIVERY__SHUTDOWN_DEADLINE_SECONDS: '1' });
    const dead = await startReceiver(() => {}); // accepts, never answers
    const healthy = await startReceiver();
    try {
      const deadEndpoint = (await gw.api('POST', '/api/endpoints', { name: 'dead', url: dead.url, timeout_seconds: 30 })).body;
      await gw.api('POST', '/api/endpoints', { name: 'healthy', url: healthy.url });
      const res = await gw.api('POST', '/api/messages/batch', { messages: Array.from({ length: 200 }, (_, i) => ({ event_type: 'iso.test', payload: { i } })) });
      assert.equal(res.status, 202);
      await healthy.waitFor(200, 25_000);
      await noTryEnded(gw, deadEndpoint.id);
      assert.ok(dead.requests.length <= 10, `the dead endpoint holds at most its per-endpoint concurrency (${dead.requests.length})`);
    } finally {
      await gw.close();
      await drop();
      await dead.close();
      await healthy.close();
    }
  });

  it('a dead endpoint never delays a healthy one on the same host: each endpoint has its own connections', async () => {
    const { gw, drop } = await startBackendGateway(backend, { BOTGATE_DELIVERY__PER_ENDPOINT_CONCURRENCY: '4', BOTGATE_DELIVERY__CONCURRENCY: '40', BOTGATE_DELIVERY__SHUTDOWN_DEADLINE_SECONDS: '1' });
    const host = await startReceiver((req, res) => {
      if (!req.url.startsWith('/dead')) res.writeHead(200).end('ok'); // /dead: accepts, never answers
    });
    try {
      const base = `http://127.0.0.1:${host.port}`;
      const deadEndpoint = (await gw.api('POST', '/api/endpoints', { name: 'dead', url: `${base}/dead`, timeout_seconds: 30 })).body;
      await gw.api('POST', '/api/endpoints', { name: 'healthy', url: `${base}/hook` });
      const res = await gw.api('POST', '/api/messages/batch', { messages: Array.from({ length: 60 }, (_, i) => ({ event_type: 'iso.host', payload: { i } })) });
      assert.equal(res.status, 202);
      await eventually(() => host.requests.filter((r) => r.url === '/hook').length >= 60, 25_000);
      await noTryEnded(gw, deadEndpoint.id);
      await eventually(() => host.requests.filter((r) => r.url === '/dead').length === 4, 2000);
      assert.equal(host.requests.filter((r) => r.url === '/dead').length, 4, 'the dead endpoint holds its 4 connections, no more');
    } finally {
      await gw.close();
      await drop();
      await host.close();
    }
  });

  it('stores an answered try even when the first write of it fails: sent once, recorded as sent', async () => {
    const { gw, drop } = await startBackendGateway(backend);
    const receiver = await startReceiver();
    try {
      await gw.api('POST', '/api/endpoints', { name: 'r', url: receiver.url });
      const finish = gw.store.deliveries.finish.bind(gw.store.deliveries);
      let failures = 1;
      gw.store.deliveries.finish = async (outcomes, now) => {
        if (failures-- > 0) throw new Error('connection terminated unexpectedly');
        return finish(outcomes, now);
      };
      const res = await gw.api('POST', '/api/messages', { event_type: 'finish.retry', payload: { n: 1 } });
      assert.equal(res.status, 202);
      const [delivery] = (await gw.api('GET', `/api/deliveries?message_id=${res.body.id}`)).body.data;
      await eventually(async () => (await gw.api('GET', `/api/deliveries/${delivery.id}`)).body.status === 'sent', 3000);
      assert.equal(receiver.requests.length, 1);
      assert.equal((await gw.api('GET', `/api/deliveries/${delivery.id}/attempts`)).body.data.length, 1);
    } finally {
      await gw.close();
      await drop();
      await receiver.close();
    }
  });

  it('gives a delivery back for a minute when it fails on our side before any answer (no attempt counted, no busy loop)', async () => {
    const { gw, drop } = await startBackendGateway(backend);
    const receiver = await startReceiver();
    try {
      let calls = 0;
      gw.endpoints.signingSecrets = () => {
        calls++;
        throw new Error('the stored secrets do not open with this master key');
      };
      const ep = (await gw.api('POST', '/api/endpoints', { name: 'r', url: receiver.url })).body;
      calls = 0; // the worker's read of the new endpoint failed alike
      const before = Date.now();
      const res = await gw.api('POST', '/api/messages', { event_type: 'own.fault', payload: {}, endpoint_ids: [ep.id] });
      const [delivery] = (await gw.api('GET', `/api/deliveries?message_id=${res.body.id}`)).body.data;
      const back = await eventually(async () => {
        const d = (await gw.api('GET', `/api/deliveries/${delivery.id}`)).body;
        return d.status === 'pending' && Date.parse(d.next_attempt_at) > before + 50_000 ? d : null;
      }, 3000);
      assert.equal(back.attempts, 0);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(calls, 1, 'not claimed again meanwhile');
      assert.equal(receiver.requests.length, 0);
    } finally {
      await gw.close();
      await drop();
      await receiver.close();
    }
  });

  it('stores an answer whose body holds NUL bytes (kept readable; PostgreSQL cannot hold NUL in text)', async () => {
    const { gw, drop } = await startBackendGateway(backend);
    const receiver = await startReceiver((_q, res) => void res.writeHead(200).end(Buffer.from([0x6f, 0x6b, 0x00, 0x01])));
    try {
      await gw.api('POST', '/api/endpoints', { name: 'binary', url: receiver.url });
      const res = await gw.api('POST', '/api/messages', { event_type: 'nul.answer', payload: {} });
      const [delivery] = (await gw.api('GET', `/api/deliveries?message_id=${res.body.id}`)).body.data;
      await eventually(async () => (await gw.api('GET', `/api/deliveries/${delivery.id}`)).body.status === 'sent', 3000);
      const [attempt] = (await gw.api('GET', `/api/deliveries/${delivery.id}/attempts`)).body.data;
      assert.equal(attempt.response_body, 'ok\uFFFD\u0001');
    } finally {
      await gw.close();
      await drop();
      await receiver.close();
    }
  });

  it('claims a retry that falls due after a partial claim left it waiting for room, with no publish to wake it', async () => {
    // 160 deliveries: one claim of 160 (under its limit of 200) leaves 90 of 250 slots, under the refill
    // threshold of 100, so the loop waits for room with no timer; the retry of the one that failed must still be
    // claimed when slots free.
    const { gw, drop } = await startBackendGateway(backend, { BOTGATE_DELIVERY__POLL_INTERVAL_MS: '200' });
    const rx = await startReceiver(failingFirstTry(503, 600));
    try {
      for (let e = 0; e < 10; e++) await gw.api('POST', '/api/endpoints', { name: `e${e}`, url: rx.url, event_types: [`part.${e}`], retry_schedule: [0, 0.3] });
      const res = await gw.api('POST', '/api/messages/batch', { messages: Array.from({ length: 160 }, (_, n) => ({ event_type: `part.${n % 10}`, payload: { n } })) });
      assert.equal(res.status, 202);
      await eventually(() => rx.requests.filter((r) => JSON.parse(r.body).n === 0).length === 2, 8_000);
    } finally {
      await gw.close();
      await drop();
      await rx.close();
    }
  });

  it('on shutdown gives back every delivery it claimed, and never runs more than an endpoint\'s limit', async () => {
    const { gw, drop } = await startBackendGateway(backend, { BOTGATE_DELIVERY__SHUTDOWN_DEADLINE_SECONDS: '0.2', BOTGATE_DELIVERY__PER_ENDPOINT_CONCURRENCY: '2' });
    const stuck = await startReceiver(() => {});
    try {
      await gw.api('POST', '/api/endpoints', { name: 'stuck', url: stuck.url, timeout_seconds: 30 });
      const res = await gw.api('POST', '/api/messages/batch', { messages: Array.from({ length: 6 }, (_, i) => ({ event_type: 'stuck.test', payload: { i } })) });
      assert.equal(res.status, 202);
      await stuck.waitFor(2);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(stuck.requests.length, 2, 'never more than the endpoint\'s 2 in flight');
      await gw.worker.stop();
      const ids = res.body.messages.flatMap((m: { delivery_ids: string[] }) => m.delivery_ids);
      const after = await Promise.all(ids.map((id: string) => gw.store.deliveries.get(id)));
      assert.deepEqual(after.map((d) => [d?.status, d?.attempts, d?.lockedBy]), ids.map(() => ['pending', 0, null]));
    } finally {
      await gw.close();
      await drop();
      await stuck.close();
    }
  });

  it('on shutdown finishes in-flight deliveries and releases the ones past the deadline', async () => {
    const { gw, drop } = await startBackendGateway(backend, { BOTGATE_DELIVERY__SHUTDOWN_DEADLINE_SECONDS: '1' });
    const slow = await startReceiver((_q, res) => void setTimeout(() => res.writeHead(200).end(), 300));
    const stuck = await startReceiver(() => {});
    try {
      await gw.api('POST', '/api/endpoints', { name: 'slow', url: slow.url, event_types: ['slow'] });
      await gw.api('POST', '/api/endpoints', { name: 'stuck', url: stuck.url, event_types: ['stuck'], timeout_seconds: 30 });
      const a = (await gw.api('POST', '/api/messages', { event_type: 'slow', payload: {} })).body.delivery_ids[0];
      const b = (await gw.api('POST', '/api/messages', { event_type: 'stuck', payload: {} })).body.delivery_ids[0];
      await slow.waitFor(1);
      await stuck.waitFor(1);
      const store = gw.store;
      const started = Date.now();
      await gw.worker.stop();
      assert.ok(Date.now() - started < 3000);
      const sent = await store.deliveries.get(a);
      assert.equal(sent?.status, 'sent', 'the in-flight delivery finished');
      const released = await store.deliveries.get(b);
      assert.equal(released?.status, 'pending', 'the stuck one went back to the queue');
      assert.equal(released?.attempts, 0, 'an aborted try is not counted');
      assert.equal(released?.lockedBy, null);
    } finally {
      await gw.close();
      await drop();
      await slow.close();
      await stuck.close();
    }
  });

  it('on shutdown, a request still coming in holds back neither the deliveries\' deadline nor the stop', async () => {
    const { gw, drop } = await startBackendGateway(backend, { BOTGATE_DELIVERY__SHUTDOWN_DEADLINE_SECONDS: '0.5', BOTGATE_PORT: '0' });
    const stuck = await startReceiver(() => {});
    const address = await gw.listen().then((a) => new URL(a), async (error) => {
      await gw.close();
      await drop();
      await stuck.close();
      throw error;
    });
    // A client that sends its headers and part of its body, then nothing more (a slow upload, a stalled proxy).
    const client = connect(Number(address.port), address.hostname);
    const connected = once(client, 'connect');
    const closed = once(client, 'close');
    let stopping: Promise<unknown> | null = null;
    try {
      await gw.api('POST', '/api/endpoints', { name: 'stuck', url: stuck.url, timeout_seconds: 60 });
      await gw.api('POST', '/api/messages', { event_type: 'stuck.test', payload: {} });
      await stuck.waitFor(1);
      await connected;
      client.write(`POST /api/messages HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nContent-Length: 100\r\n\r\n{"event_type"`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      let stopped = false;
      stopping = gw.close().then(() => (stopped = true));
      // The in-flight try ends at the deadline (0.5 s) whatever the client does, the client's connection is cut then,
      // and the stop completes: before, the stop waited for the request (minutes) before even starting the deadline.
      await eventually(() => stopped, 10_000);
      await closed;
      assert.equal(gw.worker.inFlight, 0);
    } finally {
      client.destroy();
      await (stopping ?? gw.close());
      await drop();
      await stuck.close();
    }
  });
});
