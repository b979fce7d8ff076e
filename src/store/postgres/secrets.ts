// PostgreSQL: every sealed value sealed again in one transaction (a master key rotation), refused while a gateway runs.
import { resealRow, SEALED_TABLES, sealedSql } from '../sealed-values.ts';
import type { SecretsRepo } from '../store.ts';
import type { PgDb } from './db.ts';
import { liveWorkers, type Liveness } from './liveness.ts';

export function createSecretsRepo(db: PgDb, liveness: Liveness): SecretsRepo {
  // Held by a rotation for its whole transaction (and after, until its new master.key is in place), and shared by a
  // start's key check and its worker's registration: a start that begins during a rotation checks the key the rotation
  // leaves, and a rotation that begins during a start finds its worker alive. (Without it a start could read the old key check, uncommitted rotation aside, and serve
  // under the old key.) A CLI command shares it from its key check to its close, so what it seals with its key is
  // committed before a rotation begins (which seals it again) or the command checks the key the rotation leaves.
  // The name is a literal: the schema in it is validated.
  const keyLock = `hashtextextended('${db.lockName('master-key')}', 0)`;

  /**
   * The lock, shared or alone (`onWait` told once when others hold it), on a connection outside the pool (the caller
   * queries through the pool, which may be one connection): held past a transaction's commit, until the release.
   */
  async function hold(alone: boolean, onWait?: () => void): Promise<{ release: () => Promise<void>; stillHeld: () => Promise<void> }> {
    const client = db.dedicated();
    let lost = false;
    client.on('error', () => (lost = true)); // a dropped connection fails the query in flight; unheard, it would crash the process
    client.on('end', () => (lost = true));
    try {
      await client.connect();
      if (!alone) await client.query(`SELECT pg_advisory_lock_shared(${keyLock})`);
      else if (!(await client.query(`SELECT pg_try_advisory_lock(${keyLock}) AS taken`)).rows[0].taken) {
        onWait?.();
        await client.query(`SELECT pg_advisory_lock(${keyLock})`);
      }
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    return {
      release: () => client.end().catch(() => {}), // the lock goes with the session
      // Throws when the session (and the lock with it) is gone: its connection dropped.
      stillHeld: async () => {
        if (lost) throw new Error('the connection holding the master key lock was lost');
        await client.query('SELECT 1');
      },
    };
  }
  const holdShared = async () => (await hold(false)).release;

  return {
    // The lock is held from before the transaction until after onCommitted: a holder waiting for it finds the new key file.
    async resealAll(reseal, check, onWait, onCommitted) {
      const lock = await hold(true, onWait);
      try {
        const result = await db.tx(async (sql) => {
          const running = (await sql.all(liveWorkers(db))).map((r) => String(r.id));
          if (running.length) return { running };
          let resealed = 0;
          for (const t of SEALED_TABLES) {
            const { select, update } = sealedSql(t, '$');
            // FOR UPDATE: a change made meanwhile (by a process that should not be running) waits, rather than being lost.
            for (const row of await sql.all(`${select} FOR UPDATE`)) {
              const changed = resealRow(t, row, reseal);
              if (!changed) continue;
              await sql.run(update, changed.params);
              resealed += changed.count;
            }
          }
          await sql.run('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [check.key, check.value]);
          // The lock is a session's, not this transaction's: were its connection lost, a start could have checked the
          // old key meanwhile. Then nothing is committed (a rotation run again finds the store as it was).
          await lock.stillHeld();
          return { resealed };
        });
        if ('resealed' in result) onCommitted?.();
        return result;
      } finally {
        await lock.release();
      }
    },

    async checkingKey(check, worker) {
      const release = await holdShared();
      try {
        const result = await check();
        // A take that fails (another process holds this worker id) is left to the claims, which say why each second:
        // meanwhile that process holds the id's lock, so a rotation finds the id alive all the same.
        if (worker) await liveness.hold(worker.id, worker.now).catch(() => false);
        return result;
      } finally {
        await release();
      }
    },

    holdingKey: holdShared,
  };
}
