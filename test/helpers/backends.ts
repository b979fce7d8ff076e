// The stores a suite runs once on each: SQLite always, PostgreSQL when reachable (else skipped with the reason, or a
// failure under BOTGATE_TEST_REQUIRE_PG=1); and a test gateway on one of them, PostgreSQL in a fresh schema.
import { startTestGateway, type TestGateway } from './gateway.ts';
import { freshSchema, postgresAvailability } from './postgres.ts';
import { tempDataDir } from './process.ts';

export interface Backend {
  name: 'SQLite' | 'PostgreSQL';
  /** Why suites on this backend are skipped, else false (node:test's `skip` option). */
  skip: string | false;
  /** The PostgreSQL server to test against. */
  url?: string;
}

export async function testBackends(): Promise<Backend[]> {
  const postgres = await postgresAvailability();
  return [
    { name: 'SQLite', skip: false },
    'url' in postgres ? { name: 'PostgreSQL', skip: false, url: postgres.url } : { name: 'PostgreSQL', skip: postgres.skip },
  ];
}

/** A test gateway on the backend; drop() removes its PostgreSQL schema (call it after gw.close()). */
export async function startBackendGateway(
  backend: Backend,
  env: Record<string, string> = {},
  options: Parameters<typeof startTestGateway>[1] = {},
): Promise<{ gw: TestGateway; drop: () => Promise<void> }> {
  if (backend.url === undefined) return { gw: await startTestGateway(env, options), drop: async () => {} };
  const schema = await freshSchema(backend.url);
  const gw = await startTestGateway({ ...env, BOTGATE_DATABASE_URL: backend.url, BOTGATE_DATABASE_SCHEMA: schema.schema }, options);
  return { gw, drop: schema.drop };
}

/**
 * The settings of a fresh store on the backend for CLI runs and in-process services: its own data directory, and on
 * PostgreSQL a fresh schema; drop() removes the schema.
 */
export async function freshStoreEnv(backend: Backend, env: Record<string, string>): Promise<{ env: Record<string, string>; drop: () => Promise<void> }> {
  const withDir = { BOTGATE_DATA_DIR: tempDataDir(), ...env };
  if (backend.url === undefined) return { env: withDir, drop: async () => {} };
  const schema = await freshSchema(backend.url);
  return { env: { ...withDir, BOTGATE_DATABASE_URL: backend.url, BOTGATE_DATABASE_SCHEMA: schema.schema }, drop: schema.drop };
}
