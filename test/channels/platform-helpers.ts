// The platform webhook tests share these: error-shape assertions, a client for POST /api/webhook/incoming (plain
// and signed) and the message history, and a fixture of one gateway with the demo bot and a receiver standing for
// the platforms.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DEMO_BOT_FILE } from '../../src/provision.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startReceiver, type Receiver, type Received } from '../helpers/receiver.ts';


export type Json = any;

export const BALANCE = 'Your balance is not available right now.';
export const PIZZA = 'How many pizzas would you like?';
/** Polls until fn returns a value (false, null and undefined mean not yet). */
export const until = <T>(fn: () => T | false | null | undefined | Promise<T | false | null | undefined>, timeoutMs?: number) => eventually(fn, timeoutMs) as Promise<T>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Rate limits count in fixed one-minute windows: start a counted burst well inside one. */
export async function awayFromMinuteEdge() {
  const into = Date.now() % 60_000;
  if (into > 57_000) await sleep(60_000 - into + 200);
}

/** A platform error: the platform's body shape, the status of its code, never a 500. */
export function assertPlatformError(res: { status: number; body: Json }, status: number, code: string) {
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
export function assertApiError(res: { status: number; body: Json }, status: number, code: string) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.deepEqual(Object.keys(res.body).sort(), ['code', 'message', 'statusCode'], JSON.stringify(res.body));
  assert.equal(res.body.statusCode, status);
  assert.equal(res.body.code, code);
  assert.equal(typeof res.body.message, 'string');
}

export async function platformGateway(env: Record<string, string> = {}) {
  const gw = await startTestGateway(env, { start: false });
  await gw.bots.load(DEMO_BOT_FILE);
  await gw.start();
  return gw;
}

export function client(gw: TestGateway) {
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

/**
 * One gateway on SQLite with the demo bot for a file's tests, and a loopback receiver standing for the platforms
 * (each config posts to its own path; `statusFor` sets what a path answers, 200 by default). Registers the
 * before/after hooks of the describe it is called in: gw, c and rx are there from its before on.
 */
export function platformFixture() {
  const f = {
    gw: undefined as unknown as TestGateway,
    c: undefined as unknown as ReturnType<typeof client>,
    rx: undefined as unknown as Receiver,
    /** Status the receiver answers per path (default 200). */
    statusFor: new Map<string, number>(),
    path: (name: string) => `/hook/${name}`,
    urlOf: (name: string) => `${f.rx.url}/${name}`,
    succeeded: [] as Received[],
    async createConfig(name: string, extra: Record<string, unknown> = {}) {
      const res = await f.gw.api('POST', '/api/webhook/config', { name, outgoing_webhook_url: f.urlOf(name), ...extra });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body as Json;
    },
    /** Replies the platform got with a 2xx, each once, in order. */
    repliesAt(name: string) {
      const seen = new Set<string>();
      return f.succeeded.filter((r) => r.url === f.path(name) && !seen.has(String(r.headers['webhook-id'])) && seen.add(String(r.headers['webhook-id'])));
    },
  };
  before(async () => {
    f.gw = await platformGateway();
    f.c = client(f.gw);
    f.rx = await startReceiver((req, res) => {
      const status = f.statusFor.get(req.url) ?? 200;
      if (status === 200) f.succeeded.push(req);
      res.writeHead(status).end();
    });
  });
  after(async () => {
    await f.gw.close();
    await f.rx.close();
  });
  return f;
}
