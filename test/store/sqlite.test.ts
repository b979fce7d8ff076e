// The conformance suite on the embedded SQLite backend (in memory and on a file), and what only SQLite has: the
// decisions user index written behind the decisions (store/sqlite/decision-index.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { newId } from '../helpers/fixtures.ts';
import { runStoreConformance } from './conformance.case.ts';
import { runNotifyConformance } from './notify.case.ts';

const open = async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'botgate-store-')), 'botgate.db');
  const store = createSqliteStore({ file, newId });
  await store.migrate();
  return store;
};

runStoreConformance('sqlite', open);
runNotifyConformance('sqlite', open, { settle: (store) => (store as SqliteStore).flushDeferred() });

describe('sqlite: the decisions user index', () => {
  it('stays complete when its watermark is lost, and writes a new one', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'botgate-store-')), 'botgate.db');
    const store = createSqliteStore({ file, newId });
    await store.migrate();
    const decision = (userId: string, n: number) => ({
      id: newId('dec'), userId, eventType: 'promo', decision: 'skip' as const, reason: 'below_value', score: 0.1, variant: null, notificationId: null,
      eventKey: `key-${n}`, params: {}, occurredAt: n, decidedAt: n, duplicateOf: null,
    });
    const commit = (ds: ReturnType<typeof decision>[]) =>
      store.notify.commit({ newUsers: [], keys: [], decisions: ds, notifications: [], engagement: [], typeStats: [], messages: [] }, () => [], 1);
    await commit([decision('u1', 1), decision('u2', 2), decision('u1', 3)]);
    await store.flushDeferred();
    const raw = new DatabaseSync(file);
    raw.exec('PRAGMA busy_timeout = 1000');
    const watermark = () => raw.prepare("SELECT value FROM settings WHERE key = 'notify.decision_users_seq'").get()?.value;
    assert.equal(watermark(), '3');
    raw.exec("DELETE FROM settings WHERE key = 'notify.decision_users_seq'");
    await commit([decision('u1', 4)]);
    assert.deepEqual((await store.notify.decisions({ userId: 'u1' }, { limit: 10 })).map((d) => d.occurredAt), [4, 3, 1]);
    await store.flushDeferred();
    assert.equal(watermark(), '4');
    assert.deepEqual((await store.notify.decisions({ userId: 'u1' }, { limit: 10 })).map((d) => d.occurredAt), [4, 3, 1]);
    assert.deepEqual((await store.notify.decisions({ userId: 'u2' }, { limit: 10 })).map((d) => d.occurredAt), [2]);
    raw.close();
    await store.close();
  });
});
