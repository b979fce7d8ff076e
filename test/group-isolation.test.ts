// Group commits (events decided together, incoming messages stored together) keep one caller's failure to
// itself: the store refusing one caller's writes fails that caller alone, the others that shared the group succeed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEMO_BOT_FILE } from '../src/provision.ts';
import { startTestGateway } from './helpers/gateway.ts';

describe('group commit isolation', () => {
  it('decides the other callers\' events when the store refuses one caller\'s', async () => {
    const gw = await startTestGateway({}, { start: false });
    try {
      const commit = gw.store.notify.commit.bind(gw.store.notify);
      gw.store.notify.commit = async (writes, route, now) => {
        if (writes.decisions.some((d) => d.userId === 'poison')) throw new Error('the store refused the write');
        return commit(writes, route, now);
      };
      const decide = (userId: string) => gw.notify.engine.decide([{ userId, eventType: 'payment_failed', params: {} }]);
      const [a, bad, b] = await Promise.allSettled([decide('ok-1'), decide('poison'), decide('ok-2')]);
      assert.equal(a.status, 'fulfilled');
      assert.equal(b.status, 'fulfilled');
      assert.equal(bad.status, 'rejected');
    } finally {
      await gw.close();
    }
  });

  it('does not retry a group whose commit may have happened (the connection lost): each caller gets the error', async () => {
    const gw = await startTestGateway({}, { start: false });
    try {
      let runs = 0;
      const commit = gw.store.notify.commit.bind(gw.store.notify);
      gw.store.notify.commit = async (writes, route, now) => {
        runs++;
        if (writes.decisions.some((d) => d.userId === 'lost')) throw Object.assign(new Error('Connection terminated unexpectedly'), { code: '08006' });
        return commit(writes, route, now);
      };
      const decide = (userId: string) => gw.notify.engine.decide([{ userId, eventType: 'payment_failed', params: {} }]);
      const settled = await Promise.allSettled([decide('a-1'), decide('lost'), decide('a-2')]);
      assert.deepEqual(settled.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
      assert.equal(runs, 1, 'tried once: a retry could store it twice');
    } finally {
      await gw.close();
    }
  });

  it('stores the other incoming messages when the store refuses one request\'s', async () => {
    const gw = await startTestGateway({}, { start: false });
    try {
      await gw.bots.load(DEMO_BOT_FILE);
      const app = await gw.api('POST', '/api/apps', { name: 'iso' });
      const channel = (await gw.api('POST', '/api/bots/demo/channels', { mode: 'sync', app_id: app.body.client_id })).body;
      const record = (await gw.store.channels.get(channel.id))!;
      const receiveAll = gw.store.conversations.receiveAll.bind(gw.store.conversations);
      gw.store.conversations.receiveAll = async (inputs, run, route, now) => {
        if (inputs.some((i) => i.userKey === 'poison')) throw new Error('the store refused the write');
        return receiveAll(inputs, run, route, now);
      };
      const say = (userKey: string) => gw.turns.handle(record, { userKey, identities: [], payload: { message: { text: 'hello' }, from: { id: userKey } }, eventType: 'message.received' });
      const [a, bad, b] = await Promise.allSettled([say('ok-1'), say('poison'), say('ok-2')]);
      assert.equal(a.status, 'fulfilled');
      assert.equal(b.status, 'fulfilled');
      assert.equal(bad.status, 'rejected');
    } finally {
      await gw.close();
    }
  });
});
