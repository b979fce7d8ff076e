// PostgreSQL: shared counters (rate limits), added to atomically by every gateway process.
import type { CountersRepo } from '../store.ts';
import type { PgDb } from './db.ts';

export function createCountersRepo(db: PgDb): CountersRepo {
  return {
    async add(key, amount, expiresAt) {
      const row = await db.get(
        `INSERT INTO counters (key, count, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET count = counters.count + excluded.count
         RETURNING count`,
        [key, amount, expiresAt],
      );
      return Number(row?.count ?? amount);
    },
    async purgeExpired(now) {
      return db.run('DELETE FROM counters WHERE expires_at < $1', [now]);
    },
  };
}
