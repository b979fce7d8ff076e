// The CLI as a user runs it (`npx botgate …`): --help on every command, and the delivery commands working on
// the same store a gateway uses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.ts';
import { MASTER_KEY } from '../helpers/gateway.ts';
import { tempDataDir } from '../helpers/process.ts';
import { startReceiver } from '../helpers/receiver.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

function walk(command: Command, path: string[] = []): [string[], Command][] {
  return [[path, command], ...command.commands.flatMap((c) => walk(c, [...path, c.name()]))];
}

describe('cli', () => {
  it('has --help with a description on every command', () => {
    const all = walk(buildProgram());
    const names = all.map(([path]) => path.join(' '));
    for (const expected of ['serve', 'migrate', 'admin-token reset', 'endpoints list', 'endpoints enable', 'endpoints test', 'endpoints recover', 'deliveries list', 'deliveries show', 'deliveries resend']) {
      assert.ok(names.includes(expected), `${expected} exists`);
    }
    for (const [path, command] of all) {
      assert.ok(command.description().length > 0, `${path.join(' ') || 'botgate'} has a description`);
      assert.match(command.helpInformation(), /Usage:/);
    }
  });

  it('creates, lists, tests, resends and shows through the store', async () => {
    const env = { PATH: process.env.PATH, BOTGATE_DATA_DIR: tempDataDir(), BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_ADMIN_TOKEN: 'cli-test-admin-token-1' };
    const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/botgate.js', ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 30_000 });
    const rx = await startReceiver();
    try {
      const help = cli('deliveries', 'resend', '--help');
      assert.equal(help.status, 0);
      assert.match(help.stdout, /Usage: botgate deliveries resend/);
      assert.match(cli('migrate').stdout, /up to date|applied/);
      const created = cli('endpoints', 'create', '--name', 'rx', '--url', rx.url, '--event-type', 'a.b');
      assert.equal(created.status, 0, created.stderr);
      const id = /created (ep_\w+)/.exec(created.stdout)![1];
      assert.match(created.stdout, /signing secret \(shown this once\): whsec_/);
      const listed = JSON.parse(cli('endpoints', 'list', '--json').stdout);
      assert.equal(listed[0].id, id);
      assert.ok(!JSON.stringify(listed).includes('whsec_'));
      const tested = cli('endpoints', 'test', id);
      assert.equal(tested.status, 0, tested.stderr);
      const deliveryId = /delivery (dlv_\w+)/.exec(tested.stdout)![1];
      const rows = JSON.parse(cli('deliveries', 'list', '--endpoint', id, '--status', 'pending', '--json').stdout);
      assert.equal(rows[0].id, deliveryId);
      const shown = JSON.parse(cli('deliveries', 'show', deliveryId, '--json').stdout);
      assert.equal(shown.status, 'pending');
      assert.deepEqual(shown.attempts, []);
      assert.match(cli('deliveries', 'resend', deliveryId).stdout, /queued/);
      const missing = cli('deliveries', 'show', 'dlv_nope');
      assert.equal(missing.status, 2);
      assert.match(missing.stderr, /No delivery dlv_nope \(BG_ERR_DELIVERY_NOT_FOUND\)/);
      const badStatus = cli('deliveries', 'list', '--status', 'lost');
      assert.equal(badStatus.status, 1);
      assert.match(badStatus.stderr, /--status must be/);
      assert.match(cli('endpoints', 'disable', id).stdout, /disabled/);
      assert.match(cli('endpoints', 'enable', id).stdout, /enabled/);
      const recover = cli('endpoints', 'recover', id, '--since', '1h');
      assert.equal(recover.status, 0, recover.stderr);
      assert.match(recover.stdout, /done: 0\/0 requeued/);
      assert.equal(cli('nope').status, 1);
    } finally {
      await rx.close();
    }
  });
});
