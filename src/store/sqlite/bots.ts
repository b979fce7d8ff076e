// SQLite: loaded bots (definition and knowledge as JSON, with a version bumped on every reload).
import { botFromRow } from '../rows.ts';
import type { BotsRepo } from '../store.ts';
import type { SqliteDb } from './db.ts';

export function createBotsRepo(db: SqliteDb): BotsRepo {
  const get = (id: string) => {
    const row = db.get('SELECT * FROM bots WHERE id = ?', [id]);
    return row ? botFromRow(row) : null;
  };
  return {
    async get(id) {
      return get(id);
    },
    async list() {
      return db.all('SELECT * FROM bots ORDER BY id').map(botFromRow);
    },
    async save(bot, now) {
      return db.tx(() => {
        db.run(
          `INSERT INTO bots (id, name, source, version, definition, knowledge, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, source = excluded.source, version = bots.version + 1,
             definition = excluded.definition, knowledge = excluded.knowledge, updated_at = excluded.updated_at`,
          [bot.id, bot.name, bot.source, bot.definition, bot.knowledge, now, now],
        );
        return get(bot.id)!;
      });
    },
    async delete(id) {
      return db.run('DELETE FROM bots WHERE id = ?', [id]).changes === 1;
    },
  };
}
