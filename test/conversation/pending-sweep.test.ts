// The sweep of pending turns (after a crash, or by another process) reaches every conversation: ones whose turns
// cannot run (their channel deleted) never hide the ones behind them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createManualClock } from '../../src/clock.ts';
import { DEMO_BOT_FILE } from '../../src/provision.ts';
import { eventually, startTestGateway } from '../helpers/gateway.ts';

describe('pending turns sweep', () => {
  it('runs a pending turn behind more than a page of conversations that cannot run', async () => {
    const gw = await startTestGateway({}, { start: false });
    try {
      await gw.bots.load(DEMO_BOT_FILE);
      const app = (await gw.api('POST', '/api/apps', { name: 'sweep' })).body;
      const gone = (await gw.api('POST', '/api/bots/demo/channels', { mode: 'sync', app_id: app.client_id, name: 'gone' })).body;
      const live = (await gw.api('POST', '/api/bots/demo/channels', { mode: 'sync', app_id: app.client_id, name: 'live' })).body;
      const store = (channelId: string, userKey: string) => gw.store.channels.get(channelId).then((channel) =>
        gw.turns.receive(channel!, { userKey, identities: [], payload: { message: { text: 'what is my balance' }, from: { id: userKey } }, eventType: 'message.received' }));
      for (let i = 0; i < 120; i++) await store(gone.id, `stuck-${i}`); // stored, their turns left for later…
      assert.equal((await gw.api('DELETE', `/api/channels/${gone.id}`)).status, 204); // …and their channel deleted
      const waiting = await store(live.id, 'behind-them');
      await gw.start();
      await eventually(async () => (await gw.store.conversations.replies(waiting.message.id)).length > 0, 8000);
    } finally {
      await gw.close();
    }
  });

  it('settles the waiting turns of a deleted channel\'s conversation once, instead of logging them every sweep', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
    const clock = createManualClock(Date.now());
    const gw = await startTestGateway({}, { start: false, clock, logger: pino({ level: 'warn' }, sink) });
    try {
      await gw.bots.load(DEMO_BOT_FILE);
      const app = (await gw.api('POST', '/api/apps', { name: 'sweep' })).body;
      const gone = (await gw.api('POST', '/api/bots/demo/channels', { mode: 'sync', app_id: app.client_id, name: 'gone' })).body;
      const channel = await gw.store.channels.get(gone.id);
      const waiting = await gw.turns.receive(channel!, { userKey: 'u1', identities: [], payload: { message: { text: 'hi' }, from: { id: 'u1' } }, eventType: 'message.received' });
      assert.equal((await gw.api('DELETE', `/api/channels/${gone.id}`)).status, 204);
      await gw.start();
      for (let i = 0; i < 4; i++) {
        clock.advance(5000);
        await gw.turns.process(waiting.conversation.id);
      }
      assert.deepEqual(await gw.store.conversations.withPendingTurns(10), [], 'nothing left for the sweep to try again');
      const about = lines.filter((l) => l.conversation === waiting.conversation.id);
      assert.equal(about.length, 1, `one line about it, not one per sweep: ${JSON.stringify(about)}`);
      assert.equal(about[0].level, 40);
      assert.deepEqual((await gw.store.conversations.replies(waiting.message.id)), [], 'no reply: the channel is gone');
      assert.equal((await gw.store.messages.get(waiting.message.id))?.payload !== null, true, 'the message itself stays in the history');
    } finally {
      await gw.close();
    }
  });
});
