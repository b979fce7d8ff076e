// A store that cannot be opened (a refused login, TLS the server does not speak, a schema it may not write)
// stops start-up with one line naming the store and the setting to check, never a stack trace.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { tempDataDir } from '../helpers/process.ts';
import { postgresAvailability } from '../helpers/postgres.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

function start(env: Record<string, string>) {
  return spawnSync(process.execPath, ['src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, BOTGATE_PORT: '0', BOTGATE_DATA_DIR: tempDataDir(), ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('a store that cannot be opened', async () => {
  const pg = await postgresAvailability();

  it('PostgreSQL refusing the login, the TLS asked for, or the schema: one line each, exit 1', { skip: 'skip' in pg ? pg.skip : false }, () => {
    const url = new URL((pg as { url: string }).url);
    const noRole = new URL(url);
    noRole.username = 'botgate_no_such_role';
    const tls = new URL(url);
    tls.searchParams.set('sslmode', 'verify-full');
    for (const [env, reason] of [
      [{ BOTGATE_DATABASE_URL: noRole.href }, /role "botgate_no_such_role" does not exist/],
      [{ BOTGATE_DATABASE_URL: tls.href }, /does not support SSL/],
      [{ BOTGATE_DATABASE_URL: url.href, BOTGATE_DATABASE_SCHEMA: 'pg_catalog' }, /permission denied/],
    ] as const) {
      const result = start(env);
      assert.equal(result.status, 1, result.stderr);
      const lines = result.stderr.split('\n').filter((line) => line !== '');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0], /^botgate: failed to start: PostgreSQL \S+ \(schema \w+\) cannot be used: .*\(check database_url\)$/);
      assert.match(lines[0], reason);
      assert.doesNotMatch(result.stderr, /^\s+at /m);
      assert.equal(result.stdout, '', 'no banner');
    }
  });

  it('PostgreSQL not answering at all', () => {
    const result = start({ BOTGATE_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test' });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /^botgate: failed to start: PostgreSQL 127\.0\.0\.1:1\/test \(schema public\) cannot be used: connect ECONNREFUSED 127\.0\.0\.1:1 \(check database_url\)\n$/);
  });
});
