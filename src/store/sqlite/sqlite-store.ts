// The embedded default store: one SQLite file through node:sqlite, WAL mode (DESIGN.md, "Storage").
import { makeDataDir } from '../../data-dir.ts';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readMigrations } from '../migrations.ts';
import type { Store } from '../store.ts';
import { SqliteDb } from './db.ts';
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
import { createMessagesRepo } from './messages.ts';
import { createRetentionRepo } from './retention.ts';
import { createSettingsRepo } from './settings.ts';
import { createSecretsRepo } from './secrets.ts';
import { createNotifyRepo } from './notify.ts';
import { startDecisionUserIndex, type DecisionUserIndex } from './decision-index.ts';

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface SqliteStoreOptions {
  /** A file path, or ':memory:'. */
  file: string;
  synchronous?: 'NORMAL' | 'FULL';
  newId: (prefix: 'dlv') => string;
  /** How long idempotency keys of messages published inside conversation turns hold (the API's setting). */
  idempotencyTtlMs?: number;
}

export interface SqliteStore extends Store {
  /** Writes what is written behind the requests (the decisions' user index) now: tests, benchmarks. */
  flushDeferred(): Promise<void>;
}

export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  if (options.file !== ':memory:') makeDataDir(dirname(options.file));
  const db = new SqliteDb(options.file, { synchronous: options.synchronous ?? 'NORMAL' });
  db.startBackground(options.file, options.synchronous ?? 'NORMAL');
  const messages = createMessagesRepo(db, options.newId);
  let decisionIndex: DecisionUserIndex | null = null;
  return {
    capabilities: { dialect: 'sqlite', multiProcess: false, parallelQueries: false },
    settings: createSettingsRepo(db),
    secrets: createSecretsRepo(db, options.file),
    endpoints: createEndpointsRepo(db, messages.publishInTx, () => options.idempotencyTtlMs ?? 86_400_000),
    messages,
    deliveries: createDeliveriesRepo(db, messages.publishInTx, () => options.idempotencyTtlMs ?? 86_400_000),
    jobs: createJobsRepo(db),
    retention: createRetentionRepo(db),
    counters: createCountersRepo(db),
    apps: createAppsRepo(db),
    bots: createBotsRepo(db),
    channels: createChannelsRepo(db),
    users: createUsersRepo(db),
    conversations: createConversationsRepo(db, messages.publishInTx, () => options.idempotencyTtlMs ?? 86_400_000),
    handoffs: createHandoffsRepo(db),
    agents: createAgentsRepo(db),
    notify: createNotifyRepo(db, messages.publishInTx, () => options.idempotencyTtlMs ?? 86_400_000),
    async migrate() {
      db.raw.exec('CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
      const applied = new Set(db.all('SELECT name FROM schema_migrations').map((r) => String(r.name)));
      const done: string[] = [];
      for (const migration of readMigrations(MIGRATIONS_DIR)) {
        if (applied.has(migration.name)) continue;
        db.tx(() => {
          db.raw.exec(migration.sql);
          // The database's clock: when a migration ran is a fact about the database, not about the gateway's clock.
          db.run("INSERT INTO schema_migrations (name, applied_at) VALUES (?, CAST(unixepoch('subsec') * 1000 AS INTEGER))", [migration.name]);
        });
        done.push(migration.name);
      }
      // Written behind the decisions once their table is there (store/sqlite/decision-index.ts).
      decisionIndex ??= startDecisionUserIndex(db);
      return done;
    },
    async ping() {
      db.get('SELECT 1');
    },
    // One gateway process per SQLite file (the server lock): nobody to exclude.
    exclusive: (_name, fn) => fn(),
    flushDeferred: async () => decisionIndex?.flush(),
    async close() {
      await decisionIndex?.stop();
      await db.close();
    },
  };
}
