// Agents: the people who take conversations over. The admin API issues each one a token (shown once, stored
// as a hash); agent routes authenticate with it, and every agent action carries the agent's id.
import type { Clock } from '../clock.ts';
import { checkName } from '../ranges.ts';
import { generateToken, hashToken } from '../crypto/tokens.ts';
import { BotgateError } from '../errors.ts';
import type { IdPrefix } from '../ids.ts';
import type { AgentRecord, PageRequest, Store } from '../store/store.ts';

export type AgentService = ReturnType<typeof createAgentService>;

export function createAgentService(deps: { store: Store; clock: Clock; newId: (p: IdPrefix) => string }) {
  const { store, clock } = deps;
  const byToken = new Map<string, { agent: AgentRecord | null; at: number }>();

  async function get(id: string): Promise<AgentRecord> {
    const agent = await store.agents.get(id);
    if (!agent) throw new BotgateError('BG_ERR_AGENT_NOT_FOUND', `No agent ${id}`);
    return agent;
  }

  return {
    get,
    list: (page: PageRequest) => store.agents.list(page),

    async create(name: string): Promise<{ agent: AgentRecord; token: string }> {
      checkName('name', name);
      const token = generateToken('bga');
      const now = clock.now();
      const agent: AgentRecord = { id: deps.newId('agt'), name, tokenHash: hashToken(token), isActive: true, createdAt: now, updatedAt: now };
      await store.agents.insert(agent);
      return { agent, token };
    },

    async update(id: string, patch: { name?: string; is_active?: boolean }): Promise<AgentRecord> {
      if (patch.name !== undefined) checkName('name', patch.name);
      await get(id);
      byToken.clear();
      return (await store.agents.update(id, { name: patch.name, isActive: patch.is_active, updatedAt: clock.now() }))!;
    },

    /** A new token; the old one stops working at once. */
    async rotateToken(id: string): Promise<{ agent: AgentRecord; token: string }> {
      await get(id);
      const token = generateToken('bga');
      byToken.clear();
      const agent = (await store.agents.update(id, { tokenHash: hashToken(token), updatedAt: clock.now() }))!;
      return { agent, token };
    },

    /** The active agent a token belongs to (cached for a moment; changes here clear it). */
    async authenticate(token: string): Promise<AgentRecord | null> {
      const hash = hashToken(token);
      const cached = byToken.get(hash);
      if (cached && clock.now() - cached.at < 2000) return cached.agent;
      const agent = await store.agents.byTokenHash(hash);
      const found = agent?.isActive ? agent : null;
      if (byToken.size > 10_000) byToken.clear();
      byToken.set(hash, { agent: found, at: clock.now() });
      return found;
    },
  };
}

export function agentView(agent: AgentRecord) {
  return { id: agent.id, name: agent.name, is_active: agent.isActive, created_at: new Date(agent.createdAt).toISOString(), updated_at: new Date(agent.updatedAt).toISOString() };
}
