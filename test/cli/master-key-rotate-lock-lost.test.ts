// botgate master-key rotate on PostgreSQL holds the master key lock on a connection of its own (a session lock, held
// past the commit until the new key file is in place). Were that connection lost during the rotation's transaction,
// a gateway could start meanwhile, check the old key and serve with it: the rotation then commits nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { Command } from 'commander';
import { withServices } from '../../src/cli/context.ts';
import { createSecretBox, parseMasterKey } from '../../src/crypto/secret-box.ts';
import { eventually, MASTER_KEY } from '../helpers/gateway.ts';
import { freshSchema, postgresAvailability } from '../helpers/postgres.ts';
import { tempDataDir } from '../helpers/process.ts';
import { cliProcess } from '../helpers/cli.ts';

const availability = await postgresAvailability();

describe('botgate master-key rotate on PostgreSQL, its lock connection lost mid-rotation', { skip: 'skip' in availability ? availability.skip : false }, () => {
  it('commits nothing: the secrets stay sealed under the old key', async () => {
    const url = (availability as { url: string }).url;
    const schema = await freshSchema(url);
    const env: Record<string, string> = {
      BOTGATE_DATA_DIR: tempDataDir(), BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_LOG_LEVEL: 'silent', BOTGATE_DEMO__ENABLED: 'false',
      BOTGATE_DATABASE_URL: url, BOTGATE_DATABASE_SCHEMA: schema.schema,
    };
    const saved = { ...process.env };
    Object.assign(process.env, env);
    const blocker = new pg.Client({ connectionString: url });
    const killer = new pg.Client({ connectionString: url });
    let child: ReturnType<typeof cliProcess> | null = null;
    try {
      const { app, secret } = await withServices(new Command(), ({ apps }) => apps.create({ name: 'kept-under-the-old-key' }), { create: true });
      await blocker.connect();
      await killer.connect();
      // A row lock on the app stops the rotation inside its transaction (its SELECT … FOR UPDATE), lock held.
      const blockerPid = (await blocker.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      await blocker.query('BEGIN');
      await blocker.query(`SELECT 1 FROM ${schema.schema}.apps FOR UPDATE`);
      child = cliProcess({ ...env, NEW_MASTER_KEY: 'a-new-master-key-for-this-test' }, 'master-key', 'rotate', '--new-key-env', 'NEW_MASTER_KEY');
      // The session holding the rotation's lock (an advisory lock on a bigint key: objsubid 1, the key in classid/objid).
      const holder = await eventually(async () => (await killer.query(
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND mode = 'ExclusiveLock' AND objsubid = 1
           AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`,
        [`botgate:${schema.schema}:master-key`],
      )).rows[0]?.pid as number | undefined);
      // The rotation's transaction is waiting for the row: its lock's connection drops meanwhile.
      await eventually(async () => (await killer.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%' AND pid <> $1`, [blockerPid])).rowCount);
      await killer.query('SELECT pg_terminate_backend($1)', [holder]);
      await blocker.query('ROLLBACK');
      const { status, stdout, stderr } = await child.done;
      const out = stdout + stderr;
      assert.notEqual(status, 0, out);
      assert.match(out, /the connection holding the master key lock was lost/);
      const stored = await withServices(new Command(), ({ store }) => store.apps.get(app.id));
      assert.equal(createSecretBox(parseMasterKey(MASTER_KEY)).open(stored!.secretSealed), secret, 'still sealed under the old key');
    } finally {
      child?.kill();
      await blocker.end().catch(() => {});
      await killer.end().catch(() => {});
      for (const name of Object.keys(env)) delete process.env[name];
      Object.assign(process.env, saved);
      await schema.drop();
    }
  });
});
