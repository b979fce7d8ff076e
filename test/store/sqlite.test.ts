// The conformance suite on the embedded SQLite backend (in memory and on a file).
import { mkdtempSync } from 'node:fs';
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
