// `botgate endpoints list` reaches every endpoint GET /api/endpoints does, on both stores: pages of --limit rows
// continued with --cursor (the next one is printed on stderr while there are more), as `deliveries list` does.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freshStoreEnv, testBackends } from '../helpers/backends.ts';
import { MASTER_KEY } from '../helpers/gateway.ts';
import { cli } from '../helpers/cli.ts';

const ids = (stdout: string) => (JSON.parse(stdout) as { id: string }[]).map((e) => e.id);

for (const backend of await testBackends()) {
  describe(`cli endpoints list (${backend.name})`, { skip: backend.skip }, () => {
    let env: Record<string, string>;
    let drop = async () => {};
    /** The endpoints made, newest first, as `endpoints list --json` shows them. */
    let all: string[] = [];

    before(async () => {
      ({ env, drop } = await freshStoreEnv(backend, { BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_DEMO__ENABLED: 'false' }));
      assert.equal((await cli(env, 'migrate')).status, 0);
      for (const name of ['erp', 'crm', 'wms']) {
        const created = await cli(env, 'endpoints', 'create', '--name', name, '--url', `https://${name}.example/hooks`);
        assert.equal(created.status, 0, created.stderr);
      }
      const listed = await cli(env, 'endpoints', 'list', '--json');
      assert.equal(listed.status, 0, listed.stderr);
      all = ids(listed.stdout);
      assert.equal(all.length, 3);
      assert.equal(listed.stderr, '', 'no next cursor: every row is shown');
    });
    after(() => drop());

    it('pages with --limit and --cursor, printing the next cursor while there are more', async () => {
      const first = await cli(env, 'endpoints', 'list', '--limit', '2', '--json');
      assert.equal(first.status, 0, first.stderr);
      assert.deepEqual(ids(first.stdout), all.slice(0, 2));
      assert.equal(first.stderr, `more: botgate endpoints list --cursor ${all[1]} (with the same options)\n`);
      const second = await cli(env, 'endpoints', 'list', '--limit', '2', '--cursor', all[1], '--json');
      assert.equal(second.status, 0, second.stderr);
      assert.deepEqual(ids(second.stdout), [all[2]]);
      assert.equal(second.stderr, '');
      // The table too: the rows on stdout, the next cursor on stderr.
      const table = await cli(env, 'endpoints', 'list', '--limit', '1');
      assert.match(table.stdout, new RegExp(`^ID .*\\n${all[0]} `));
      assert.equal(table.stderr, `more: botgate endpoints list --cursor ${all[0]} (with the same options)\n`);
      // A cursor of another list is refused, as the API refuses it.
      const foreign = await cli(env, 'endpoints', 'list', '--cursor', 'dlv_0');
      assert.equal(foreign.status, 2, foreign.stdout);
      assert.match(foreign.stderr, /^botgate: --cursor: not a cursor of this list \(an endpoint id, ep_…\)/);
    });
  });
}
