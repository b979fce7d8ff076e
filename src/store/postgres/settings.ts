// PostgreSQL: key/value settings (the admin token hash, …).
import type { SettingsRepo } from '../store.ts';
import type { PgDb } from './db.ts';

export function createSettingsRepo(db: PgDb): SettingsRepo {
  return {
    async get(key) {
      const row = await db.get('SELECT value FROM settings WHERE key = $1', [key]);
      return row ? String(row.value) : null;
    },
    async set(key, value) {
      await db.run('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
    },
    async setIfAbsent(key, value) {
      return (await db.run('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [key, value])) === 1;
    },
  };
}
