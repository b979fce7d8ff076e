// The users and producer-keys commands as a user runs them (`npx botgate …`) on the store a gateway uses: a
// producer key printed once that then works, a user's export as JSON (stdout or --out), delete only with --yes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { createServices } from '../../src/services.ts';
import { MASTER_KEY } from '../helpers/gateway.ts';
import { tempDataDir } from '../helpers/process.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('cli: users and producer keys', () => {
  const dataDir = tempDataDir();
  const env = { PATH: process.env.PATH, BOTGATE_DATA_DIR: dataDir, BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_LOG_LEVEL: 'silent' };
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/botgate.js', ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 30_000 });
  /** The same store in this process (what a gateway would have written). */
  async function withServices<T>(fn: (services: Awaited<ReturnType<typeof createServices>>) => Promise<T>): Promise<T> {
    const services = await createServices(loadConfig({ env: { BOTGATE_DATA_DIR: dataDir, BOTGATE_MASTER_KEY: MASTER_KEY } }));
    try {
      return await fn(services);
    } finally {
      await services.close();
    }
  }

  it('adds a producer key (printed once, then valid), lists it without the key, deletes it', async () => {
    const added = cli('producer-keys', 'add', 'billing');
    assert.equal(added.status, 0, added.stderr);
    const id = /producer key (pk_\w+) \(billing\)/.exec(added.stdout)?.[1];
    const key = /key \(shown this once\): (bgk_\S+)/.exec(added.stdout)?.[1];
    assert.ok(id && key, added.stdout);
    assert.equal(await withServices(async (s) => s.notify.producerKeyValid(key)), true);

    const listed = JSON.parse(cli('producer-keys', 'list', '--json').stdout);
    assert.deepEqual(listed.map((k: { id: string; name: string }) => [k.id, k.name]), [[id, 'billing']]);
    assert.ok(!cli('producer-keys', 'list').stdout.includes(key));

    assert.match(cli('producer-keys', 'delete', id).stdout, /deleted/);
    assert.equal(await withServices(async (s) => s.notify.producerKeyValid(key)), false);
    const again = cli('producer-keys', 'delete', id);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /BG_ERR_PRODUCER_KEY_NOT_FOUND/);
  });

  it('shows and exports a user with their decisions and notifications, and deletes them only with --yes', async () => {
    const decisions = await withServices(async (s) => {
      await s.notify.engine.updateUser('u-cli', { tz: 'Europe/Paris', preferences: { opt_outs: [{ event_type: 'marketing_offer', channel: '*' }] } });
      await s.store.users.attach('u-cli', [{ kind: 'email', value: 'cli@example.com' }], Date.now());
      return s.notify.engine.decide([
        { userId: 'u-cli', eventType: 'low_balance', params: { balance: 1 }, deliverAt: Date.now() + 3_600_000 },
        { userId: 'u-cli', eventType: 'marketing_offer', params: {} },
      ]);
    });
    assert.deepEqual(decisions.map((d) => d.reason), ['scheduled', 'preference']);

    const shown = cli('users', 'show', 'u-cli');
    assert.equal(shown.status, 0, shown.stderr);
    const user = JSON.parse(shown.stdout);
    assert.deepEqual([user.id, user.tz, user.identities], ['u-cli', 'Europe/Paris', [{ kind: 'email', id: 'cli@example.com' }]]);

    const exported = cli('users', 'export', 'u-cli');
    assert.equal(exported.status, 0, exported.stderr);
    const data = JSON.parse(exported.stdout);
    assert.deepEqual(data.decisions.map((d: { id: string }) => d.id).sort(), decisions.map((d) => d.id).sort());
    assert.deepEqual(data.notifications.map((n: { id: string; status: string }) => [n.id, n.status]), [[decisions[0].notificationId, 'pending']]);
    assert.equal(data.user.preferences.opt_outs[0].event_type, 'marketing_offer');

    const file = join(dataDir, 'u-cli.json');
    const toFile = cli('users', 'export', 'u-cli', '--out', file);
    assert.equal(toFile.status, 0, toFile.stderr);
    assert.match(toFile.stdout, /exported to/);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).decisions, data.decisions);
    assert.equal(statSync(file).mode & 0o077, 0, 'readable by the owner only');
    // Over a file that was there before, readable by all (a second export to the same name): it is the owner's only then too.
    const before = join(dataDir, 'u-cli-again.json');
    writeFileSync(before, 'old', { mode: 0o644 });
    chmodSync(before, 0o644);
    assert.equal(cli('users', 'export', 'u-cli', '--out', before).status, 0);
    assert.deepEqual(JSON.parse(readFileSync(before, 'utf8')).decisions, data.decisions);
    assert.equal(statSync(before).mode & 0o077, 0, 'an existing file is made readable by the owner only');

    const unconfirmed = cli('users', 'delete', 'u-cli');
    assert.equal(unconfirmed.status, 2);
    assert.match(unconfirmed.stderr, /--yes/);
    assert.equal(cli('users', 'show', 'u-cli').status, 0, 'still there');

    const deleted = cli('users', 'delete', 'u-cli', '--yes');
    assert.equal(deleted.status, 0, deleted.stderr);
    assert.match(deleted.stdout, /user u-cli deleted/);
    for (const args of [['users', 'show', 'u-cli'], ['users', 'export', 'u-cli'], ['users', 'delete', 'u-cli', '--yes']]) {
      const result = cli(...args);
      assert.equal(result.status, 2, args.join(' '));
      assert.match(result.stderr, /BG_ERR_USER_NOT_FOUND/);
    }
    assert.equal(await withServices((s) => s.store.notify.notification(decisions[0].notificationId!)), null);
  });

  it('has --help on each command', () => {
    for (const args of [['users', 'show'], ['users', 'export'], ['users', 'delete'], ['producer-keys', 'add'], ['producer-keys', 'list'], ['producer-keys', 'delete']]) {
      const help = cli(...args, '--help');
      assert.equal(help.status, 0, args.join(' '));
      assert.match(help.stdout, new RegExp(`Usage: botgate ${args.join(' ')}`));
    }
    const exportHelp = cli('users', 'export', '--help').stdout;
    assert.match(exportHelp, /--out <file>/);
    // It names every section of the export (GET /api/users/{id}/export; docs/notifications.md).
    const described = exportHelp.replace(/\s+/g, ' ');
    for (const part of ['conversations', 'messages', 'decisions', 'notifications', 'engagement', 'handoffs']) {
      assert.ok(described.includes(part), `users export --help does not name ${part}: ${exportHelp}`);
    }
  });
});
