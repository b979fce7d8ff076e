// SQLite: endpoint rows.
import { endpointColumns, endpointFromRow } from '../rows.ts';
import type { EndpointsRepo } from '../store.ts';
import { insertSql, type SqliteDb } from './db.ts';
import type { PublishInTx } from './messages.ts';
import { pageClause } from './paging.ts';

const bool = (b: boolean) => (b ? 1 : 0);

// An enabled endpoint's pending deliveries waiting for a later retry (tried before: not one the rate limit holds back).
const DUE_NOW_SQL = `UPDATE deliveries SET next_attempt_at = ?2 WHERE endpoint_id = ?1 AND status = 'pending' AND attempts > 0 AND next_attempt_at > ?2`;
// An endpoint no longer ordered: its waiting deliveries leave their sequences (none stays behind a failing head).
const UNORDER_SQL = `UPDATE deliveries SET ordering_key = NULL WHERE endpoint_id = ? AND status = 'pending' AND ordering_key IS NOT NULL`;

export function createEndpointsRepo(db: SqliteDb, publishInTx: PublishInTx, idempotencyTtlMs: () => number): EndpointsRepo {
  const get = (id: string) => {
    const row = db.get('SELECT * FROM endpoints WHERE id = ?', [id]);
    return row ? endpointFromRow(row) : null;
  };
  return {
    async insert(endpoint) {
      const { sql, params } = insertSql('endpoints', endpointColumns(endpoint, bool));
      db.run(sql, params);
    },
    async get(id) {
      return get(id);
    },
    async list(filter, page) {
      const where: string[] = [];
      const params: Record<string, string | number> = {};
      if (filter.provider !== undefined) {
        where.push('provider = :provider');
        params.provider = filter.provider;
      }
      if (filter.isActive !== undefined) {
        where.push('is_active = :active');
        params.active = bool(filter.isActive);
      }
      if (filter.name !== undefined) {
        where.push('name = :name');
        params.name = filter.name;
      }
      const { clause, extra } = pageClause(page, where);
      return db.all(`SELECT * FROM endpoints ${clause}`, { ...params, ...extra }).map(endpointFromRow);
    },
    async update(id, patch) {
      const columns = endpointColumns(patch, bool);
      const keys = Object.keys(columns);
      if (keys.length > 0) {
        db.tx(() => {
          db.run(`UPDATE endpoints SET ${keys.map((k) => `${k} = :${k}`).join(', ')} WHERE id = :__id`, { ...(columns as Record<string, string>), __id: id });
          if (patch.ordered === false) db.run(UNORDER_SQL, [id]);
        });
      }
      return get(id);
    },
    async delete(id) {
      return db.tx(() => {
        db.run('DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE endpoint_id = ?)', [id]);
        db.run('DELETE FROM deliveries WHERE endpoint_id = ?', [id]);
        return db.run('DELETE FROM endpoints WHERE id = ?', [id]).changes === 1;
      });
    },
    async setActive(id, active, reason, now, announce) {
      return db.tx(() => {
        const { changes } = db.run(
          `UPDATE endpoints SET is_active = :active, disabled_reason = :reason, disabled_at = :disabled_at,
             failing_since = CASE WHEN :active = 1 THEN NULL ELSE failing_since END, updated_at = :now
           WHERE id = :id AND is_active <> :active`,
          { id, active: bool(active), reason: active ? null : reason, disabled_at: active ? null : now, now },
        );
        // Enabled again: what waited for a retry while the endpoint was off is due now (it was mended: try it).
        if (changes === 1 && active) db.run(DUE_NOW_SQL, [id, now]);
        const endpoint = get(id);
        if (changes === 1 && endpoint && announce) {
          const { message, route } = announce(endpoint);
          publishInTx([message], route, { now, idempotencyTtlMs: idempotencyTtlMs() });
        }
        return { changed: changes === 1, endpoint };
      });
    },
  };
}
