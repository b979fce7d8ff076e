// PostgreSQL: apps (client id + sealed client secret).
import { appFromRow } from '../rows.ts';
import type { AppsRepo } from '../store.ts';
import { Params, type PgDb } from './db.ts';
import { pageClause } from './paging.ts';

export function createAppsRepo(db: PgDb): AppsRepo {
  const get = async (id: string) => {
    const row = await db.get('SELECT * FROM apps WHERE id = $1', [id]);
    return row ? appFromRow(row) : null;
  };
  return {
    async insert(app) {
      await db.run('INSERT INTO apps (id, name, secret_sealed, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)', [app.id, app.name, app.secretSealed, app.createdAt, app.updatedAt]);
    },
    get,
    async byName(name) {
      const row = await db.get('SELECT * FROM apps WHERE name = $1', [name]);
      return row ? appFromRow(row) : null;
    },
    async list(page) {
      const params = new Params();
      return (await db.all(`SELECT * FROM apps ${pageClause(page, [], params)}`, params.values)).map(appFromRow);
    },
    async update(id, patch) {
      await db.run(
        'UPDATE apps SET name = coalesce($1, name), secret_sealed = coalesce($2, secret_sealed), updated_at = coalesce($3, updated_at) WHERE id = $4',
        [patch.name ?? null, patch.secretSealed ?? null, patch.updatedAt ?? null, id],
      );
      return get(id);
    },
    async delete(id) {
      return (await db.run('DELETE FROM apps WHERE id = $1', [id])) === 1;
    },
  };
}
