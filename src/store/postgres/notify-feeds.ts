// PostgreSQL: recurring notification feeds (NotifyRepo['feeds'], store/notify-records.ts). A feed's run advances by
// compare-and-set, so several processes run each due feed once; a run whose holder died is taken over at once.
import { feedFromRow } from '../rows.ts';
import type { FeedRecord, NotifyRepo } from '../notify-records.ts';
import type { PgDb } from './db.ts';
import { deadWorkers, type Liveness } from './liveness.ts';

const feedParams = (f: FeedRecord) => [f.id, f.name, f.cron, f.tz, f.eventType, f.userIds ? JSON.stringify(f.userIds) : null, JSON.stringify(f.params),
  f.isActive, f.nextRunAt, f.lastRunAt, f.createdAt, f.updatedAt];

/** `liveness`: a run is taken or renewed only while the taker holds its lock. */
export function createFeedsRepo(db: PgDb, liveness: Liveness): NotifyRepo['feeds'] {
  return {
    async insert(feed) {
      await db.run(
        `INSERT INTO notify_feeds (id, name, cron, tz, event_type, user_ids, params, is_active, next_run_at, last_run_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        feedParams(feed),
      );
    },
    async get(id) {
      const row = await db.get('SELECT * FROM notify_feeds WHERE id = $1', [id]);
      return row ? feedFromRow(row) : null;
    },
    async list() {
      return (await db.all('SELECT * FROM notify_feeds ORDER BY name')).map(feedFromRow);
    },
    async due(now) {
      return (await db.all('SELECT * FROM notify_feeds WHERE is_active AND next_run_at <= $1 ORDER BY next_run_at', [now])).map(feedFromRow);
    },
    async update(id, patch) {
      // Read, merge and write under the row's lock, so a concurrent advance is not written over.
      return db.tx(async (sql) => {
        const row = await sql.get('SELECT * FROM notify_feeds WHERE id = $1 FOR UPDATE', [id]);
        if (!row) return null;
        const next = { ...feedFromRow(row), ...patch, id };
        await sql.run(
          'UPDATE notify_feeds SET name = $1, cron = $2, tz = $3, event_type = $4, user_ids = $5, params = $6, is_active = $7, next_run_at = $8, last_run_at = $9, updated_at = $10 WHERE id = $11',
          [...feedParams(next).slice(1, 10), next.updatedAt, id],
        );
        return next;
      });
    },
    async delete(id) {
      return (await db.run('DELETE FROM notify_feeds WHERE id = $1', [id])) > 0;
    },
    async advance(id, expected, next, now, leaseUntil, holder) {
      if (!(await liveness.hold(holder, now))) return false;
      // A second caller waits for the first's row lock, re-reads next_run_at and matches nothing.
      return (await db.run(
        `UPDATE notify_feeds SET next_run_at = $1, last_run_at = $2, updated_at = $2, run_at = $4, run_lease_until = $5, run_leased_by = $6
         WHERE id = $3 AND next_run_at = $4 AND is_active AND run_at IS NULL`,
        [next, now, id, expected, leaseUntil, holder],
      )) === 1;
    },
    async stalled(now, reaper) {
      const rows = await db.all(
        `WITH ${deadWorkers(db, await liveness.judging(reaper, now))}
         SELECT * FROM notify_feeds WHERE run_at IS NOT NULL AND (run_lease_until < $1 OR run_leased_by IN (SELECT id FROM dead)) AND is_active`,
        [now],
      );
      return rows.map((r) => ({ feed: feedFromRow(r), runAt: Number(r.run_at), leaseUntil: Number(r.run_lease_until) }));
    },
    async lease(id, runAt, expected, leaseUntil, holder) {
      // Taken by the stalled() or advance() before it, in this tick: a lock lost since stops the run (others may judge it dead).
      if (!liveness.holds(holder)) return false;
      return (await db.run(
        'UPDATE notify_feeds SET run_lease_until = $1, run_leased_by = $5 WHERE id = $2 AND run_at = $3 AND run_lease_until = $4',
        [leaseUntil, id, runAt, expected, holder],
      )) === 1;
    },
    async releaseRuns() {
      // 0: a lease that ran out long ago, so stalled() lists the run and lease() takes it over from that value.
      return db.run('UPDATE notify_feeds SET run_lease_until = 0, run_leased_by = NULL WHERE run_at IS NOT NULL AND run_lease_until <> 0');
    },
    async finishRun(id, runAt, lease) {
      await db.run('UPDATE notify_feeds SET run_at = NULL, run_lease_until = NULL, run_leased_by = NULL WHERE id = $1 AND run_at = $2 AND run_lease_until = $3', [id, runAt, lease]);
    },
  };
}
