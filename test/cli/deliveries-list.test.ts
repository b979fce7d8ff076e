// `botgate deliveries list` reaches every delivery GET /api/deliveries does, on both stores: a time window with
// --since and --until, and pages of --limit rows continued with --cursor (the next one is printed while there are more).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freshStoreEnv, testBackends } from '../helpers/backends.ts';
import { MASTER_KEY } from '../helpers/gateway.ts';
import { assertCliPages, cli } from '../helpers/cli.ts';

for (const backend of await testBackends()) {
  describe(`cli deliveries list (${backend.name})`, { skip: backend.skip }, () => {
    let env: Record<string, string>;
    let drop = async () => {};
    /** The deliveries made, newest first, as `deliveries list --json` shows them. */
    let all: { id: string; created_at: string }[] = [];

    before(async () => {
      ({ env, drop } = await freshStoreEnv(backend, { BOTGATE_MASTER_KEY: MASTER_KEY }));
      assert.equal((await cli(env, 'migrate')).status, 0);
      const created = await cli(env, 'endpoints', 'create', '--name', 'erp', '--url', 'https://erp.example/hooks');
      assert.equal(created.status, 0, created.stderr);
      const endpoint = /ep_[0-9a-z]+/.exec(created.stdout)![0];
      for (let i = 0; i < 3; i++) assert.equal((await cli(env, 'endpoints', 'test', endpoint)).status, 0);
      const listed = await cli(env, 'deliveries', 'list', '--json');
      assert.equal(listed.status, 0, listed.stderr);
      all = JSON.parse(listed.stdout);
      assert.equal(all.length, 3);
      assert.equal(listed.stderr, '', 'no next cursor: every row is shown');
    });
    after(() => drop());

    it('pages with --limit and --cursor, printing the next cursor while there are more', async () => {
      await assertCliPages(env, ['deliveries', 'list'], all.map((d) => d.id), 'msg_0', /^botgate: --cursor: not a cursor of this list \(a delivery id, dlv_…\)/);
    });

    it('takes --until (created before it), and refuses a window that holds nothing', async () => {
      const older = await cli(env, 'deliveries', 'list', '--until', all[1].created_at, '--json');
      assert.equal(older.status, 0, older.stderr);
      assert.deepEqual(JSON.parse(older.stdout).map((d: { id: string }) => d.id), [all[2].id]);
      const window = await cli(env, 'deliveries', 'list', '--since', all[2].created_at, '--until', all[0].created_at, '--json');
      assert.deepEqual(JSON.parse(window.stdout).map((d: { id: string }) => d.id), [all[1].id, all[2].id]);
      for (const args of [['--since', '1h', '--until', '2h'], ['--since', all[0].created_at, '--until', all[0].created_at]]) {
        const reversed = await cli(env, 'deliveries', 'list', ...args);
        assert.equal(reversed.status, 2, `${args.join(' ')}: ${reversed.stdout}`);
        assert.match(reversed.stderr, /^botgate: --since must be before --until \(BG_ERR_VALIDATION\)/);
      }
    });
  });
}
