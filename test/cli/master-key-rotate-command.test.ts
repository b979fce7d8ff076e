// botgate master-key rotate against a CLI command that seals a secret, on both stores: the command checks its key
// when it opens the store and seals with it later, so a rotation committed in between would leave the value sealed
// under the old key, unreadable after it. The command (here opened in this process through withServices, as every
// CLI command is, and held open by the test between its check and its write) holds the master key lock until it
// closes: the rotation waits for it, saying so, and then seals again what the command wrote.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { Command } from 'commander';
import { withServices } from '../../src/cli/context.ts';
import { createSecretBox, parseMasterKey } from '../../src/crypto/secret-box.ts';
import { freshStoreEnv, testBackends } from '../helpers/backends.ts';
import { MASTER_KEY, startTestGateway } from '../helpers/gateway.ts';
import { cliProcess } from '../helpers/cli.ts';

const NEW_KEY = 'the-new-master-key-after-a-leak';

/** `botgate master-key rotate` as a process, its stderr readable while it runs. */
function rotate(env: Record<string, string>) {
  return botgate(['master-key', 'rotate', '--new-key-env', 'NEW_MASTER_KEY'], env);
}

/** A botgate CLI command as a process (the new key in NEW_MASTER_KEY), its stderr readable while it runs. */
function botgate(args: string[], env: Record<string, string>) {
  return cliProcess({ ...env, NEW_MASTER_KEY: NEW_KEY }, ...args);
}

/** Resolves once `settled` has or `condition` holds, polled: whichever comes first, saying which. */
async function firstOf(settled: Promise<unknown>, condition: () => boolean): Promise<'settled' | 'condition'> {
  let done = false;
  void settled.then(() => (done = true), () => (done = true));
  for (const until = Date.now() + 20_000; Date.now() < until; await new Promise((r) => setTimeout(r, 20))) {
    if (done) return 'settled';
    if (condition()) return 'condition';
  }
  throw new Error('neither happened in 20 s');
}

const backends = await testBackends();

for (const backend of backends) {
  describe(`botgate master-key rotate while a CLI command seals a secret (${backend.name})`, { skip: backend.skip }, () => {
    it('the rotation waits for the command, saying so, and seals again the secret it wrote', async () => {
      const { env, drop } = await freshStoreEnv(backend, { BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_LOG_LEVEL: 'silent', BOTGATE_DEMO__ENABLED: 'false' });
      // withServices reads the configuration from the environment, as the CLI does.
      const saved = { ...process.env };
      Object.assign(process.env, env);
      let rotation: ReturnType<typeof rotate> | null = null;
      try {
        await withServices(new Command(), async () => {}, { create: true }); // the store, with its key check

        let opened!: () => void;
        const isOpen = new Promise<void>((resolve) => (opened = resolve));
        let proceed!: () => void;
        const mayWrite = new Promise<void>((resolve) => (proceed = resolve));
        // `botgate apps create`, held between its key check (opening the store) and its write.
        const command = withServices(new Command(), async ({ apps }) => {
          opened();
          await mayWrite;
          return apps.create({ name: 'made-during-rotation' });
        });
        await isOpen;

        rotation = rotate(env);
        // The old code: the rotation does not wait for the command, and is done here.
        const first = await firstOf(rotation.done, () => /waiting/.test(rotation!.stderr()));
        proceed();
        const { app, secret } = await command;
        const result = await rotation.done;
        assert.equal(result.status, 0, result.stderr);

        // The secret the command wrote opens under the new key, and the gateway with it accepts the app.
        const gw = await startTestGateway({ ...env, BOTGATE_MASTER_KEY: NEW_KEY }, { start: false });
        try {
          const stored = (await gw.store.apps.get(app.id))!;
          let opens: string;
          try {
            opens = createSecretBox(parseMasterKey(NEW_KEY)).open(stored.secretSealed);
          } catch {
            opens = '(does not open under the new key)';
          }
          assert.equal(opens, secret);
        } finally {
          await gw.close();
        }
        assert.match(result.stdout, /sealed 2 stored secret\(s\) again under the new master key/); // the link key's and the app's
        assert.equal(first, 'condition', 'the rotation waited for the command');
        assert.match(result.stderr, /^botgate: other botgate processes are using the master key on this database \(CLI commands, a gateway starting\): waiting for them to finish\n$/);
      } finally {
        rotation?.kill();
        for (const name of Object.keys(env)) delete process.env[name];
        Object.assign(process.env, saved);
        await drop();
      }
    });

    // A command that read data_dir/master.key and then waited for a rotation finds the new key there when it gets the
    // key: rotate replaces the file before it lets go. It goes on with that key, rather than being refused for the old.
    it('a command that read the key file before waiting for a rotation goes on with the new key', async () => {
      const { env, drop } = await freshStoreEnv(backend, { BOTGATE_LOG_LEVEL: 'silent', BOTGATE_DEMO__ENABLED: 'false' });
      const dataDir = env.BOTGATE_DATA_DIR;
      const schemaName = env.BOTGATE_DATABASE_SCHEMA ?? '';
      const saved = { ...process.env };
      for (const name of ['BOTGATE_MASTER_KEY', 'BOTGATE_CONFIG']) delete process.env[name];
      Object.assign(process.env, env);
      let rotation: ReturnType<typeof rotate> | null = null;
      let waiter: ReturnType<typeof botgate> | null = null;
      const pgClient = backend.url ? new pg.Client({ connectionString: backend.url }) : null;
      try {
        await pgClient?.connect();
        await withServices(new Command(), async () => {}, { create: true }); // the store, and a master.key generated for it
        assert.ok(existsSync(join(dataDir, 'master.key')));

        // A command holds the key, so the rotation waits for it (holding the key lock for itself meanwhile).
        let release!: () => void;
        const released = new Promise<void>((resolve) => (release = resolve));
        let opened!: () => void;
        const isOpen = new Promise<void>((resolve) => (opened = resolve));
        const holder = withServices(new Command(), async () => {
          opened();
          await released;
        });
        await isOpen;
        rotation = rotate(env);
        assert.equal(await firstOf(rotation.done, () => /waiting/.test(rotation!.stderr())), 'condition', rotation.stderr());

        // `botgate apps create` reads master.key (the old key), then waits for the rotation to get the key.
        waiter = botgate(['apps', 'create', 'made-after-rotation'], env);
        const waiting = backend.url
          ? async () => {
            const { rows } = await pgClient!.query(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'SELECT pg_advisory_lock_shared%' AND query LIKE $1",
              [`%${schemaName}:master-key%`],
            );
            return rows[0].n > 0;
          }
          // SQLite: it has the key lock's file open (after reading master.key), and does not get the lock.
          : async () => readdirSync(`/proc/${waiter!.pid}/fd`).some((fd) => {
            try {
              return readlinkSync(`/proc/${waiter!.pid}/fd/${fd}`).endsWith('master-key.lock');
            } catch {
              return false;
            }
          });
        let isWaiting = false;
        for (const until = Date.now() + 20_000; !isWaiting && Date.now() < until; await new Promise((r) => setTimeout(r, 20))) isWaiting = await waiting();
        assert.ok(isWaiting, `the command waits for the rotation: ${waiter.stderr()}`);

        release();
        await holder;
        const rotated = await rotation.done;
        assert.equal(rotated.status, 0, rotated.stderr);
        const made = await waiter.done;
        assert.equal(made.stderr, '', 'not refused for the old key');
        assert.equal(made.status, 0);

        // It sealed the app's secret under the new key, the one master.key holds now.
        const secret = /client secret: (\S+)/.exec(made.stdout)![1];
        const newKey = parseMasterKey(readFileSync(join(dataDir, 'master.key'), 'utf8'));
        assert.deepEqual(newKey, parseMasterKey(NEW_KEY));
        await withServices(new Command(), async ({ store }) => {
          const app = (await store.apps.byName('made-after-rotation'))!;
          assert.equal(createSecretBox(newKey).open(app.secretSealed), secret);
        });
      } finally {
        rotation?.kill();
        waiter?.kill();
        await pgClient?.end();
        for (const name of Object.keys(env)) delete process.env[name];
        Object.assign(process.env, saved);
        await drop();
      }
    });
  });
}
