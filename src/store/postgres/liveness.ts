// PostgreSQL: which gateway processes are alive, as PostgreSQL itself can tell. Each process holds a session advisory
// lock keyed by its worker id on a connection of its own, for as long as it claims work; when the process dies in any
// way (kill -9 included) the kernel closes that connection and PostgreSQL frees the lock. Reapers then take the dead
// holder's leases back at once instead of waiting for them to run out (docs/delivery.md, "Durability and several
// processes"); leases of holders that still hold their lock are left alone.
import type { Client } from 'pg';
import type { PgDb } from './db.ts';

/**
 * How long after its own lock was lost and taken again (its connection dropped: a database restart, a failover) a
 * process judges no other holder dead, and likewise after the server started: the others are taking theirs again.
 */
const SETTLE_SECONDS = 10;
/** A take that failed is tried again no sooner than this (claims come every poll). */
const RETRY_MS = 1000;

interface Holding {
  client: Client | null;
  taking: Promise<void> | null;
  /** Taken at least once in this process (a later take follows a lost connection). */
  everHeld: boolean;
  /** When the lock was last taken again after a loss (performance.now()); 0: never lost. */
  retakenAt: number;
  /** When a take last failed (performance.now()), or null. */
  failed: number | null;
}

// The first take of a worker id in this process: the leases still under that id are a dead predecessor's (a process
// started with the same instance_id), whose lock this process now holds. They go back at once (a feed run stays under
// way, its lease run out, for the next tick to take over); the id is registered, so reapers know its leases may be
// judged by its lock (leases of gateways that never held one, an older version's during a rolling upgrade, wait out
// their time). Every table with leases is named here and in forgetDead().
const FIRST_TAKE_SQL = `
WITH registered AS (
  INSERT INTO workers (id, started_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at
), deliveries_back AS (
  UPDATE deliveries SET status = 'pending', locked_by = NULL, locked_until = NULL, updated_at = $2 WHERE status = 'sending' AND locked_by = $1
), jobs_back AS (
  UPDATE jobs SET status = 'queued', locked_by = NULL, locked_until = NULL, updated_at = $2 WHERE status = 'running' AND locked_by = $1
), notifications_back AS (
  UPDATE notifications SET lease_until = NULL, leased_by = NULL WHERE leased_by = $1
), feed_runs_back AS (
  UPDATE notify_feeds SET run_lease_until = 0, run_leased_by = NULL WHERE run_at IS NOT NULL AND run_leased_by = $1
)
SELECT 1`;

export type Liveness = ReturnType<typeof createLiveness>;

export function createLiveness(db: PgDb) {
  const holdings = new Map<string, Holding>();
  let closed = false;

  async function take(workerId: string, h: Holding, now: number): Promise<void> {
    const client = db.dedicated();
    // A dropped connection emits 'error' (then 'end'); unheard, it would crash the process.
    client.on('error', () => {});
    client.on('end', () => {
      if (h.client === client) h.client = null; // no claims until the lock is taken again
    });
    try {
      await client.connect();
      const { rows } = await client.query('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS taken', [lockName(db, workerId)]);
      if (!rows[0].taken) {
        throw new Error(`another process connected to this database holds worker id ${workerId} (two gateways with one instance_id?): this one claims no work until it is free`);
      }
      if (!h.everHeld) await client.query(FIRST_TAKE_SQL, [workerId, now]);
      else h.retakenAt = performance.now();
      h.everHeld = true;
      h.failed = null;
      if (closed) throw new Error('the store is closed');
      h.client = client;
    } catch (error) {
      h.failed = performance.now();
      await client.end().catch(() => {});
      throw error;
    }
  }

  /**
   * Whether `workerId`'s lock is held, taking it when it is not (first use, or its connection was lost). When it is
   * not, the caller claims nothing: no other process could tell whether it is alive. A take that fails throws (the
   * caller's log says why); until it is tried again a second later the answer is false, without a word.
   */
  async function hold(workerId: string, now: number): Promise<boolean> {
    if (closed) throw new Error('the store is closed');
    let h = holdings.get(workerId);
    if (!h) holdings.set(workerId, (h = { client: null, taking: null, everHeld: false, retakenAt: 0, failed: null }));
    if (h.client) return true;
    if (!h.taking) {
      if (h.failed !== null && performance.now() - h.failed < RETRY_MS) return false;
      const holding = h;
      h.taking = take(workerId, h, now).finally(() => (holding.taking = null));
    }
    await h.taking;
    return h.client !== null;
  }

  /** Whether `workerId` (held) may judge other holders by their locks now: not while they may be taking theirs again. */
  function judges(workerId: string): boolean {
    const h = holdings.get(workerId);
    return !!h?.client && (h.retakenAt === 0 || performance.now() - h.retakenAt >= SETTLE_SECONDS * 1000);
  }

  return {
    hold,
    judges,

    /** Whether `workerId`'s lock is held now (without taking it). */
    holds(workerId: string): boolean {
      return !!holdings.get(workerId)?.client;
    },

    /**
     * For a reaper: whether `workerId` holds its lock (taken if need be) and may judge now. Failing to take it answers
     * false, leaving the expired leases to reap all the same (the claim that follows says why).
     */
    async judging(workerId: string, now: number): Promise<boolean> {
      return hold(workerId, now).then((held) => held && judges(workerId), () => false);
    },

    /** Gives every lock up (a graceful stop: the leases were released before). */
    async close(): Promise<void> {
      closed = true;
      await Promise.all([...holdings.values()].map(async (h) => {
        await h.taking?.catch(() => {});
        const client = h.client;
        h.client = null;
        await client?.end().catch(() => {});
      }));
    },
  };
}

function lockName(db: PgDb, workerId: string): string {
  return db.lockName(`worker:${workerId}`);
}

/**
 * A CTE `dead(id)`: the registered workers whose lock no session holds, when `judge` (else none), and never in the
 * first SETTLE_SECONDS of the server's life.
 */
export function deadWorkers(db: PgDb, judge: boolean): string {
  return `dead AS MATERIALIZED (
  SELECT w.id FROM workers w
  WHERE ${judge} AND pg_postmaster_start_time() < now() - interval '${SETTLE_SECONDS} seconds'
    AND NOT ${lockHeld(db)})`;
}

/** The registered workers whose lock a session holds: the gateway processes alive on this schema (a query of `id`s). */
export function liveWorkers(db: PgDb): string {
  return `SELECT w.id FROM workers w WHERE ${lockHeld(db)} ORDER BY w.id`;
}

/** Whether worker `w`'s lock is held. The lock name's prefix is a literal: the schema name in it is validated. */
function lockHeld(db: PgDb): string {
  return `EXISTS (
      SELECT 1 FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended('${lockName(db, '')}' || w.id, 0))`;
}

/**
 * A CTE `pruned` (after deadWorkers()'s `dead`): forgets the dead workers that hold no lease any more. Leases this
 * statement takes back count from the next reap on (its NOT EXISTS read the rows as they were).
 */
export const forgetDead = `pruned AS (
  DELETE FROM workers w WHERE w.id IN (SELECT id FROM dead)
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.status = 'sending' AND d.locked_by = w.id)
    AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.status = 'running' AND j.locked_by = w.id)
    AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.leased_by = w.id)
    AND NOT EXISTS (SELECT 1 FROM notify_feeds f WHERE f.run_at IS NOT NULL AND f.run_leased_by = w.id))`;
