// SQLite: handoff sessions and agents.
import { agentFromRow, handoffFromRow } from '../rows.ts';
import type { AgentsRepo, HandoffsRepo } from '../store.ts';
import type { SqliteDb } from './db.ts';
import { pageClause } from './paging.ts';

export function createHandoffsRepo(db: SqliteDb): HandoffsRepo {
  return {
    async get(id) {
      const row = db.get('SELECT * FROM handoffs WHERE id = ?', [id]);
      return row ? handoffFromRow(row) : null;
    },
    async list(filter, page) {
      const where: string[] = [];
      const params: Record<string, string> = {};
      if (filter.status === 'open') where.push("status IN ('waiting', 'active')");
      else if (filter.status) (where.push('status = :status'), (params.status = filter.status));
      if (filter.agentId) (where.push('agent_id = :agent_id'), (params.agent_id = filter.agentId));
      if (filter.conversationId) (where.push('conversation_id = :conversation_id'), (params.conversation_id = filter.conversationId));
      const { clause, extra } = pageClause(page, where);
      return db.all(`SELECT * FROM handoffs ${clause}`, { ...params, ...extra }).map(handoffFromRow);
    },
    async waitingSince(before, limit) {
      return db.all(`SELECT * FROM handoffs WHERE status = 'waiting' AND requested_at < ? ORDER BY requested_at LIMIT ?`, [before, limit]).map(handoffFromRow);
    },
  };
}

export function createAgentsRepo(db: SqliteDb): AgentsRepo {
  const get = (id: string) => {
    const row = db.get('SELECT * FROM agents WHERE id = ?', [id]);
    return row ? agentFromRow(row) : null;
  };
  return {
    async insert(a) {
      db.run('INSERT INTO agents (id, name, token_hash, is_active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)', [a.id, a.name, a.tokenHash, a.isActive ? 1 : 0, a.createdAt, a.updatedAt]);
    },
    async get(id) {
      return get(id);
    },
    async byTokenHash(hash) {
      const row = db.get('SELECT * FROM agents WHERE token_hash = ?', [hash]);
      return row ? agentFromRow(row) : null;
    },
    async list(page) {
      const { clause, extra } = pageClause(page, []);
      return db.all(`SELECT * FROM agents ${clause}`, extra).map(agentFromRow);
    },
    async update(id, patch) {
      db.run(
        'UPDATE agents SET name = coalesce(?, name), token_hash = coalesce(?, token_hash), is_active = coalesce(?, is_active), updated_at = coalesce(?, updated_at) WHERE id = ?',
        [patch.name ?? null, patch.tokenHash ?? null, patch.isActive === undefined ? null : patch.isActive ? 1 : 0, patch.updatedAt ?? null, id],
      );
      return get(id);
    },
  };
}
