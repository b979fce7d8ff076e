// PostgreSQL: conversations — incoming messages stored with their conversation, and turns run one at a time
// per conversation across processes (the conversation row is locked FOR UPDATE for the turn's transaction).
import { conversationFromRow, messageFromRow } from '../rows.ts';
import type { ConversationsRepo } from '../store.ts';
import { Params, type PgDb } from './db.ts';
import type { PublishInTx } from './messages.ts';
import { pageClause } from './paging.ts';
import { linkIdentities } from './users.ts';

export function createConversationsRepo(db: PgDb, publishInTx: PublishInTx, idempotencyTtlMs: () => number): ConversationsRepo {
  const get = async (id: string) => {
    const row = await db.get('SELECT * FROM conversations WHERE id = $1', [id]);
    return row ? conversationFromRow(row) : null;
  };
  return {
    async receive(input, route) {
      return db.tx(async (sql) => {
        const userId = input.identities.length ? await linkIdentities(sql, input.identities, input.newUserId, input.now) : null;
        const row = await sql.get(
          `INSERT INTO conversations (id, bot_id, channel_id, user_key, user_id, created_at, updated_at, last_message_at)
           VALUES ($1, $2, $3, $4, $5, $6, $6, $6)
           ON CONFLICT (channel_id, user_key) DO UPDATE SET last_message_at = excluded.last_message_at,
             user_id = coalesce(excluded.user_id, conversations.user_id)
           RETURNING *`,
          [input.conversationId, input.botId, input.channelId, input.userKey, userId, input.now],
          'botgate_receive',
        );
        const conversation = conversationFromRow(row!);
        const [published] = await publishInTx(
          sql,
          [{ ...input.message, conversation: { conversationId: conversation.id, direction: 'incoming', replyTo: null } }],
          route,
          input.now - idempotencyTtlMs(),
        );
        return { conversation, message: published.message, duplicate: published.duplicate };
      });
    },

    async takeTurn(conversationId, run, route, now) {
      return db.tx(async (sql) => {
        const locked = await sql.get('SELECT * FROM conversations WHERE id = $1 FOR UPDATE', [conversationId], 'botgate_lock_conversation');
        if (!locked) return null;
        const row = await sql.get(
          `SELECT * FROM messages WHERE conversation_id = $1 AND turn_status = 'pending' ORDER BY id LIMIT 1`,
          [conversationId],
          'botgate_next_turn',
        );
        if (!row) return null;
        const conversation = conversationFromRow(locked);
        const incoming = messageFromRow(row);
        const writes = run(conversation, incoming);
        const updated = await sql.get(
          `UPDATE conversations SET state = $1, memory = $2, last_prompt = $3, updated_at = $4 WHERE id = $5 RETURNING *`,
          [writes.state, JSON.stringify(writes.memory), JSON.stringify(writes.lastPrompt), now, conversationId],
          'botgate_turn_position',
        );
        await sql.run(`UPDATE messages SET turn_status = 'done' WHERE id = $1`, [incoming.id], 'botgate_turn_done');
        const published = writes.messages.length ? await publishInTx(sql, writes.messages, route, now - idempotencyTtlMs()) : [];
        return { conversation: conversationFromRow(updated!), incoming: { ...incoming, turnStatus: 'done' as const }, published };
      });
    },

    get,

    async list(filter, page) {
      const params = new Params();
      const where: string[] = [];
      const add = (column: string, value: string | undefined) => {
        if (value !== undefined) where.push(`${column} = ${params.add(value)}`);
      };
      add('bot_id', filter.botId);
      add('channel_id', filter.channelId);
      add('user_id', filter.userId);
      add('user_key', filter.userKey);
      return (await db.all(`SELECT * FROM conversations ${pageClause(page, where, params)}`, params.values)).map(conversationFromRow);
    },

    async withPendingTurns(limit) {
      return (await db.all(`SELECT DISTINCT conversation_id FROM messages WHERE turn_status = 'pending' LIMIT $1`, [limit])).map((r) => String(r.conversation_id));
    },

    async replies(incomingId) {
      return (await db.all('SELECT * FROM messages WHERE reply_to = $1 ORDER BY id', [incomingId])).map(messageFromRow);
    },
  };
}
