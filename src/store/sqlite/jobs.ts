// SQLite: background jobs (recover) with a lease, so a job outlives a restart.
import { jobFromRow } from '../rows.ts';
import type { JobsRepo } from '../store.ts';
import type { SqliteDb } from './db.ts';

export function createJobsRepo(db: SqliteDb): JobsRepo {
  return {
    async insert(job) {
      db.run(
        `INSERT INTO jobs (id, kind, params, progress, status, total, done, error, locked_by, locked_until, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [job.id, job.kind, JSON.stringify(job.params), JSON.stringify(job.progress), job.status, job.total, job.done, job.error, job.lockedBy, job.lockedUntil, job.createdAt, job.updatedAt],
      );
    },
    async get(id) {
      const row = db.get('SELECT * FROM jobs WHERE id = ?', [id]);
      return row ? jobFromRow(row) : null;
    },
    async claim(workerId, now, leaseUntil) {
      const row = db.get(
        `UPDATE jobs SET status = 'running', locked_by = :worker, locked_until = :lease, updated_at = :now
         WHERE id = (SELECT id FROM jobs WHERE status = 'queued' OR (status = 'running' AND locked_until < :now)
                     ORDER BY created_at LIMIT 1)
         RETURNING *`,
        { worker: workerId, lease: leaseUntil, now },
      );
      return row ? jobFromRow(row) : null;
    },
    async update(id, patch, now, owner) {
      const columns: Record<string, string | number | null> = { updated_at: now };
      if (patch.progress !== undefined) columns.progress = JSON.stringify(patch.progress);
      if (patch.status !== undefined) columns.status = patch.status;
      if (patch.total !== undefined) columns.total = patch.total;
      if (patch.done !== undefined) columns.done = patch.done;
      if (patch.error !== undefined) columns.error = patch.error;
      if (patch.lockedBy !== undefined) columns.locked_by = patch.lockedBy;
      if (patch.lockedUntil !== undefined) columns.locked_until = patch.lockedUntil;
      const keys = Object.keys(columns);
      const held = owner === undefined ? '' : ' AND locked_by = :__owner';
      const params = owner === undefined ? { ...columns, __id: id } : { ...columns, __id: id, __owner: owner };
      return db.run(`UPDATE jobs SET ${keys.map((k) => `${k} = :${k}`).join(', ')} WHERE id = :__id${held}`, params).changes > 0;
    },
  };
}
