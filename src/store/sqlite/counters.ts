// SQLite: shared counters (rate limits).
import type { CountersRepo } from '../store.ts';
import type { SqliteDb } from './db.ts';

export function createCountersRepo(db: SqliteDb): CountersRepo {
  return {
    async add(key, amount, expiresAt) {
      const row = db.get(
        `INSERT INTO counters (key, count, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET count = count + excluded.count
         RETURNING count`,
        [key, amount, expiresAt],
      );
      return Number(row?.count ?? amount);
    },
    async purgeExpired(now) {
      return db.run('DELETE FROM counters WHERE expires_at < ?', [now]).changes;
    },
  };
}
