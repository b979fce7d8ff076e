// PostgreSQL for tests: whether it is reachable (a skip with its reason, or a failure in CI), and
// throw-away schemas so test runs never see each other's rows.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const TEST_DATABASE_URL = process.env.BOTGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let printed = false;

/** The URL to test against, or why the PostgreSQL tests are skipped (throws when BOTGATE_TEST_REQUIRE_PG=1). */
export async function postgresAvailability(): Promise<{ url: string } | { skip: string }> {
  const url = TEST_DATABASE_URL;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return { url };
  } catch (error) {
    const where = redact(url);
    if (process.env.BOTGATE_TEST_REQUIRE_PG === '1') {
      throw new Error(`PostgreSQL is required (BOTGATE_TEST_REQUIRE_PG=1) but not reachable at ${where}: ${(error as Error).message}`);
    }
    const skip = `PostgreSQL not reachable at ${where} (set BOTGATE_TEST_REQUIRE_PG=1 to make this a failure)`;
    if (!printed) {
      printed = true;
      process.stderr.write(`${skip}: ${(error as Error).message}\n`);
    }
    return { skip };
  } finally {
    await client.end().catch(() => {});
  }
}

/** Creates an empty schema with a unique name; drop() removes it with everything in it. */
export async function freshSchema(url: string): Promise<{ schema: string; drop(): Promise<void> }> {
  const schema = `bg_test_${randomBytes(6).toString('hex')}`;
  await withClient(url, (client) => client.query(`CREATE SCHEMA ${schema}`));
  return {
    schema,
    drop: () => withClient(url, (client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)),
  };
}

async function withClient(url: string, fn: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  await client.connect();
  try {
    await fn(client);
  } finally {
    await client.end();
  }
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return 'the configured URL';
  }
}
