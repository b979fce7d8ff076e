// Opens the store the configuration asks for: PostgreSQL when database_url is set, else SQLite in data_dir.
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { isCodeFault } from '../errors.ts';
import { createSqliteStore } from './sqlite/sqlite-store.ts';
import type { Store } from './store.ts';

export async function createStore(config: Config, newId: (prefix: 'dlv') => string): Promise<Store> {
  if (config.database_url) {
    // Loaded only here: pg and the PostgreSQL store are ~2.3 MB of heap a gateway on SQLite never uses.
    const { createPostgresStore } = await import('./postgres/postgres-store.ts');
    return createPostgresStore({
      connectionString: config.database_url,
      schema: config.database_schema,
      poolSize: config.database_pool_size,
      newId,
      idempotencyTtlMs: config.api.idempotency_ttl_hours * 3_600_000,
    });
  }
  return createSqliteStore({ file: join(config.data_dir, 'botgate.db'), synchronous: config.sqlite_synchronous, newId, idempotencyTtlMs: config.api.idempotency_ttl_hours * 3_600_000 });
}

/** The store could not be opened or migrated, for a reason outside the code (a refused login, no server, no TLS…). */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

/**
 * Opens the store and applies its pending migrations, after `beforeMigrate` (a check that may refuse the store
 * before anything in it changes; its error is passed on as it is). A failure is a StoreOpenError saying which
 * store and what to check, unless it is a fault of the code (TypeError, ReferenceError, RangeError), which keeps its stack.
 */
export async function openStore(config: Config, newId: (prefix: 'dlv') => string, migrate: boolean, beforeMigrate?: (store: Store) => Promise<void>): Promise<{ store: Store; migrations: string[] }> {
  const cannotUse = (error: unknown) => {
    if (isCodeFault(error)) return error;
    const check = config.database_url ? 'check database_url' : 'check data_dir';
    return new StoreOpenError(`${describeStore(config)} cannot be used: ${(error as Error).message} (${check})`, { cause: error });
  };
  let store: Store;
  try {
    store = await createStore(config, newId);
  } catch (error) {
    throw cannotUse(error);
  }
  try {
    await beforeMigrate?.(store);
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
  try {
    return { store, migrations: migrate ? await store.migrate() : [] };
  } catch (error) {
    await store.close().catch(() => {});
    throw cannotUse(error);
  }
}

/** Where the store lives, for logs and banners (never the password of a URL). */
export function describeStore(config: Config): string {
  if (!config.database_url) return `SQLite ${join(config.data_dir, 'botgate.db')}`;
  const url = new URL(config.database_url);
  url.password = '';
  return `PostgreSQL ${url.host}${url.pathname} (schema ${config.database_schema})`;
}
