// The CLI's time options (`deliveries list --since`, `endpoints recover --since/--until`) on both stores: an age is
// a time the store can compare, whatever its digits, and one that reaches past every date is a bad option value.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freshStoreEnv, testBackends } from '../helpers/backends.ts';
import { MASTER_KEY } from '../helpers/gateway.ts';
import { cli } from '../helpers/cli.ts';

for (const backend of await testBackends()) {
  describe(`cli time options (${backend.name})`, { skip: backend.skip }, () => {
    let env: Record<string, string>;
    let drop = async () => {};
    let endpoint = '';

    before(async () => {
      ({ env, drop } = await freshStoreEnv(backend, { BOTGATE_MASTER_KEY: MASTER_KEY }));
      assert.equal((await cli(env, 'migrate')).status, 0);
      const created = await cli(env, 'endpoints', 'create', '--name', 'erp', '--url', 'https://erp.example/hooks');
      assert.equal(created.status, 0, created.stderr);
      endpoint = /ep_[0-9a-z]+/.exec(created.stdout)![0];
    });
    after(() => drop());

    it('takes an age that is not a whole number of milliseconds', async () => {
      // 1.0001s is 1000.1 ms and a third of an hour typed as 0.333333h 1,199,998.8 ms: PostgreSQL refused the
      // fraction for its bigint column ("invalid input syntax for type bigint", exit 1).
      for (const args of [['deliveries', 'list', '--since', '1.0001s'], ['deliveries', 'list', '--since', '0.333333h'],
        ['endpoints', 'recover', endpoint, '--since', '1.0001h'], ['endpoints', 'recover', endpoint, '--since', '2h', '--until', '1.0001s']]) {
        const run = await cli(env, ...args);
        assert.equal(run.status, 0, `${args.join(' ')}: ${run.stderr}`);
        assert.equal(run.stderr, '');
      }
    });

    it('refuses an age reaching before the first date a time can have', async () => {
      // 10^20 days ago: PostgreSQL failed on it (exit 1, "-8.64e+27" is no bigint); SQLite listed every delivery.
      for (const args of [['deliveries', 'list', '--since', '99999999999999999999d'], ['endpoints', 'recover', endpoint, '--since', '99999999999999999999d']]) {
        const run = await cli(env, ...args);
        assert.equal(run.status, 2, `${args.join(' ')}: ${run.stdout}${run.stderr}`);
        assert.match(run.stderr, /^botgate: --since: not a time: 99999999999999999999d /);
      }
    });
  });
}
