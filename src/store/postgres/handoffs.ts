// PostgreSQL: handoff sessions and agents.
import { agentFromRow, handoffFromRow } from '../rows.ts';
import type { AgentsRepo, HandoffsRepo } from '../store.ts';
import { Params, type PgDb } from './db.ts';
import { pageClause } from './paging.ts';

export function createHandoffsRepo(db: PgDb): HandoffsRepo {
  return {
    async get(id) {
      const row = await db.get('SELECT * FROM handoffs WHERE id = $1', [id]);
      return row ? handoffFromRow(row) : null;
    },
    async list(filter, page) {
      const params = new Params();
      const where: string[] = [];
      if (filter.status === 'open') where.push("status IN ('waiting', 'active')");
      else if (filter.status) where.push(`status = ${params.add(filter.status)}`);
      if (filter.agentId) where.push(`agent_id = ${params.add(filter.agentId)}`);
      if (filter.conversationId) where.push(`conversation_id = ${params.add(filter.conversationId)}`);
      return (await db.all(`SELECT * FROM handoffs ${pageClause(page, where, params)}`, params.values)).map(handoffFromRow);
    },
    async waitingSince(before, limit) {
      return (await db.all(`SELECT * FROM handoffs WHERE status = 'waiting' AND requested_at < $1 ORDER BY requested_at LIMIT $2`, [before, limit])).map(handoffFromRow);
    },
  };
}

export function createAgentsRepo(db: PgDb): AgentsRepo {
  const get = async (id: string) => {
    const row = await db.get('SELECT * FROM agents WHERE id = $1', [id]);
    return row ? agentFromRow(row) : null;
  };
  return {
    async insert(a) {
      await db.run('INSERT INTO agents (id, name, token_hash, is_active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)', [a.id, a.name, a.tokenHash, a.isActive, a.createdAt, a.updatedAt]);
    },
    get,
    async byTokenHash(hash) {
      const row = await db.get('SELECT * FROM agents WHERE token_hash = $1', [hash]);
      return row ? agentFromRow(row) : null;
    },
    async list(page) {
      const params = new Params();
      return (await db.all(`SELECT * FROM agents ${pageClause(page, [], params)}`, params.values)).map(agentFromRow);
    },
    async update(id, patch) {
      await db.run(
        'UPDATE agents SET name = coalesce($1, name), token_hash = coalesce($2, token_hash), is_active = coalesce($3, is_active), updated_at = coalesce($4, updated_at) WHERE id = $5',
        [patch.name ?? null, patch.tokenHash ?? null, patch.isActive ?? null, patch.updatedAt ?? null, id],
      );
      return get(id);
    },
  };
}
