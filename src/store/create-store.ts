// Opens the store the configuration asks for: PostgreSQL when database_url is set, else SQLite in data_dir.
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
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

/** Where the store lives, for logs and banners (never the password of a URL). */
export function describeStore(config: Config): string {
  if (!config.database_url) return `SQLite ${join(config.data_dir, 'botgate.db')}`;
  const url = new URL(config.database_url);
  url.password = '';
  return `PostgreSQL ${url.host}${url.pathname} (schema ${config.database_schema})`;
}
