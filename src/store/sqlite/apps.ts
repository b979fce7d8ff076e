// SQLite: apps (client id + sealed client secret).
import { appFromRow } from '../rows.ts';
import type { AppsRepo } from '../store.ts';
import type { SqliteDb } from './db.ts';
import { pageClause } from './paging.ts';

export function createAppsRepo(db: SqliteDb): AppsRepo {
  const get = (id: string) => {
    const row = db.get('SELECT * FROM apps WHERE id = ?', [id]);
    return row ? appFromRow(row) : null;
  };
  return {
    async insert(app) {
      db.run('INSERT INTO apps (id, name, secret_sealed, created_at, updated_at) VALUES (?, ?, ?, ?, ?)', [app.id, app.name, app.secretSealed, app.createdAt, app.updatedAt]);
    },
    async get(id) {
      return get(id);
    },
    async byName(name) {
      const row = db.get('SELECT * FROM apps WHERE name = ?', [name]);
      return row ? appFromRow(row) : null;
    },
    async list(page) {
      const { clause, extra } = pageClause(page, []);
      return db.all(`SELECT * FROM apps ${clause}`, extra).map(appFromRow);
    },
    async update(id, patch) {
      db.run(
        'UPDATE apps SET name = coalesce(?, name), secret_sealed = coalesce(?, secret_sealed), updated_at = coalesce(?, updated_at) WHERE id = ?',
        [patch.name ?? null, patch.secretSealed ?? null, patch.updatedAt ?? null, id],
      );
      return get(id);
    },
    async delete(id) {
      return db.run('DELETE FROM apps WHERE id = ?', [id]).changes === 1;
    },
  };
}
