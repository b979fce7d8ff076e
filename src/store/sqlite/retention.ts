// SQLite: retention — payloads and response bodies past their age are emptied in batches; rows stay. A payload
// some delivery still has to send stays until it is sent (or fails).
import type { RetentionRepo } from '../store.ts';
import type { SqliteDb } from './db.ts';

/** A payload still to be sent (a delivery pending or sending, one held on a disabled endpoint say) is kept. */
const UNFINISHED_NONE = "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.status IN ('pending', 'sending'))";

export function createRetentionRepo(db: SqliteDb): RetentionRepo {
  return {
    async purge(before, limit) {
      return db.tx(() => {
        const messages = db.run(
          `UPDATE messages SET payload = NULL, expired = 1
           WHERE id IN (SELECT id FROM messages m WHERE expired = 0 AND created_at < ? AND ${UNFINISHED_NONE} LIMIT ?)`,
          [before, limit],
        ).changes;
        const attempts = db.run(
          `UPDATE attempts SET response_body = NULL, expired = 1
           WHERE rowid IN (SELECT rowid FROM attempts WHERE expired = 0 AND attempted_at < ? LIMIT ?)`,
          [before, limit],
        ).changes;
        return { messages, attempts, idempotencyKeys: 0 };
      });
    },
    async purgeIdempotencyKeys(before) {
      return db.run('DELETE FROM idempotency_keys WHERE created_at < ?', [before]).changes;
    },
  };
}
