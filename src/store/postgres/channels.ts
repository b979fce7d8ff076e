// PostgreSQL: channels (inbound connections of bots).
import { channelFromRow } from '../rows.ts';
import type { ChannelsRepo } from '../store.ts';
import { Params, type PgDb } from './db.ts';
import { pageClause } from './paging.ts';

export function createChannelsRepo(db: PgDb): ChannelsRepo {
  const get = async (id: string) => {
    const row = await db.get('SELECT * FROM channels WHERE id = $1', [id]);
    return row ? channelFromRow(row) : null;
  };
  return {
    async insert(c) {
      await db.run(
        `INSERT INTO channels (id, name, bot_id, kind, mode, app_id, endpoint_id, sync_timeout_seconds, provider, inbound_token_hash, settings, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
        [c.id, c.name, c.botId, c.kind, c.mode, c.appId, c.endpointId, c.syncTimeoutSeconds, c.provider, c.inboundTokenHash, JSON.stringify(c.settings), c.createdAt, c.updatedAt],
      );
    },
    get,
    async forBot(botId) {
      return (await db.all('SELECT * FROM channels WHERE bot_id = $1 ORDER BY id', [botId])).map(channelFromRow);
    },
    async list(page) {
      const params = new Params();
      return (await db.all(`SELECT * FROM channels ${pageClause(page, [], params)}`, params.values)).map(channelFromRow);
    },
    async update(id, patch) {
      const params = new Params();
      const sets: string[] = [];
      const set = (column: string, value: string | number | null | undefined) => {
        if (value !== undefined) sets.push(`${column} = ${params.add(value)}`);
      };
      set('name', patch.name);
      set('mode', patch.mode);
      set('app_id', patch.appId);
      set('endpoint_id', patch.endpointId);
      set('sync_timeout_seconds', patch.syncTimeoutSeconds);
      set('provider', patch.provider);
      set('inbound_token_hash', patch.inboundTokenHash);
      set('settings', patch.settings === undefined ? undefined : JSON.stringify(patch.settings));
      set('updated_at', patch.updatedAt);
      if (sets.length) await db.run(`UPDATE channels SET ${sets.join(', ')} WHERE id = ${params.add(id)}`, params.values);
      return get(id);
    },
    async delete(id) {
      return (await db.run('DELETE FROM channels WHERE id = $1', [id])) === 1;
    },
    async byInboundToken(hash) {
      const row = await db.get('SELECT * FROM channels WHERE inbound_token_hash = $1', [hash]);
      return row ? channelFromRow(row) : null;
    },
    async ofKind(kind) {
      return (await db.all('SELECT * FROM channels WHERE kind = $1 ORDER BY id', [kind])).map(channelFromRow);
    },
    async where(filter) {
      return (await db.all(
        'SELECT * FROM channels WHERE ($1::text IS NULL OR app_id = $1) AND ($2::text IS NULL OR endpoint_id = $2) AND ($3::text IS NULL OR name = $3) ORDER BY id',
        [filter.appId ?? null, filter.endpointId ?? null, filter.name ?? null],
      )).map(channelFromRow);
    },
  };
}
