// SQLite: retention — payloads and response bodies past their age are emptied in batches; rows stay. A payload
// some delivery still has to send stays until it is sent (or fails), and a conversation's newest incoming one.
import { purgeCursor } from '../rows.ts';
import type { RetentionRepo } from '../store.ts';
import type { SqliteDb } from './db.ts';

/**
 * A conversation's newest incoming message, or one whose turn has not run, is kept: its turn needs it, and replies
 * written later (an agent's, a notification) are addressed from it (the number the user wrote to, their conversation id).
 */
const KEPT_INCOMING = `(messages.direction IS NOT 'incoming' OR (messages.turn_status IS NOT 'pending' AND EXISTS
  (SELECT 1 FROM messages n WHERE n.conversation_id = messages.conversation_id AND n.id > messages.id AND n.direction = 'incoming')))`;

export function createRetentionRepo(db: SqliteDb): RetentionRepo {
  return {
    async purge(before, limit, after) {
      return db.tx(() => {
        // The next old messages after the cursor, kept ones included (read once a run, not again every batch).
        const window = db.all(
          `SELECT id, created_at FROM messages WHERE expired = 0 AND created_at < ?1 AND (created_at > ?2 OR (created_at = ?2 AND id > ?3))
           ORDER BY created_at, id LIMIT ?4`,
          [before, after?.createdAt ?? -1, after?.id ?? '', limit],
        );
        const messages = window.length === 0 ? 0 : db.run(
          `UPDATE messages SET payload = NULL, expired = 1 WHERE id IN (SELECT value FROM json_each(?)) AND NOT EXISTS
             (SELECT 1 FROM deliveries d WHERE d.message_id = messages.id AND d.status IN ('pending', 'sending'))
           AND ${KEPT_INCOMING}`,
          [JSON.stringify(window.map((r) => String(r.id)))],
        ).changes;
        const attempts = db.run(
          `UPDATE attempts SET response_body = NULL, expired = 1
           WHERE rowid IN (SELECT rowid FROM attempts WHERE expired = 0 AND attempted_at < ? LIMIT ?)`,
          [before, limit],
        ).changes;
        return { messages, attempts, idempotencyKeys: 0, next: purgeCursor(window, limit) };
      });
    },
    async purgeIdempotencyKeys(before) {
      return db.run('DELETE FROM idempotency_keys WHERE created_at < ?', [before]).changes;
    },
  };
}
