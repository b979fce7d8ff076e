// `botgate endpoints list` reaches every endpoint GET /api/endpoints does, on both stores: pages of --limit rows
// continued with --cursor (the next one is printed on stderr while there are more), as `deliveries list` does.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freshStoreEnv, testBackends } from '../helpers/backends.ts';
import { MASTER_KEY } from '../helpers/gateway.ts';
import { assertCliPages, cli } from '../helpers/cli.ts';

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
      await assertCliPages(env, ['endpoints', 'list'], all, 'dlv_0', /^botgate: --cursor: not a cursor of this list \(an endpoint id, ep_…\)/);
    });
  });
}
