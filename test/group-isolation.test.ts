// Group commits (events decided together, incoming messages stored together, publishes stored together) keep one caller's failure to
// itself: the store refusing one caller's writes fails that caller alone, the others that shared the group succeed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createGroupCommit, ItemFailed } from '../src/group-commit.ts';
import { DEMO_BOT_FILE } from '../src/provision.ts';
import { startTestGateway, type TestGateway } from './helpers/gateway.ts';

describe('group commit isolation', () => {
  /** The store's notify commits fail with `error` for a group holding a decision of `userId`; counts the commits. */
  function failCommitsOf(gw: TestGateway, userId: string, error: Error): { runs: number } {
    const counted = { runs: 0 };
    const commit = gw.store.notify.commit.bind(gw.store.notify);
    gw.store.notify.commit = async (writes, route, now) => {
      counted.runs++;
      if (writes.decisions.some((d) => d.userId === userId)) throw error;
      return commit(writes, route, now);
    };
    return counted;
  }
  const decide = (gw: TestGateway, userId: string) => gw.notify.engine.decide([{ userId, eventType: 'payment_failed', params: {} }]);

  it('fails only the caller whose item the store refused on its own (ItemFailed); the others and the after hook go on', async () => {
    const afterSaw: string[] = [];
    const runs: string[][] = [];
    const grouped = createGroupCommit(async (items: string[]) => {
      runs.push(items);
      return items.map((i) => (i === 'held-bad' ? new ItemFailed(new Error('refused apart')) : i.toUpperCase()));
    }, { after: (items) => afterSaw.push(...items) });
    const settled = await Promise.allSettled([grouped(['a']), grouped(['held-bad']), grouped(['b', 'c'])]);
    assert.deepEqual(settled.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.deepEqual(settled[2].status === 'fulfilled' && settled[2].value, ['B', 'C']);
    assert.equal(runs.length, 1, 'one group, not retried piece by piece: the rest is stored');
    assert.deepEqual(afterSaw, ['a', 'b', 'c']);
  });

  it('decides the other callers\' events when the store refuses one caller\'s', async () => {
    const gw = await startTestGateway({}, { start: false });
    try {
      failCommitsOf(gw, 'poison', new Error('the store refused the write'));
      const [a, bad, b] = await Promise.allSettled([decide(gw, 'ok-1'), decide(gw, 'poison'), decide(gw, 'ok-2')]);
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
      const commits = failCommitsOf(gw, 'lost', Object.assign(new Error('Connection terminated unexpectedly'), { code: '08006' }));
      const settled = await Promise.allSettled([decide(gw, 'a-1'), decide(gw, 'lost'), decide(gw, 'a-2')]);
      assert.deepEqual(settled.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
      assert.equal(commits.runs, 1, 'tried once: a retry could store it twice');
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
  /** Counts the store's publish transactions; refuses any holding a message of `poison`. */
  function countPublishes(gw: TestGateway, poison?: string): { runs: number[] } {
    const counted = { runs: [] as number[] };
    const publish = gw.store.messages.publish.bind(gw.store.messages);
    gw.store.messages.publish = async (messages, route, options) => {
      counted.runs.push(messages.length);
      if (messages.some((m) => m.eventType === poison)) throw new Error('the store refused the write');
      return publish(messages, route, options);
    };
    return counted;
  }

  it('stores publishes made together in one transaction, each caller getting its own messages back', async () => {
    const gw = await startTestGateway({}, { start: false });
    try {
      const publishes = countPublishes(gw);
      const types = ['order.a', 'order.b', 'order.c', 'order.d'];
      const results = await Promise.all(types.map((t, i) => gw.outbox.publishMany(Array.from({ length: i + 1 }, (_, n) => ({ eventType: t, payload: { n } })))));
      assert.deepEqual(publishes.runs, [10], 'one transaction for the four callers');
      assert.deepEqual(results.map((r) => r.map((p) => `${p.message.eventType}:${JSON.parse(p.message.payload!).n}`)), types.map((t, i) => Array.from({ length: i + 1 }, (_, n) => `${t}:${n}`)));
      for (const [i, t] of types.entries()) assert.equal((await gw.api('GET', `/api/messages?event_type=${t}`)).body.data.length, i + 1);
    } finally {
      await gw.close();
    }
  });

  it('stores the other publishes when the store refuses one caller\'s', async () => {
    const gw = await startTestGateway({}, { start: false });
    try {
      const publishes = countPublishes(gw, 'poison');
      const publish = (eventType: string) => gw.outbox.publish({ eventType, payload: {} });
      const [a, bad, b] = await Promise.allSettled([publish('ok.one'), publish('poison'), publish('ok.two')]);
      assert.deepEqual([a.status, bad.status, b.status], ['fulfilled', 'rejected', 'fulfilled']);
      assert.deepEqual(publishes.runs, [3, 1, 1, 1], 'the group refused, then each caller alone');
      assert.equal((await gw.api('GET', '/api/messages?event_type=ok.two')).body.data.length, 1);
    } finally {
      await gw.close();
    }
  });
});
