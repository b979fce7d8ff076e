// SQLite: conversations — incoming messages stored with their conversation, and turns run one at a time
// (SQLite's single writer serialises them) with their writes and published messages in one transaction.
import { conversationFromRow, messageFromRow } from '../rows.ts';
import type { ConversationsRepo } from '../store.ts';
import type { SqliteDb } from './db.ts';
import type { PublishInTx } from './messages.ts';
import { pageClause } from './paging.ts';
import { linkIdentities } from './users.ts';

export function createConversationsRepo(db: SqliteDb, publishInTx: PublishInTx, idempotencyTtlMs: () => number): ConversationsRepo {
  const get = (id: string) => {
    const row = db.get('SELECT * FROM conversations WHERE id = ?', [id]);
    return row ? conversationFromRow(row) : null;
  };
  return {
    async receive(input, route) {
      return db.tx(() => {
        const userId = input.identities.length ? linkIdentities(db, input.identities, input.newUserId, input.now) : null;
        db.run(
          `INSERT INTO conversations (id, bot_id, channel_id, user_key, user_id, created_at, updated_at, last_message_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (channel_id, user_key) DO UPDATE SET last_message_at = excluded.last_message_at,
             user_id = coalesce(excluded.user_id, conversations.user_id)`,
          [input.conversationId, input.botId, input.channelId, input.userKey, userId, input.now, input.now, input.now],
        );
        const conversation = conversationFromRow(db.get('SELECT * FROM conversations WHERE channel_id = ? AND user_key = ?', [input.channelId, input.userKey])!);
        const [published] = publishInTx(
          [{ ...input.message, conversation: { conversationId: conversation.id, direction: 'incoming', replyTo: null } }],
          route,
          { now: input.now, idempotencyTtlMs: idempotencyTtlMs() },
        );
        return { conversation, message: published.message, duplicate: published.duplicate };
      });
    },

    async takeTurn(conversationId, run, route, now) {
      return db.tx(() => {
        const conversation = get(conversationId);
        if (!conversation) return null;
        const row = db.get(`SELECT * FROM messages WHERE conversation_id = ? AND turn_status = 'pending' ORDER BY id LIMIT 1`, [conversationId]);
        if (!row) return null;
        const incoming = messageFromRow(row);
        const writes = run(conversation, incoming);
        db.run(
          `UPDATE conversations SET state = ?, memory = ?, last_prompt = ?, updated_at = ? WHERE id = ?`,
          [writes.state, JSON.stringify(writes.memory), JSON.stringify(writes.lastPrompt), now, conversationId],
        );
        db.run(`UPDATE messages SET turn_status = 'done' WHERE id = ?`, [incoming.id]);
        const published = publishInTx(writes.messages, route, { now, idempotencyTtlMs: idempotencyTtlMs() });
        return { conversation: get(conversationId)!, incoming: { ...incoming, turnStatus: 'done' as const }, published };
      });
    },

    async get(id) {
      return get(id);
    },

    async list(filter, page) {
      const where: string[] = [];
      const params: Record<string, string> = {};
      const add = (column: string, value: string | undefined) => {
        if (value === undefined) return;
        where.push(`${column} = :${column}`);
        params[column] = value;
      };
      add('bot_id', filter.botId);
      add('channel_id', filter.channelId);
      add('user_id', filter.userId);
      add('user_key', filter.userKey);
      const { clause, extra } = pageClause(page, where);
      return db.all(`SELECT * FROM conversations ${clause}`, { ...params, ...extra }).map(conversationFromRow);
    },

    async withPendingTurns(limit) {
      return db.all(`SELECT DISTINCT conversation_id FROM messages WHERE turn_status = 'pending' LIMIT ?`, [limit]).map((r) => String(r.conversation_id));
    },

    async replies(incomingId) {
      return db.all('SELECT * FROM messages WHERE reply_to = ? ORDER BY id', [incomingId]).map(messageFromRow);
    },
  };
}
