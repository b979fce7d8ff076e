// The scale-out store: PostgreSQL through a pg Pool, shared by several gateway processes (DESIGN.md, "Storage").
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readMigrations } from '../migrations.ts';
import type { Store } from '../store.ts';
import type { PoolClient } from 'pg';
import { PgDb, type Sql } from './db.ts';
import { createAppsRepo } from './apps.ts';
import { createBotsRepo } from './bots.ts';
import { createChannelsRepo } from './channels.ts';
import { createConversationsRepo } from './conversations.ts';
import { createCountersRepo } from './counters.ts';
import { createUsersRepo } from './users.ts';
import { createAgentsRepo, createHandoffsRepo } from './handoffs.ts';
import { createDeliveriesRepo } from './deliveries.ts';
import { createEndpointsRepo } from './endpoints.ts';
import { createJobsRepo } from './jobs.ts';
import { createLiveness } from './liveness.ts';
import { createMessagesRepo } from './messages.ts';
import { createNotifyRepo } from './notify.ts';
import { createRetentionRepo } from './retention.ts';
import { createSettingsRepo } from './settings.ts';
import { createSecretsRepo } from './secrets.ts';

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface PostgresStoreOptions {
  connectionString: string;
  /** A lower-case SQL identifier; created by migrate() when missing. */
  schema: string;
  poolSize: number;
  newId: (prefix: 'dlv') => string;
  /** How long idempotency keys of messages published inside conversation turns hold (the API's setting). */
  idempotencyTtlMs?: number;
}

export function createPostgresStore(options: PostgresStoreOptions): Store {
  const db = new PgDb(options);
  // The delivery worker's own pool: its claims and finishes commit asynchronously (docs/delivery.md, "Crash
  // safety"). A PostgreSQL crash may undo the last of them, and the delivery is sent again, as after a lost
  // lease; what a caller was acknowledged (publishing) still waits for its flush on the main pool.
  const workerDb = new PgDb({ ...options, poolSize: Math.max(2, Math.ceil(options.poolSize / 2)), synchronousCommit: false });
  const messages = createMessagesRepo(db, options.newId);
  // Each worker id that claims holds a lock for as long as this store is open: how other processes tell it is alive.
  const liveness = createLiveness(db);
  /** exclusive(): per lock name, the turn of the last caller in this process. */
  const turns = new Map<string, Promise<void>>();
  /** Connections waiting for an advisory lock another process holds: close() ends them, so a stop does not wait too. */
  const waiting = new Set<PoolClient>();
  return {
    capabilities: { dialect: 'postgres', multiProcess: true, parallelQueries: true },
    settings: createSettingsRepo(db),
    secrets: createSecretsRepo(db, liveness),
    endpoints: createEndpointsRepo(db, messages.publishInTx, () => options.idempotencyTtlMs ?? 86_400_000),
    messages,
    deliveries: createDeliveriesRepo(db, workerDb, liveness, messages.publishInTx, () => options.idempotencyTtlMs ?? 86_400_000),
    jobs: createJobsRepo(db, liveness),
    retention: createRetentionRepo(db),
    counters: createCountersRepo(db),
    apps: createAppsRepo(db),
    bots: createBotsRepo(db),
    channels: createChannelsRepo(db),
    users: createUsersRepo(db),
    conversations: createConversationsRepo(db, messages.publishInTx, () => options.idempotencyTtlMs ?? 86_400_000),
    handoffs: createHandoffsRepo(db),
    agents: createAgentsRepo(db),
    notify: createNotifyRepo(db, liveness, messages.publishInTx, () => options.idempotencyTtlMs ?? 86_400_000),
    migrate: () => migrate(db),
    async ping() {
      await db.get('SELECT 1');
    },
    async exclusive(name, fn) {
      // In this process callers of one name take turns here, not on pool connections: a dozen of them waiting for
      // the lock held every connection, and the holder's fn, which runs on the pool, could never get one.
      const before = turns.get(name) ?? Promise.resolve();
      let done!: () => void;
      const mine = new Promise<void>((resolve) => (done = resolve));
      const queued = before.then(() => mine);
      turns.set(name, queued);
      try {
        await before;
        return await holdingLock(name, fn);
      } finally {
        done();
        if (turns.get(name) === queued) turns.delete(name);
      }
    },
    close: async () => {
      for (const client of waiting) void client.end().catch(() => {}); // its lock query fails: the caller's exclusive() rejects
      await liveness.close();
      await Promise.all([db.close(), workerDb.close()]);
    },
  };

  /** A session advisory lock (against other processes) on its own connection, held while fn runs on the pool. */
  async function holdingLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const { client, release } = await db.checkout();
    try {
      waiting.add(client);
      try {
        await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [db.lockName(name)]);
      } finally {
        waiting.delete(client);
      }
      try {
        return await fn();
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [db.lockName(name)]);
      }
    } finally {
      release();
    }
  }
}

/**
 * Applies pending migrations, each in its own transaction. Every step first takes a transaction-scoped
 * advisory lock, so processes starting together apply each migration once; a waiter re-reads what was
 * applied once it holds the lock.
 */
async function migrate(db: PgDb): Promise<string[]> {
  const lock = (sql: Sql) =>
    sql.get('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [db.lockName('migrate')]);
  await db.tx(async (sql) => {
    await lock(sql);
    // Only when missing: CREATE SCHEMA asks for the CREATE right on the database even when it exists.
    if (!(await sql.get('SELECT 1 FROM pg_namespace WHERE nspname = $1', [db.schema]))) await sql.run(`CREATE SCHEMA ${db.schema}`);
    await sql.run(`CREATE TABLE IF NOT EXISTS ${db.schema}.schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`);
  });
  const done: string[] = [];
  for (const migration of readMigrations(MIGRATIONS_DIR)) {
    const applied = await db.tx(async (sql) => {
      await lock(sql);
      if (await sql.get('SELECT 1 FROM schema_migrations WHERE name = $1', [migration.name])) return false;
      await sql.run(migration.sql);
      // The database's clock: when a migration ran is a fact about the database, not about the gateway's clock.
      await sql.run('INSERT INTO schema_migrations (name, applied_at) VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)', [migration.name]);
      return true;
    });
    if (applied) done.push(migration.name);
  }
  return done;
}
