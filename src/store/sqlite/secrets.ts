// SQLite: every sealed value sealed again in one transaction (a master key rotation), apart from CLI commands' key checks and writes.
import { dirname } from 'node:path';
import { resealRow, SEALED_TABLES, sealedSql } from '../sealed-values.ts';
import type { SecretsRepo } from '../store.ts';
import type { SqliteDb } from './db.ts';
import { createKeyLock } from './key-lock.ts';

export function createSecretsRepo(db: SqliteDb, file: string): SecretsRepo {
  // A store in memory is one process's: nothing to keep apart.
  const keyLock = file === ':memory:' ? null : createKeyLock(dirname(file));
  return {
    // One gateway process per SQLite file: the caller holds the server lock, so none is running. CLI commands may be:
    // the key lock waits for them (taken before the write transaction, which their writes would otherwise wait for).
    async resealAll(reseal, check, onWait, onCommitted) {
      const release = keyLock?.exclusive(onWait);
      try {
        const result = db.tx(() => {
          let resealed = 0;
          for (const t of SEALED_TABLES) {
            const { select, update } = sealedSql(t, '?');
            for (const row of db.all(select)) {
              const changed = resealRow(t, row, reseal);
              if (!changed) continue;
              db.run(update, changed.params);
              resealed += changed.count;
            }
          }
          db.run('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [check.key, check.value]);
          return { resealed };
        });
        onCommitted?.();
        return result;
      } finally {
        release?.();
      }
    },
    // A gateway takes the server lock before its check, and rotate holds it throughout: the one that comes second is refused.
    checkingKey: (check) => check(),
    async holdingKey() {
      const release = keyLock?.shared();
      return async () => release?.();
    },
  };
}
