// The key click links are signed with, on SQLite and PostgreSQL: a database from before it was stored (it was
// derived from the master key at every start) stores that very key at its first start, so links sent before the
// upgrade still count their clicks; gateways starting at once on one database store one key and agree on it.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createSecretBox, parseMasterKey } from '../../src/crypto/secret-box.ts';
import { createIdGenerator } from '../../src/ids.ts';
import { LINK_KEY_SETTING } from '../../src/notify/link-key.ts';
import { openStore } from '../../src/store/create-store.ts';
import type { NotificationRecord } from '../../src/store/notify-records.ts';
import { testBackends } from '../helpers/backends.ts';
import { MASTER_KEY, startTestGateway, testConfig } from '../helpers/gateway.ts';
import { freshSchema } from '../helpers/postgres.ts';
import { tempDataDir } from '../helpers/process.ts';

/** A click token as botgate signed it before the key was stored: under HMAC(master key, 'botgate click links'). */
function tokenBeforeUpgrade(id: string): string {
  const key = createHmac('sha256', parseMasterKey(MASTER_KEY)).update('botgate click links').digest();
  return `${id}.${createHmac('sha256', key).update(id).digest('base64url').slice(0, 22)}`;
}

for (const backend of await testBackends()) describe(`the click link key (${backend.name})`, { skip: backend.skip }, () => {
  const drops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const drop of drops) await drop();
  });
  async function freshEnv(): Promise<Record<string, string>> {
    const env = { BOTGATE_DATA_DIR: tempDataDir(), BOTGATE_NOTIFY__PRODUCER_KEY: 'test-producer-key-0123456789' };
    if (!backend.url) return env;
    const schema = await freshSchema(backend.url);
    drops.push(schema.drop);
    return { ...env, BOTGATE_DATABASE_URL: backend.url, BOTGATE_DATABASE_SCHEMA: schema.schema };
  }

  it('is, on a database from before it was stored, the key derived from the master key: links sent before the upgrade count their clicks', async () => {
    const env = await freshEnv();
    // The database as the previous version left it: migrated, a notification sent, no link key stored.
    const { store } = await openStore(testConfig(env), createIdGenerator({ now: () => Date.now() }), true);
    const now = Date.now();
    const sent: NotificationRecord = {
      id: 'ntf_before_upgrade', userId: 'usr_before_upgrade', eventType: 'offer', status: 'sent', reason: null, critical: false, variant: 'a',
      text: 'Offer', params: { url: 'https://shop.example/offer' }, eventKey: 'k', occurredAt: now, dueAt: null, expiresAt: now + 86_400_000,
      sentAt: now, clickedAt: null, destination: null, messageId: null, createdAt: now, updatedAt: now,
    };
    try {
      assert.equal(await store.settings.get(LINK_KEY_SETTING), null);
      await store.notify.commit({ newUsers: [{ id: sent.userId, tz: null }], keys: [], decisions: [], notifications: [sent], engagement: [], typeStats: [], messages: [] }, () => [], now);
    } finally {
      await store.close();
    }

    const gw = await startTestGateway(env, { start: false });
    try {
      const stored = await gw.store.settings.get(LINK_KEY_SETTING);
      assert.ok(stored, 'the first start stores the key');
      assert.equal(createSecretBox(parseMasterKey(MASTER_KEY)).open(stored), createHmac('sha256', parseMasterKey(MASTER_KEY)).update('botgate click links').digest('base64'));
      assert.ok(!stored.includes(createHmac('sha256', parseMasterKey(MASTER_KEY)).update('botgate click links').digest('base64')), 'sealed, not in clear');
      const token = tokenBeforeUpgrade(sent.id);
      assert.equal(gw.notify.links.token(sent.id), token, 'links are signed as before');
      const click = await fetch(`${await gw.listen()}/r/${token}`, { redirect: 'manual' });
      assert.equal(click.status, 302, await click.text());
      assert.equal(click.headers.get('location'), 'https://shop.example/offer');
      assert.ok((await gw.store.notify.notification(sent.id))?.clickedAt, 'the click is counted');
    } finally {
      await gw.close();
    }
  });

  it('is stored once when gateways start at once on a new database, and every one signs with it', async () => {
    const env = await freshEnv();
    // Four at once on PostgreSQL; on SQLite one process owns the file, so they start one after another.
    const starts = backend.url
      ? await Promise.all([1, 2, 3, 4].map(() => startTestGateway(env, { start: false })))
      : [await startTestGateway(env, { start: false })];
    if (!backend.url) {
      await starts[0].close();
      starts.push(await startTestGateway(env, { start: false }));
    }
    try {
      const stored = await starts.at(-1)!.store.settings.get(LINK_KEY_SETTING);
      assert.ok(stored);
      const tokens = new Set(starts.map((gw) => gw.notify.links.token('ntf_x')));
      assert.deepEqual([...tokens], [tokenBeforeUpgrade('ntf_x')]);
    } finally {
      for (const gw of starts) await gw.close().catch(() => {});
    }
  });
});
