// CLI options carrying a secret (an endpoint's bearer token, an async channel's access token, a platform's auth token)
// take it from an environment variable too (`--x-env NAME`), so it shows neither in `ps` nor in shell history.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { loadConfig } from '../../src/config/load.ts';
import { createServices } from '../../src/services.ts';
import { MASTER_KEY } from '../helpers/gateway.ts';
import { tempDataDir } from '../helpers/process.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('cli secret options', () => {
  it('reads --bearer-env, --access-token-env and --auth-token-env from the environment, and says so in --help', async () => {
    const secrets = { ERP_TOKEN: 'erp-token-from-env-1', KORE_TOKEN: 'kore-access-token-2', CHAT_TOKEN: 'platform-auth-token-3' };
    const env = { PATH: process.env.PATH, BOTGATE_DATA_DIR: tempDataDir(), BOTGATE_MASTER_KEY: MASTER_KEY, ...secrets };
    const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/botgate.js', ...args], { cwd: ROOT, env: { ...env, ERP_TOKEN: `${secrets.ERP_TOKEN}\n` }, encoding: 'utf8', timeout: 30_000 });
    const ran = (...args: string[]) => {
      const result = cli(...args);
      assert.equal(result.status, 0, `${args.join(' ')}: ${result.stderr}`);
      return result.stdout;
    };

    ran('endpoints', 'create', '--name', 'erp', '--url', 'https://erp.example/hook', '--bearer-env', 'ERP_TOKEN');
    ran('endpoints', 'create', '--name', 'orders', '--url', 'https://shop.example/orders', '--bearer', 'old-style-token-4');
    ran('bots', 'load', 'bots/demo/bot.yaml');
    const clientId = /client id:\s+(\S+)/.exec(ran('apps', 'create', 'cli-app'))![1];
    ran('channels', 'create', 'demo', '--app', clientId, '--mode', 'async', '--post-url', 'https://bots.example/hook', '--access-token-env', 'KORE_TOKEN');
    ran('platforms', 'add', 'chat', '--url', 'https://chat.example/out', '--auth-token-env', 'CHAT_TOKEN');

    // A variable that is not set, or both forms at once: bad usage (exit 2), nothing made, the value never printed.
    const unset = cli('endpoints', 'create', '--name', 'x', '--url', 'https://x.example/', '--bearer-env', 'NO_SUCH_TOKEN');
    assert.equal(unset.status, 2);
    assert.match(unset.stderr, /--bearer-env <name>' argument 'NO_SUCH_TOKEN' is invalid\. the environment variable NO_SUCH_TOKEN is not set/);
    const both = cli('endpoints', 'create', '--name', 'x', '--url', 'https://x.example/', '--bearer', 'a', '--bearer-env', 'ERP_TOKEN');
    assert.equal(both.status, 2);
    assert.match(both.stderr, /'--bearer-env <name>' cannot be used with option '--bearer <token>'/);
    assert.ok(!both.stderr.includes(secrets.ERP_TOKEN));

    const services = await createServices(loadConfig({ env }));
    try {
      const tokens = new Map<string, string>();
      for (const endpoint of await services.store.endpoints.list({}, { limit: 100 })) {
        if (endpoint.authSealed) tokens.set(endpoint.name, JSON.parse(services.box.open(endpoint.authSealed)).token);
      }
      assert.equal(tokens.size, 4, JSON.stringify([...tokens.keys()]));
      assert.equal(tokens.get('erp'), secrets.ERP_TOKEN, 'without the newline the variable ended in');
      assert.equal(tokens.get('orders'), 'old-style-token-4');
      assert.deepEqual([...tokens.values()].filter((t) => t === secrets.KORE_TOKEN || t === secrets.CHAT_TOKEN).sort(), [secrets.KORE_TOKEN, secrets.CHAT_TOKEN].sort());
    } finally {
      await services.close();
    }

    for (const [args, option] of [[['endpoints', 'create'], '--bearer'], [['channels', 'create'], '--access-token'], [['platforms', 'add'], '--auth-token']] as const) {
      const help = ran(...args, '--help');
      assert.match(help, new RegExp(`${option}-env <name>\\s+the same, read from the environment variable <name>`));
      assert.match(help.replace(/\s+/g, ' '), new RegExp(`${option} <token> .*prefer ${option}-env`));
    }
  });
});
