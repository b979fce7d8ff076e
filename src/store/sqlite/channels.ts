// SQLite: channels (inbound connections of bots).
import { channelFromRow } from '../rows.ts';
import type { ChannelsRepo } from '../store.ts';
import type { SqliteDb } from './db.ts';
import { pageClause } from './paging.ts';

export function createChannelsRepo(db: SqliteDb): ChannelsRepo {
  const get = (id: string) => {
    const row = db.get('SELECT * FROM channels WHERE id = ?', [id]);
    return row ? channelFromRow(row) : null;
  };
  return {
    async insert(c) {
      db.run(
        `INSERT INTO channels (id, name, bot_id, kind, mode, app_id, endpoint_id, sync_timeout_seconds, provider, inbound_token_hash, settings, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [c.id, c.name, c.botId, c.kind, c.mode, c.appId, c.endpointId, c.syncTimeoutSeconds, c.provider, c.inboundTokenHash, JSON.stringify(c.settings), c.createdAt, c.updatedAt],
      );
    },
    async get(id) {
      return get(id);
    },
    async forBot(botId) {
      return db.all('SELECT * FROM channels WHERE bot_id = ? ORDER BY id', [botId]).map(channelFromRow);
    },
    async list(page) {
      const { clause, extra } = pageClause(page, []);
      return db.all(`SELECT * FROM channels ${clause}`, extra).map(channelFromRow);
    },
    async update(id, patch) {
      const sets: string[] = [];
      const params: (string | number | null)[] = [];
      const set = (column: string, value: string | number | null | undefined) => {
        if (value === undefined) return;
        sets.push(`${column} = ?`);
        params.push(value);
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
      if (sets.length) db.run(`UPDATE channels SET ${sets.join(', ')} WHERE id = ?`, [...params, id]);
      return get(id);
    },
    async delete(id) {
      return db.run('DELETE FROM channels WHERE id = ?', [id]).changes === 1;
    },
    async byInboundToken(hash) {
      const row = db.get('SELECT * FROM channels WHERE inbound_token_hash = ?', [hash]);
      return row ? channelFromRow(row) : null;
    },
    async ofKind(kind) {
      return db.all('SELECT * FROM channels WHERE kind = ? ORDER BY id', [kind]).map(channelFromRow);
    },
    async where(filter) {
      return db.all(
        'SELECT * FROM channels WHERE (?1 IS NULL OR app_id = ?1) AND (?2 IS NULL OR endpoint_id = ?2) AND (?3 IS NULL OR name = ?3) ORDER BY id',
        [filter.appId ?? null, filter.endpointId ?? null, filter.name ?? null],
      ).map(channelFromRow);
    },
  };
}
