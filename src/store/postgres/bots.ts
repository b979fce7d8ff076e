// PostgreSQL: loaded bots (definition and knowledge as JSON, with a version bumped on every reload).
import { botFromRow } from '../rows.ts';
import type { BotsRepo } from '../store.ts';
import type { PgDb } from './db.ts';

export function createBotsRepo(db: PgDb): BotsRepo {
  return {
    async get(id) {
      const row = await db.get('SELECT * FROM bots WHERE id = $1', [id]);
      return row ? botFromRow(row) : null;
    },
    async list() {
      return (await db.all('SELECT * FROM bots ORDER BY id')).map(botFromRow);
    },
    async save(bot, now) {
      const row = await db.get(
        `INSERT INTO bots (id, name, source, version, definition, knowledge, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $5, $6, $6)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, source = excluded.source, version = bots.version + 1,
           definition = excluded.definition, knowledge = excluded.knowledge, updated_at = excluded.updated_at
         RETURNING *`,
        [bot.id, bot.name, bot.source, bot.definition, bot.knowledge, now],
      );
      return botFromRow(row!);
    },
    async delete(id) {
      return (await db.run('DELETE FROM bots WHERE id = $1', [id])) === 1;
    },
  };
}
