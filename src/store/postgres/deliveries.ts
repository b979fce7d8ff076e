// PostgreSQL: deliveries as a queue — claim with a lease, finish with an attempt row, release, reap, resend.
import { attemptFromRow, claimedFromRow, deliveryFromRow } from '../rows.ts';
import type { DeliveriesRepo, DeliveryStatus } from '../store.ts';
import { DELIVERY_STATUSES } from '../store.ts';
import { Params, type PgDb } from './db.ts';
import { deadWorkers, forgetDead, type Liveness } from './liveness.ts';
import type { PublishInTx } from './messages.ts';
import { finishBatch } from './outcomes.ts';
import { pageClause } from './paging.ts';

// As SQLite's claim: due deliveries of active endpoints, skipping endpoints the worker cannot take and any
// delivery with an unfinished predecessor under the same ordering key (FIFO); at most `cap` per endpoint.
// Claims are serialized across processes (the advisory lock in claim()), so the candidates are read without
// locks; only the picked rows are locked (FOR UPDATE SKIP LOCKED, still pending: a release, resend or finish of
// another transaction wins), leased, and returned with their payloads, in one statement. Locking every
// candidate instead (up to 4× the limit) cost most of a claim's time.
const CLAIM_SQL = `
WITH cand AS (
  SELECT d.seq, d.endpoint_id, d.next_attempt_at FROM deliveries d
  WHERE d.status = 'pending' AND d.next_attempt_at <= $1::bigint
    AND d.endpoint_id <> ALL ($2::text[])
    AND EXISTS (SELECT 1 FROM endpoints e WHERE e.id = d.endpoint_id AND e.is_active)
    AND (d.ordering_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM deliveries p
      WHERE p.endpoint_id = d.endpoint_id AND p.ordering_key = d.ordering_key AND p.seq < d.seq
        AND p.status IN ('pending', 'sending')))
  ORDER BY d.next_attempt_at, d.seq
  LIMIT $3
), ranked AS (
  SELECT seq, next_attempt_at, endpoint_id,
         row_number() OVER (PARTITION BY endpoint_id ORDER BY next_attempt_at, seq) AS rn
  FROM cand
), picked AS (
  SELECT seq FROM ranked
  WHERE rn <= coalesce(($4::jsonb ->> endpoint_id)::numeric, $5::numeric)
  ORDER BY next_attempt_at, seq
  LIMIT $6
), locked AS (
  SELECT d.seq FROM deliveries d JOIN picked ON d.seq = picked.seq
  WHERE d.status = 'pending'
  FOR UPDATE OF d SKIP LOCKED
), claimed AS (
  UPDATE deliveries d
  SET status = 'sending', locked_by = $7, updated_at = $1::bigint,
      locked_until = $1::bigint + $8::bigint
        + trunc(1000 * (SELECT e.timeout_seconds FROM endpoints e WHERE e.id = d.endpoint_id))::bigint
  FROM locked WHERE d.seq = locked.seq
  RETURNING d.seq, d.next_attempt_at, d.id, d.message_id, d.endpoint_id, d.event_type, d.attempts, d.one_shot, d.ordering_key
)
SELECT c.*, m.payload FROM claimed c LEFT JOIN messages m ON m.id = c.message_id
ORDER BY c.next_attempt_at, c.seq`;
const CLAIM = { name: 'botgate_claim_v1', text: CLAIM_SQL, types: ['bigint', 'text[]', 'int', 'jsonb', 'numeric', 'int', 'text', 'bigint'] };

/**
 * `workerDb`: the pool of the worker's claims, finishes, releases and reaps (asynchronous commit). `liveness`: a worker
 * claims only while it holds its lock, and reapers take back the leases of workers that no longer hold theirs.
 */
export function createDeliveriesRepo(db: PgDb, workerDb: PgDb, liveness: Liveness, publishInTx: PublishInTx, idempotencyTtlMs: () => number): DeliveriesRepo {
  const get = async (id: string) => {
    const row = await db.get('SELECT * FROM deliveries WHERE id = $1', [id]);
    return row ? deliveryFromRow(row) : null;
  };

  return {
    async claim(request) {
      if (!(await liveness.hold(request.workerId, request.now))) return [];
      // Claims run one at a time across processes (a transaction-scoped advisory lock): a claim reads up to
      // 4×limit candidates to apply the per-endpoint caps, and two at once would pick the same ones and come
      // back short. Serialized, each claim sees the previous one committed, as on SQLite.
      // enable_sort off: walk deliveries_due in claim order rather than sort every due row. Before the first
      // ANALYZE of a freshly filled table the planner guesses a handful of rows and would sort them all (0.5 s
      // at 250k rows); the sorts left (a few hundred candidates) cannot be avoided anyway. The lock and the
      // setting travel with BEGIN, and the claim (SQL-prepared) and COMMIT with them: one round trip in all.
      const lock = `SELECT pg_advisory_xact_lock(hashtextextended('${db.lockName('claim')}', 0)); SET LOCAL enable_sort = off`;
      const rows = await workerDb.txInOneTrip(CLAIM, [
        request.now, request.excludeEndpointIds, Math.max(request.limit * 4, 100), JSON.stringify(request.endpointCaps),
        request.defaultEndpointCap, request.limit, request.workerId, request.leaseGraceMs,
      ], lock);
      return rows.map((r) => claimedFromRow(r, r.payload));
    },

    async finish(outcomes, now, announce) {
      if (outcomes.length === 0) return { failingSince: {} };
      const announced = announce ? outcomes.filter((o) => announce.messages.has(o.attempt.deliveryId)).map((o) => o.attempt.deliveryId) : [];
      if (!announced.length) return finishBatch(workerDb, outcomes, now);
      // With announcements: one transaction; a row moved by this finish is now failed with this finish's time
      // (its lease kept any other process from moving it meanwhile).
      return db.tx(async (sql) => {
        const result = await finishBatch(sql, outcomes, now);
        const moved = (await sql.all(`SELECT id FROM deliveries WHERE id = ANY($1::text[]) AND status = 'failed' AND updated_at = $2`, [announced, now])).map((r) => String(r.id));
        const messages = moved.flatMap((id) => announce!.messages.get(id) ?? []);
        if (messages.length) await publishInTx(sql, messages, announce!.route, now - idempotencyTtlMs());
        return result;
      });
    },

    async release(ids, workerId, nextAttemptAt) {
      if (ids.length === 0) return 0;
      return workerDb.run(
        `UPDATE deliveries SET status = 'pending', locked_by = NULL, locked_until = NULL, next_attempt_at = $1
         WHERE id = ANY($2::text[]) AND locked_by = $3 AND status = 'sending'`,
        [nextAttemptAt, ids, workerId],
      );
    },

    async reapExpiredLeases(now, reaper) {
      // Dead holders are judged only by a reaper that holds its own lock (and has not just taken it again).
      const judge = reaper !== undefined && (await liveness.judging(reaper, now));
      // SKIP LOCKED: a row being finished right now is left to its worker. Dead workers holding nothing are forgotten.
      return workerDb.run(
        `WITH ${deadWorkers(workerDb, judge)}, ${forgetDead}
         UPDATE deliveries SET status = 'pending', locked_by = NULL, locked_until = NULL, updated_at = $1
         WHERE seq IN (SELECT seq FROM deliveries WHERE status = 'sending' AND (locked_until < $1 OR locked_by IN (SELECT id FROM dead))
                       FOR UPDATE SKIP LOCKED)`,
        [now],
      );
    },

    async get(id) {
      return get(id);
    },

    async list(filter, page) {
      const params = new Params();
      const where: string[] = [];
      const add = (sql: (p: string) => string, value: string | number | undefined) => {
        if (value !== undefined) where.push(sql(params.add(value)));
      };
      add((p) => `endpoint_id = ${p}`, filter.endpointId);
      add((p) => `endpoint_id IN (SELECT id FROM endpoints WHERE provider = ${p})`, filter.provider);
      add((p) => `event_type = ${p}`, filter.eventType);
      add((p) => `status = ${p}`, filter.status);
      add((p) => `message_id = ${p}`, filter.messageId);
      add((p) => `created_at >= ${p}`, filter.since);
      add((p) => `created_at < ${p}`, filter.until);
      return (await db.all(`SELECT * FROM deliveries ${pageClause(page, where, params)}`, params.values)).map(deliveryFromRow);
    },

    async forMessage(messageId) {
      return (await db.all('SELECT * FROM deliveries WHERE message_id = $1 ORDER BY seq', [messageId])).map(deliveryFromRow);
    },

    async attempts(deliveryId) {
      return (await db.all('SELECT * FROM attempts WHERE delivery_id = $1 ORDER BY attempted_at, id', [deliveryId])).map(attemptFromRow);
    },

    async resend(id, now) {
      // One statement: the status test is re-checked on the latest row if a worker is moving it meanwhile.
      const row = await db.get(
        `UPDATE deliveries SET status = 'pending', next_attempt_at = $2, updated_at = $2,
           one_shot = CASE WHEN status = 'pending' THEN one_shot ELSE TRUE END
         WHERE id = $1 AND status <> 'sending'
         RETURNING *`,
        [id, now],
      );
      if (row) return deliveryFromRow(row);
      return (await get(id)) ? 'in_progress' : 'not_found';
    },

    async countFailed(endpointId, since, until) {
      const row = await db.get(
        `SELECT count(*) AS n FROM deliveries WHERE endpoint_id = $1 AND status = 'failed' AND created_at >= $2 AND created_at < $3`,
        [endpointId, since, until],
      );
      return Number(row?.n ?? 0);
    },

    async requeueFailed(window, now) {
      const rows = await db.all(
        `WITH picked AS (
           SELECT seq FROM deliveries
           WHERE endpoint_id = $1 AND status = 'failed' AND created_at >= $2 AND created_at < $3 AND seq > $4
           ORDER BY seq LIMIT $5 FOR UPDATE
         )
         UPDATE deliveries d SET status = 'pending', one_shot = TRUE, next_attempt_at = $6, updated_at = $6
         FROM picked WHERE d.seq = picked.seq
         RETURNING d.seq`,
        [window.endpointId, window.since, window.until, window.afterSeq, window.limit, now],
      );
      if (rows.length === 0) return { count: 0, lastSeq: null };
      return { count: rows.length, lastSeq: rows.reduce((max, r) => Math.max(max, Number(r.seq)), 0) };
    },

    async stats() {
      const byStatus = Object.fromEntries(DELIVERY_STATUSES.map((s) => [s, 0])) as Record<DeliveryStatus, number>;
      for (const row of await db.all('SELECT status, count(*) AS n FROM deliveries GROUP BY status')) {
        byStatus[String(row.status) as DeliveryStatus] = Number(row.n);
      }
      const oldest = await db.get(`SELECT min(created_at) AS t FROM deliveries WHERE status = 'pending'`);
      return { byStatus, oldestPendingCreatedAt: oldest?.t === null || oldest?.t === undefined ? null : Number(oldest.t) };
    },

    async nextDueAt() {
      const row = await db.get(
        `SELECT min(d.next_attempt_at) AS t FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
         WHERE d.status = 'pending' AND e.is_active`,
      );
      return row?.t === null || row?.t === undefined ? null : Number(row.t);
    },
  };
}
