// PostgreSQL: retention — payloads and response bodies past their age are emptied in batches; rows stay.
import { purgeCursor } from '../rows.ts';
import type { RetentionRepo } from '../store.ts';
import type { PgDb } from './db.ts';

/**
 * A conversation's newest incoming message, or one whose turn has not run, is kept: its turn needs it, and replies
 * written later (an agent's, a notification) are addressed from it (the number the user wrote to, their conversation id).
 */
const KEPT_INCOMING = `(messages.direction IS DISTINCT FROM 'incoming' OR (messages.turn_status IS DISTINCT FROM 'pending' AND EXISTS
  (SELECT 1 FROM messages n WHERE n.conversation_id = messages.conversation_id AND n.id > messages.id AND n.direction = 'incoming')))`;

export function createRetentionRepo(db: PgDb): RetentionRepo {
  return {
    async purge(before, limit, after) {
      // SKIP LOCKED: purgers in two processes take different batches instead of waiting on each other.
      return db.tx(async (sql) => {
        // The next old messages after the cursor, kept ones included (read once a run, not again every batch).
        const window = await sql.all(
          `SELECT id, created_at FROM messages WHERE NOT expired AND created_at < $1 AND (created_at, id) > ($2, $3)
           ORDER BY created_at, id LIMIT $4 FOR UPDATE SKIP LOCKED`,
          [before, after?.createdAt ?? -1, after?.id ?? '', limit],
        );
        const messages = window.length === 0 ? 0 : await sql.run(
          `UPDATE messages SET payload = NULL, expired = TRUE WHERE id = ANY($1::text[]) AND NOT EXISTS
             (SELECT 1 FROM deliveries d WHERE d.message_id = messages.id AND d.status IN ('pending', 'sending')) -- still to be sent: kept
           AND ${KEPT_INCOMING}`,
          [window.map((r) => String(r.id))],
        );
        const attempts = await sql.run(
          `UPDATE attempts SET response_body = NULL, expired = TRUE
           WHERE id IN (SELECT id FROM attempts WHERE NOT expired AND attempted_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
          [before, limit],
        );
        return { messages, attempts, idempotencyKeys: 0, next: purgeCursor(window, limit) };
      });
    },
    async purgeIdempotencyKeys(before) {
      return db.run('DELETE FROM idempotency_keys WHERE created_at < $1', [before]);
    },
  };
}
