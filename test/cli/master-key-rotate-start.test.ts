// botgate master-key rotate against a gateway starting at the same moment, on PostgreSQL: the two exclude each other.
// Either the rotation is under way and the gateway waits for it, then is refused with the old key (exit 2), or the
// gateway is starting and the rotation waits for it to register, then is refused. Each window is held open by a
// row lock the test takes where the other side must pass (no sleeps): the key check row for the rotation's last
// write, a worker's row for the gateway's registration.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { postgresAvailability, freshSchema } from '../helpers/postgres.ts';
import { MASTER_KEY, startTestGateway } from '../helpers/gateway.ts';
import { spawnGateway, tempDataDir, type GatewayProcess } from '../helpers/process.ts';
import { cli } from '../helpers/cli.ts';

const NEW_KEY = 'the-new-master-key-after-a-leak';
const pgAvailable = await postgresAvailability();

/** Runs the CLI as a process (without blocking this one). */

/** Resolves once `settled` has or `condition` holds, polled: whichever comes first, saying which. */
async function firstOf<T>(settled: Promise<T>, condition: () => Promise<boolean>): Promise<'settled' | 'condition'> {
  let done = false;
  void settled.then(() => (done = true), () => (done = true));
  for (const until = Date.now() + 20_000; Date.now() < until; await new Promise((r) => setTimeout(r, 20))) {
    if (done) return 'settled';
    if (await condition()) return 'condition';
  }
  throw new Error('neither happened in 20 s');
}

describe('botgate master-key rotate while a gateway starts (postgres)', { skip: 'skip' in pgAvailable ? pgAvailable.skip : false }, () => {
  const url = 'url' in pgAvailable ? pgAvailable.url : '';
  let env: Record<string, string>;
  let drop = async () => {};
  let admin: pg.Client;
  let holder: pg.Client;
  let holderPid = 0;

  /** A gateway process's settings, with the master key given. */
  const gatewayEnv = (key: string, extra: Record<string, string> = {}) => ({ ...env, BOTGATE_MASTER_KEY: key, BOTGATE_DEMO__ENABLED: 'false', ...extra });
  const rotate = () => cli({ ...env, BOTGATE_MASTER_KEY: MASTER_KEY, NEW_MASTER_KEY: NEW_KEY }, 'master-key', 'rotate', '--new-key-env', 'NEW_MASTER_KEY');
  /** Whether a session waits for a lock the test's `holder` holds. */
  const blockedByHolder = async () => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [holderPid])).rowCount! > 0;
  /** Whether a session waits for the master key lock of this schema (a rotation's, or a gateway start's). */
  const waitingForKeyLock = async () =>
    (await admin.query(
      `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`,
      [`botgate:${env.BOTGATE_DATABASE_SCHEMA}:master-key`],
    )).rowCount! > 0;

  before(async () => {
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
  });
  after(async () => {
    await admin.end();
  });

  // Each case on a store of its own: one ends rotated.
  const freshStore = async () => {
    const schema = await freshSchema(url);
    drop = schema.drop;
    env = { BOTGATE_DATA_DIR: tempDataDir(), BOTGATE_DATABASE_URL: url, BOTGATE_DATABASE_SCHEMA: schema.schema };
    const gw = await startTestGateway({ ...env, BOTGATE_MASTER_KEY: MASTER_KEY }, { start: false });
    try {
      assert.equal((await gw.api('POST', '/api/endpoints', { name: 'erp', url: 'http://127.0.0.1:9/erp', auth: { kind: 'bearer', token: 'erp-token' } })).status, 201);
    } finally {
      await gw.close();
    }
    holder = new pg.Client({ connectionString: url, options: `-c search_path=${schema.schema}` });
    await holder.connect();
    holderPid = (await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  };
  const cleanUp = async (gw: GatewayProcess | null) => {
    if (gw && gw.child.exitCode === null) {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
    await holder.end().catch(() => {});
    await drop();
  };

  it('a gateway starting during a rotation waits for it, then is refused with the old key in one line, exit 2', async () => {
    await freshStore();
    let gw: GatewayProcess | null = null;
    try {
      // The rotation's last write (the new key check) waits for this: it is inside its transaction, secrets resealed.
      await holder.query('BEGIN');
      await holder.query("SELECT 1 FROM settings WHERE key = 'master_key_check' FOR UPDATE");
      const rotated = rotate();
      assert.equal(await firstOf(rotated, blockedByHolder), 'condition', 'the rotation reached its last write');

      const starting = spawnGateway(gatewayEnv(MASTER_KEY));
      starting.then((started) => (gw = started), () => {});
      // The old code: the gateway comes up under the old key (the rotation has not committed) and is settled here.
      assert.equal(await firstOf(starting, waitingForKeyLock), 'condition', 'the gateway waits for the rotation');

      await holder.query('COMMIT');
      const result = await rotated;
      assert.equal(result.status, 0, result.stderr);
      const refused = await starting.then(() => null, (error: Error) => error.message);
      assert.ok(refused, 'the gateway started with the old key after the rotation');
      assert.match(refused, /^gateway exited with 2:\nbotgate: BOTGATE_MASTER_KEY is not the master key this database's secrets are sealed with: [^\n]*\n$/);
    } finally {
      await cleanUp(gw);
    }
  });

  it('a rotation during a gateway start waits for the gateway to register, then is refused', async () => {
    await freshStore();
    let gw: GatewayProcess | null = null;
    try {
      // The gateway's registration (its worker row) waits for this: it has checked its key, and registers next.
      await holder.query('BEGIN');
      await holder.query("INSERT INTO workers (id, started_at) VALUES ('racer', 0)");
      const starting = spawnGateway(gatewayEnv(MASTER_KEY, { BOTGATE_INSTANCE_ID: 'racer' }));
      starting.then((started) => (gw = started), () => {});
      // The gateway is held inside its start (on the old code, which registers at the first claim, after the start).
      assert.equal(await firstOf(starting, blockedByHolder), 'condition', 'the gateway registers as it starts');

      const rotated = rotate();
      assert.equal(await firstOf(rotated, waitingForKeyLock), 'condition', 'the rotation waits for the gateway');
      await holder.query('ROLLBACK');
      const result = await rotated;
      assert.equal(result.status, 2, result.stdout);
      assert.match(result.stderr, /gateways are running on this database \(worker racer\): stop every one, then rotate; nothing was changed/);

      // The gateway serves under the key the store still has.
      const running = await starting;
      assert.equal((await running.api('GET', '/api/endpoints')).status, 200);
    } finally {
      await cleanUp(gw);
    }
  });
});
