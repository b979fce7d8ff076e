// An app's HS256 key: opened once for callers that arrive together, the same key object while the secret is
// unchanged (so tokens verified with it stay verified), a new one after a rotation.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createAppService } from '../../src/channels/apps.ts';
import { createManualClock } from '../../src/clock.ts';
import { createSecretBox, parseMasterKey } from '../../src/crypto/secret-box.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { newId } from '../helpers/fixtures.ts';

describe('app signing keys', () => {
  let store: Store;
  afterEach(async () => store.close());

  it('opens a key once for concurrent callers, keeps it while the secret is unchanged, and changes it on rotation', async () => {
    store = createSqliteStore({ file: ':memory:', newId });
    await store.migrate();
    const clock = createManualClock();
    const apps = createAppService({ store, box: createSecretBox(parseMasterKey('test-master-key-0123456789')), clock });
    const { app, secret } = await apps.create({ name: 'shop' });
    let reads = 0;
    const get = store.apps.get.bind(store.apps);
    store.apps.get = async (id) => (reads++, get(id));

    const keys = await Promise.all(Array.from({ length: 20 }, () => apps.signingKey(app.id)));
    assert.equal(reads, 1, 'one read for twenty callers');
    assert.ok(keys.every((k) => k === keys[0]));
    assert.deepEqual(Buffer.from(keys[0]!).toString(), secret);

    clock.advance(60_000);
    const again = await apps.signingKey(app.id);
    assert.equal(reads, 2, 'read again once the cache is old');
    assert.equal(again, keys[0], 'same secret: the same key object');

    const rotated = await apps.rotateSecret(app.id);
    const after = await apps.signingKey(app.id);
    assert.notEqual(after, keys[0]);
    assert.deepEqual(Buffer.from(after!).toString(), rotated.secret);
    assert.equal(await apps.signingKey('cs-missing'), null);
  });

  it('refuses to delete an app a channel uses, however many channels there are (only the newest 1,000 were looked at: the app of an older channel was deleted, and every request to it was 401)', async () => {
    store = createSqliteStore({ file: ':memory:', newId });
    await store.migrate();
    const clock = createManualClock();
    const apps = createAppService({ store, box: createSecretBox(parseMasterKey('test-master-key-0123456789')), clock });
    const { app: other } = await apps.create({ name: 'other' });
    const { app } = await apps.create({ name: 'late' });
    const channel = (i: number, appId: string) => ({
      id: `ch_${String(i).padStart(5, '0')}`, name: null, botId: 'demo', kind: 'kore-webhook', mode: 'sync' as const, appId, endpointId: null,
      syncTimeoutSeconds: 15, provider: 'kore', inboundTokenHash: null, settings: {}, createdAt: 0, updatedAt: 0,
    });
    await store.channels.insert(channel(0, app.id)); // the oldest: lists page newest first
    for (let i = 1; i <= 1000; i++) await store.channels.insert(channel(i, other.id));
    await assert.rejects(apps.delete(app.id), (error: { code?: string }) => error.code === 'BG_ERR_CONFLICT');
    assert.ok(await store.apps.get(app.id), 'the app is kept');
  });
});
