// PostgreSQL: every sealed value sealed again in one transaction (a master key rotation), refused while a gateway runs.
import { resealRow, SEALED_TABLES, sealedSql } from '../sealed-values.ts';
import type { SecretsRepo } from '../store.ts';
import type { PgDb } from './db.ts';
import { liveWorkers } from './liveness.ts';

export function createSecretsRepo(db: PgDb): SecretsRepo {
  return {
    async resealAll(reseal, check) {
      return db.tx(async (sql) => {
        const running = (await sql.all(liveWorkers(db))).map((r) => String(r.id));
        if (running.length) return { running };
        let resealed = 0;
        for (const t of SEALED_TABLES) {
          const { select, update } = sealedSql(t, '$');
          // FOR UPDATE: a change made meanwhile (by a process that should not be running) waits, rather than being lost.
          for (const row of await sql.all(`${select} FOR UPDATE`)) {
            const changed = resealRow(t, row, reseal);
            if (!changed) continue;
            await sql.run(update, changed.params);
            resealed += changed.count;
          }
        }
        await sql.run('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [check.key, check.value]);
        return { resealed };
      });
    },
  };
}
