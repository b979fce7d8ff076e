// PostgreSQL: finishing a batch of attempts — attempt rows, delivery moves and endpoint health in one
// statement (data-modifying CTEs: atomic without a transaction block, one round trip), however many outcomes.
import type { AttemptOutcome, FinishResult } from '../store.ts';
import type { Sql } from './db.ts';

// Only rows still leased to the worker that tried them move; a lost lease leaves the row alone. A success
// clears an endpoint's failing_since; a failure sets it unless already set. Endpoint rows are locked in id
// order first, so concurrent batches touching the same endpoints cannot deadlock.
const FINISH_SQL = `
WITH attempts_in AS (
  INSERT INTO attempts (id, delivery_id, message_id, endpoint_id, attempted_at, status_code, duration_ms, error_kind, error, response_body)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::int[], $7::float8[], $8::text[], $9::text[], $10::text[])
    AS a(id, delivery_id, message_id, endpoint_id, attempted_at, status_code, duration_ms, error_kind, error, response_body)
  WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = a.delivery_id) -- not for a delivery deleted while it was tried
), moved AS (
  UPDATE deliveries d
  SET status = u.status, attempts = d.attempts + 1, next_attempt_at = u.next_attempt_at, locked_by = NULL,
      locked_until = NULL, last_status_code = u.code, last_error = u.error, updated_at = $14::bigint,
      sent_at = CASE WHEN u.status = 'sent' THEN $14::bigint ELSE d.sent_at END
  FROM unnest($2::text[], $11::text[], $12::text[], $13::bigint[], $6::int[], $9::text[]) AS u(id, worker, status, next_attempt_at, code, error)
  WHERE d.id = u.id AND d.locked_by = u.worker AND d.status = 'sending'
), locked AS MATERIALIZED (
  SELECT id FROM endpoints WHERE id = ANY($15::text[]) ORDER BY id FOR UPDATE
)
UPDATE endpoints e
SET failing_since = CASE WHEN u.ok THEN NULL ELSE coalesce(e.failing_since, u.at) END,
    last_success_at = CASE WHEN u.ok THEN $14::bigint ELSE e.last_success_at END
FROM locked JOIN unnest($15::text[], $16::bool[], $17::bigint[]) AS u(id, ok, at) ON u.id = locked.id
WHERE e.id = locked.id
RETURNING e.id, u.ok, e.failing_since`;

export async function finishBatch(sql: Sql, outcomes: AttemptOutcome[], now: number): Promise<FinishResult> {
  const attempts = outcomes.map((o) => o.attempt);
  // Per endpoint: a success anywhere in the batch wins; else the first failure's time.
  const health = new Map<string, { ok: boolean; at: number | null }>();
  for (const { attempt, succeeded } of outcomes) {
    const seen = health.get(attempt.endpointId);
    if (succeeded) health.set(attempt.endpointId, { ok: true, at: null });
    else if (!seen) health.set(attempt.endpointId, { ok: false, at: attempt.attemptedAt });
  }
  const ids = [...health.keys()];
  const rows = await sql.all(FINISH_SQL, [
    attempts.map((a) => a.id), attempts.map((a) => a.deliveryId), attempts.map((a) => a.messageId), attempts.map((a) => a.endpointId),
    attempts.map((a) => a.attemptedAt), attempts.map((a) => a.statusCode), attempts.map((a) => a.durationMs),
    attempts.map((a) => a.errorKind), attempts.map((a) => a.error), attempts.map((a) => a.responseBody),
    outcomes.map((o) => o.workerId), outcomes.map((o) => o.next.status),
    outcomes.map((o) => (o.next.status === 'pending' ? o.next.nextAttemptAt : null)),
    now, ids, ids.map((id) => health.get(id)!.ok), ids.map((id) => health.get(id)!.at),
  ], 'botgate_finish');
  const failingSince: Record<string, number | null> = {};
  for (const row of rows) {
    if (row.ok === true) continue;
    failingSince[String(row.id)] = row.failing_since === null ? null : Number(row.failing_since);
  }
  return { failingSince };
}
