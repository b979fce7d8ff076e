// SQLite: every sealed value sealed again in one transaction (a master key rotation).
import { resealRow, SEALED_TABLES, sealedSql } from '../sealed-values.ts';
import type { SecretsRepo } from '../store.ts';
import type { SqliteDb } from './db.ts';

export function createSecretsRepo(db: SqliteDb): SecretsRepo {
  return {
    // One gateway process per SQLite file: the caller holds the server lock, so none is running.
    async resealAll(reseal, check) {
      return db.tx(() => {
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
    },
    // A gateway takes the server lock before its check, and rotate holds it throughout: the one that comes second is refused.
    checkingKey: (check) => check(),
  };
}
