// SQLite: key/value settings (the admin token hash, …).
import type { SettingsRepo } from '../store.ts';
import type { SqliteDb } from './db.ts';

export function createSettingsRepo(db: SqliteDb): SettingsRepo {
  return {
    async get(key) {
      const row = db.get('SELECT value FROM settings WHERE key = ?', [key]);
      return row ? String(row.value) : null;
    },
    async set(key, value) {
      db.run('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
    },
    async setIfAbsent(key, value) {
      return db.run('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING', [key, value]).changes === 1;
    },
  };
}
