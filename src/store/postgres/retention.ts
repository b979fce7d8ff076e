// PostgreSQL: retention — payloads and response bodies past their age are emptied in batches; rows stay.
import type { RetentionRepo } from '../store.ts';
import type { PgDb } from './db.ts';

export function createRetentionRepo(db: PgDb): RetentionRepo {
  return {
    async purge(before, limit) {
      // SKIP LOCKED: purgers in two processes take different batches instead of waiting on each other.
      return db.tx(async (sql) => {
        const messages = await sql.run(
          `UPDATE messages SET payload = NULL, expired = TRUE
           WHERE id IN (SELECT id FROM messages m WHERE NOT expired AND created_at < $1
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.status IN ('pending', 'sending')) -- still to be sent: kept
             LIMIT $2 FOR UPDATE SKIP LOCKED)`,
          [before, limit],
        );
        const attempts = await sql.run(
          `UPDATE attempts SET response_body = NULL, expired = TRUE
           WHERE id IN (SELECT id FROM attempts WHERE NOT expired AND attempted_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
          [before, limit],
        );
        return { messages, attempts, idempotencyKeys: 0 };
      });
    },
    async purgeIdempotencyKeys(before) {
      return db.run('DELETE FROM idempotency_keys WHERE created_at < $1', [before]);
    },
  };
}
