// The platform webhook's outgoing side and history: the replies of a conversation whose outgoing URL is down are
// kept and delivered in order when it comes back; the message history and its filters and pages.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { TestGateway } from '../helpers/gateway.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { type Json, BALANCE, PIZZA, until, assertApiError, client, platformFixture } from './platform-helpers.ts';

describe('platform webhook (SQLite)', () => {
  const f = platformFixture();
  const { statusFor, path, createConfig, repliesAt } = f;
  let gw: TestGateway; let c: ReturnType<typeof client>; let rx: Receiver;
  before(() => ({ gw, c, rx } = f));

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
});
