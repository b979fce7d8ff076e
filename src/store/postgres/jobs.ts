// PostgreSQL: background jobs (recover) with a lease, so a job outlives a restart.
import { jobFromRow } from '../rows.ts';
import type { JobsRepo } from '../store.ts';
import { Params, type PgDb } from './db.ts';
import { deadWorkers, type Liveness } from './liveness.ts';

/** `liveness`: a worker claims only while it holds its lock, and takes over at once a job whose holder no longer holds its. */
export function createJobsRepo(db: PgDb, liveness: Liveness): JobsRepo {
  return {
    async insert(job) {
      await db.run(
        `INSERT INTO jobs (id, kind, params, progress, status, total, done, error, locked_by, locked_until, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [job.id, job.kind, JSON.stringify(job.params), JSON.stringify(job.progress), job.status, job.total, job.done, job.error, job.lockedBy, job.lockedUntil, job.createdAt, job.updatedAt],
      );
    },
    async get(id) {
      const row = await db.get('SELECT * FROM jobs WHERE id = $1', [id]);
      return row ? jobFromRow(row) : null;
    },
    async claim(workerId, now, leaseUntil) {
      if (!(await liveness.hold(workerId, now))) return null;
      // SKIP LOCKED: two processes claiming at once take different jobs (or one gets none).
      const row = await db.get(
        `WITH ${deadWorkers(db, liveness.judges(workerId))}
         UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, updated_at = $3
         WHERE id = (SELECT id FROM jobs WHERE status = 'queued' OR (status = 'running' AND (locked_until < $3 OR locked_by IN (SELECT id FROM dead)))
                     ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING *`,
        [workerId, leaseUntil, now],
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
      const params = new Params();
      const set = Object.entries(columns).map(([k, v]) => `${k} = ${params.add(v)}`).join(', ');
      const held = owner === undefined ? '' : ` AND locked_by = ${params.add(owner)}`;
      return (await db.run(`UPDATE jobs SET ${set} WHERE id = ${params.add(id)}${held}`, params.values)) > 0;
    },
  };
}
