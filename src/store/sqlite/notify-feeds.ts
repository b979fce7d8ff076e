// SQLite: recurring notification feeds (NotifyRepo['feeds'], store/notify-records.ts). A feed's run advances by
// compare-and-set, as on PostgreSQL.
import { feedFromRow } from '../rows.ts';
import type { FeedRecord, NotifyRepo } from '../notify-records.ts';
import type { SqliteDb } from './db.ts';

const feedParams = (f: FeedRecord) => [f.id, f.name, f.cron, f.tz, f.eventType, f.userIds ? JSON.stringify(f.userIds) : null, JSON.stringify(f.params),
  f.isActive ? 1 : 0, f.nextRunAt, f.lastRunAt, f.createdAt, f.updatedAt];

export function createFeedsRepo(db: SqliteDb): NotifyRepo['feeds'] {
  return {
    async insert(feed) {
      db.run(
        `INSERT INTO notify_feeds (id, name, cron, tz, event_type, user_ids, params, is_active, next_run_at, last_run_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        feedParams(feed) as never[],
      );
    },
    async get(id) {
      const row = db.get('SELECT * FROM notify_feeds WHERE id = ?', [id]);
      return row ? feedFromRow(row) : null;
    },
    async list() {
      return db.all('SELECT * FROM notify_feeds ORDER BY name').map(feedFromRow);
    },
    async due(now) {
      return db.all('SELECT * FROM notify_feeds WHERE is_active = 1 AND next_run_at <= ? ORDER BY next_run_at', [now]).map(feedFromRow);
    },
    async update(id, patch) {
      const row = db.get('SELECT * FROM notify_feeds WHERE id = ?', [id]);
      if (!row) return null;
      const next = { ...feedFromRow(row), ...patch, id };
      db.run(
        `UPDATE notify_feeds SET name = ?, cron = ?, tz = ?, event_type = ?, user_ids = ?, params = ?, is_active = ?, next_run_at = ?, last_run_at = ?, updated_at = ? WHERE id = ?`,
        [...(feedParams(next).slice(1, 10) as never[]), next.updatedAt, id],
      );
      return next;
    },
    async delete(id) {
      return db.run('DELETE FROM notify_feeds WHERE id = ?', [id]).changes > 0;
    },
    async advance(id, expected, next, now, leaseUntil) {
      return db.run(
        `UPDATE notify_feeds SET next_run_at = ?, last_run_at = ?, updated_at = ?, run_at = ?, run_lease_until = ?
         WHERE id = ? AND next_run_at = ? AND is_active = 1 AND run_at IS NULL`,
        [next, now, now, expected, leaseUntil, id, expected],
      ).changes === 1;
    },
    async stalled(now) {
      return db.all('SELECT * FROM notify_feeds WHERE run_at IS NOT NULL AND run_lease_until < ? AND is_active = 1', [now])
        .map((r) => ({ feed: feedFromRow(r), runAt: Number(r.run_at), leaseUntil: Number(r.run_lease_until) }));
    },
    async lease(id, runAt, expected, leaseUntil) {
      return db.run('UPDATE notify_feeds SET run_lease_until = ? WHERE id = ? AND run_at = ? AND run_lease_until = ?', [leaseUntil, id, runAt, expected]).changes === 1;
    },
    async releaseRuns() {
      // 0: a lease that ran out long ago, so stalled() lists the run and lease() takes it over from that value.
      return db.run('UPDATE notify_feeds SET run_lease_until = 0 WHERE run_at IS NOT NULL AND run_lease_until <> 0').changes;
    },
    async finishRun(id, runAt, lease) {
      db.run('UPDATE notify_feeds SET run_at = NULL, run_lease_until = NULL WHERE id = ? AND run_at = ? AND run_lease_until = ?', [id, runAt, lease]);
    },
  };
}
