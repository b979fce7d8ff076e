// PostgreSQL: endpoint rows.
import { endpointColumns, endpointFromRow } from '../rows.ts';
import type { EndpointsRepo } from '../store.ts';
import { Params, type PgDb, type Sql } from './db.ts';
import type { PublishInTx } from './messages.ts';
import { pageClause } from './paging.ts';

const bool = (b: boolean) => b;

export function createEndpointsRepo(db: PgDb, publishInTx: PublishInTx, idempotencyTtlMs: () => number): EndpointsRepo {
  const get = async (id: string) => {
    const row = await db.get('SELECT * FROM endpoints WHERE id = $1', [id]);
    return row ? endpointFromRow(row) : null;
  };
  return {
    async insert(endpoint) {
      const columns = endpointColumns(endpoint, bool);
      const keys = Object.keys(columns);
      await db.run(
        `INSERT INTO endpoints (${keys.join(', ')}) VALUES (${keys.map((_, i) => `$${i + 1}`).join(', ')})`,
        Object.values(columns),
      );
    },
    async get(id) {
      return get(id);
    },
    async list(filter, page) {
      const params = new Params();
      const where: string[] = [];
      if (filter.provider !== undefined) where.push(`provider = ${params.add(filter.provider)}`);
      if (filter.isActive !== undefined) where.push(`is_active = ${params.add(filter.isActive)}`);
      if (filter.name !== undefined) where.push(`name = ${params.add(filter.name)}`);
      const rows = await db.all(`SELECT * FROM endpoints ${pageClause(page, where, params)}`, params.values);
      return rows.map(endpointFromRow);
    },
    async update(id, patch) {
      const columns = endpointColumns(patch, bool);
      const keys = Object.keys(columns);
      if (keys.length === 0) return get(id);
      const params = new Params();
      const set = keys.map((k) => `${k} = ${params.add(columns[k])}`).join(', ');
      const sql = `UPDATE endpoints SET ${set} WHERE id = ${params.add(id)} RETURNING *`;
      // No longer ordered: its waiting deliveries leave their sequences (none stays behind a failing head).
      const row = patch.ordered !== false ? await db.get(sql, params.values) : await db.tx(async (tx) => {
        const updated = await tx.get(sql, params.values);
        await tx.run(`UPDATE deliveries SET ordering_key = NULL WHERE endpoint_id = $1 AND status = 'pending' AND ordering_key IS NOT NULL`, [id]);
        return updated;
      });
      return row ? endpointFromRow(row) : null;
    },
    async delete(id) {
      return db.tx(async (sql) => {
        await sql.run('DELETE FROM attempts WHERE endpoint_id = $1', [id]);
        await sql.run('DELETE FROM deliveries WHERE endpoint_id = $1', [id]);
        return (await sql.run('DELETE FROM endpoints WHERE id = $1', [id])) === 1;
      });
    },
    async setActive(id, active, reason, now, announce) {
      // The WHERE clause is re-checked on the latest row version after a concurrent update, so of two
      // callers flipping the same way only the first changes the row.
      const flip = (sql: Sql) => sql.get(
        `UPDATE endpoints SET is_active = $2::boolean, disabled_reason = $3, disabled_at = $4,
           failing_since = CASE WHEN $2 THEN NULL ELSE failing_since END, updated_at = $5
         WHERE id = $1 AND is_active <> $2
         RETURNING *`,
        [id, active, active ? null : reason, active ? null : now, now],
      );
      const row = !announce && !active ? await flip(db) : await db.tx(async (sql) => {
        const flipped = await flip(sql);
        // Enabled again: what waited for a retry while the endpoint was off is due now (it was mended: try it).
        if (flipped && active) await sql.run(`UPDATE deliveries SET next_attempt_at = $2 WHERE endpoint_id = $1 AND status = 'pending' AND attempts > 0 AND next_attempt_at > $2`, [id, now]);
        if (flipped && announce) {
          const { message, route } = announce(endpointFromRow(flipped));
          await publishInTx(sql, [message], route, now - idempotencyTtlMs());
        }
        return flipped;
      });
      if (row) return { changed: true, endpoint: endpointFromRow(row) };
      return { changed: false, endpoint: await get(id) };
    },
  };
}
