// The CLI as a user runs it (`npx botgate …`): --help on every command, and the delivery commands working on
// the same store a gateway uses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import { buildProgram } from '../../src/cli/main.ts';
import { MASTER_KEY } from '../helpers/gateway.ts';
import { tempDataDir } from '../helpers/process.ts';
import { startReceiver } from '../helpers/receiver.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

function walk(command: Command, path: string[] = []): [string[], Command][] {
  return [[path, command], ...command.commands.flatMap((c) => walk(c, [...path, c.name()]))];
}

describe('cli', () => {
  it('validates bot files, manages apps and channels, and prints tokens that verify', async () => {
    const env = { PATH: process.env.PATH, BOTGATE_DATA_DIR: tempDataDir(), BOTGATE_MASTER_KEY: MASTER_KEY };
    const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/botgate.js', ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 30_000 });
    const valid = cli('bots', 'validate', 'bots/demo/bot.yaml');
    assert.equal(valid.status, 0, valid.stderr);
    assert.match(valid.stdout, /bot demo .* is valid/);
    const bad = join(tempDataDir(), 'bad.yaml');
    writeFileSync(bad, 'id: x\nname: y\nintents: {a: [hi]}\nflows:\n  a: {message: [hi], next_state: b}\n  c: {message: [x], next_state: end}\n');
    const invalid = cli('bots', 'validate', bad);
    assert.equal(invalid.status, 1);
    assert.match(invalid.stderr, /flows\.a\.next_state: unknown state "b"/);
    assert.match(invalid.stderr, /flows\.c: .*unreachable/);
    // The demo's order webhook names the endpoint "orders": loading is refused until it exists.
    const early = cli('bots', 'load', 'bots/demo/bot.yaml');
    assert.equal(early.status, 2);
    assert.match(early.stderr, /webhooks\[0\]\.endpoint: no endpoint named "orders"/);
    assert.equal(cli('endpoints', 'create', '--name', 'orders', '--url', 'https://shop.example/orders').status, 0);
    assert.match(cli('bots', 'load', 'bots/demo/bot.yaml').stdout, /loaded demo version 1/);
    assert.match(cli('bots', 'load', 'bots/demo/bot.yaml').stdout, /demo is unchanged: it stays at version 1/);
    const app = cli('apps', 'create', 'cli-app');
    const clientId = /client id:\s+(\S+)/.exec(app.stdout)![1];
    const secret = /client secret:\s+(\S+)/.exec(app.stdout)![1];
    assert.match(cli('channels', 'create', 'demo', '--app', clientId).stdout, /answers at http:\/\/127\.0\.0\.1:3000\/chatbot\/hooks\/demo/);
    // The CLI meets the API's bounds: a negative timeout or a zero rate limit is refused, not stored.
    const negative = cli('endpoints', 'create', '--name', 'neg', '--url', 'http://127.0.0.1:4000/neg', '--timeout', '-5');
    assert.notEqual(negative.status, 0);
    assert.match(negative.stderr, /'--timeout <seconds>' argument '-5' is invalid\. expected a number from 1 to 300/);
    const zero = cli('platforms', 'add', 'zero-limit', '--url', 'http://127.0.0.1:4000/out', '--rate-limit', '0');
    assert.notEqual(zero.status, 0);
    assert.match(zero.stderr, /'--rate-limit <n>' argument '0' is invalid\. expected an integer from 1/);
    // What the service refuses is named by the command's options, not the API's fields (before: outgoing_webhook_url, post_url).
    const ftp = cli('platforms', 'add', 'ftp-out', '--url', 'ftp://127.0.0.1/out');
    assert.equal(ftp.status, 2);
    assert.match(ftp.stderr, /--url must use http or https/);
    const asyncFtp = cli('channels', 'create', 'demo', '--app', clientId, '--mode', 'async', '--post-url', 'ftp://127.0.0.1/in');
    assert.equal(asyncFtp.status, 2);
    assert.match(asyncFtp.stderr, /--post-url must use http or https/);
    // A number option that is no number is refused by name, not passed on to the store.
    for (const args of [['endpoints', 'list', '--limit', 'abc'], ['token', '--app', clientId, '--sub', 'x', '--ttl', 'abc']]) {
      const refused = cli(...args);
      assert.equal(refused.status, 2, args.join(' '));
      assert.match(refused.stderr, /argument 'abc' is invalid\. expected an integer/);
    }
    // The address comes from the configuration: public_url, else host and port.
    const listed = spawnSync(process.execPath, ['bin/botgate.js', 'channels', 'list', 'demo'], { cwd: ROOT, env: { ...env, BOTGATE_PUBLIC_URL: 'https://hooks.example.com' }, encoding: 'utf8', timeout: 30_000 });
    assert.match(listed.stdout, /https:\/\/hooks\.example\.com\/chatbot\/hooks\/demo/, listed.stderr);
    for (const style of ['appId', 'iss']) {
      const token = cli('token', '--app', clientId, '--sub', 'tester', '--style', style).stdout.trim();
      const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), { algorithms: ['HS256'] });
      assert.equal(style === 'appId' ? payload.appId : payload.iss, clientId);
      assert.equal(payload.sub, 'tester');
    }
    // An unchanged file keeps its version.
    assert.match(cli('bots', 'reload', 'demo').stdout, /reloaded demo: version 1/);
    assert.equal(cli('token', '--app', 'cs-nope', '--sub', 'x').status, 2);
    // A blank user is no user: a token for it names nobody (and one whose userIdentity is blank matches no from.id).
    for (const args of [['--sub', ''], ['--sub', ' '], ['--sub', 'u', '--user-identity', '']]) {
      const refused = cli('token', '--app', clientId, ...args);
      assert.equal(refused.status, 2, args.join(' '));
      assert.match(refused.stderr, /--(sub|user-identity) must not be blank/);
    }
    // Names as the API takes them: an empty or over-long one is refused.
    for (const args of [['apps', 'create', ''], ['apps', 'create', 'a'.repeat(201)], ['agents', 'add', ' '], ['producer-keys', 'add', '']]) {
      const refused = cli(...args);
      assert.notEqual(refused.status, 0, args.join(' '));
      assert.match(refused.stderr, /name must be 1 to 200 characters/);
    }
    // Reloading every bot tries each: a broken file is reported and the others are still read.
    const broken = join(tempDataDir(), 'broken.yaml');
    writeFileSync(broken, 'id: broken\nname: b\nintents: {a: [hi]}\nflows:\n  a: {message: [hi], next_state: end}\n');
    assert.match(cli('bots', 'load', broken).stdout, /loaded broken version 1/);
    // With two bots a platform needs its bot named: by the option (before: "bot is required").
    const unnamed = cli('platforms', 'add', 'which-bot', '--url', 'http://127.0.0.1:4000/out');
    assert.equal(unnamed.status, 2);
    assert.match(unnamed.stderr, /--bot is required: there are several bots/);
    writeFileSync(broken, 'id: broken\nname: b\nflows: 3\n');
    // Refused alike whether the bot is named or every bot is reloaded: exit 2, with the code.
    const one = cli('bots', 'reload', 'broken');
    assert.equal(one.status, 2, one.stderr);
    assert.match(one.stderr, /BG_ERR_/);
    const all = cli('bots', 'reload');
    assert.equal(all.status, 2, all.stderr);
    assert.match(all.stderr, /not reloaded broken: [\s\S]*\(BG_ERR_BOT_INVALID\)/);
    assert.match(all.stdout, /reloaded demo: version 1/);
  });

  it('run where no gateway keeps its data (./data missing), says so and makes nothing there; migrate makes a new store', () => {
    const cwd = tempDataDir();
    const cli = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/botgate.js'), ...args], { cwd, env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 30_000 });
    for (const args of [['token', '--app', 'cs-1', '--sub', 'u'], ['endpoints', 'list'], ['apps', 'create', 'x']]) {
      const run = cli(...args);
      assert.equal(run.status, 2, run.stderr);
      assert.match(run.stderr, /^botgate: no data directory at \S+\/data \(data_dir, BOTGATE_DATA_DIR\): run the CLI where the gateway runs/);
      assert.deepEqual(readdirSync(cwd), [], `${args.join(' ')} makes nothing`);
    }
    // Bad usage exits 2, as `npm start -- --port abc` and a bad setting do, and makes nothing.
    for (const args of [['serve', '--port', 'abc'], ['serve', '--bogus'], ['nope'], []]) {
      const refused = cli(...args);
      assert.equal(refused.status, 2, `${args.join(' ')}: ${refused.stderr}`);
      assert.deepEqual(readdirSync(cwd), [], `${args.join(' ')} makes nothing`);
    }
    assert.match(cli('--help').stdout, /Exit status: 0 done; 1 failed; 2 refused/);
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    for (const flag of ['--version', '-V']) {
      const printed = cli(flag);
      assert.deepEqual({ status: printed.status, stdout: printed.stdout }, { status: 0, stdout: `${version}\n` }, `${flag} prints the version`);
    }
    assert.equal(cli('bots', 'validate', join(ROOT, 'bots/demo/bot.yaml')).status, 0, 'a command without the store runs anywhere');
    assert.equal(cli('migrate').status, 0);
    assert.equal(cli('endpoints', 'list').status, 0);
  });

  it('has --help with a description on every command', () => {
    const all = walk(buildProgram());
    const names = all.map(([path]) => path.join(' '));
    for (const expected of ['serve', 'migrate', 'admin-token reset', 'endpoints list', 'endpoints enable', 'endpoints test', 'endpoints recover', 'deliveries list', 'deliveries show', 'deliveries resend', 'bots validate', 'bots reload', 'apps create', 'channels create', 'token']) {
      assert.ok(names.includes(expected), `${expected} exists`);
    }
    for (const [path, command] of all) {
      assert.ok(command.description().length > 0, `${path.join(' ') || 'botgate'} has a description`);
      assert.match(command.helpInformation(), /Usage:/);
    }
  });

  it('takes plain decimal numbers only, on every numeric option (Number() let 1e1, 0x10 and \' 5\' through)', () => {
    const numeric = walk(buildProgram()).flatMap(([path, command]) => command.options
      .filter((o) => {
        try {
          return o.parseArg?.('5', undefined) === 5;
        } catch {
          return false;
        }
      })
      .map((o) => [`${path.join(' ')} ${o.long}`, o] as const));
    assert.deepEqual(numeric.map(([name]) => name).sort(), [
      'deliveries list --limit', 'endpoints create --timeout', 'endpoints list --limit', 'endpoints test --wait', 'platforms add --rate-limit', 'serve --port', 'token --ttl',
    ]);
    for (const [name, option] of numeric) {
      for (const loose of ['1e1', '0x10', '0b1', '0o7', ' 5', '5 ', '+5', '-0', '1_0', '5.', '.5', '', 'Infinity', '10\n']) {
        assert.throws(() => option.parseArg!(loose, undefined), /expected (an integer|a number) from/, `${name} '${loose}'`);
      }
      assert.equal(option.parseArg!('10', undefined), 10, name);
      assert.equal(option.parseArg!('010', undefined), 10, name);
    }
    // A fraction where one is taken (seconds), never where an integer is asked for.
    const [, timeout] = numeric.find(([name]) => name === 'endpoints create --timeout')!;
    assert.equal(timeout.parseArg!('2.5', undefined), 2.5);
    const [, limit] = numeric.find(([name]) => name === 'deliveries list --limit')!;
    assert.throws(() => limit.parseArg!('2.5', undefined), /expected an integer from 1 to 1000/);
    // As the user sees it: exit 2, naming the option.
    const run = spawnSync(process.execPath, ['bin/botgate.js', 'deliveries', 'list', '--limit', '1e1'], { cwd: ROOT, env: { PATH: process.env.PATH, BOTGATE_DATA_DIR: tempDataDir() }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /^error: option '--limit <n>' argument '1e1' is invalid\. expected an integer from 1 to 1000/);
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
      assert.equal(badStatus.status, 2);
      assert.match(badStatus.stderr, /--status must be/);
      assert.match(cli('endpoints', 'disable', id).stdout, /disabled/);
      // A test message to a disabled endpoint would never be sent: refused, with what to do.
      const toDisabled = cli('endpoints', 'test', id);
      assert.equal(toDisabled.status, 2);
      assert.match(toDisabled.stderr, /is disabled .*enable it first/);
      assert.match(cli('endpoints', 'enable', id).stdout, /enabled/);
      const recover = cli('endpoints', 'recover', id, '--since', '1h');
      assert.equal(recover.status, 0, recover.stderr);
      assert.match(recover.stdout, /done: 0\/0 requeued/);
      // A time option that is no time is a bad option value: refused in a line naming the option, exit 2 (it was 1).
      for (const args of [['endpoints', 'recover', id, '--since', 'yesterday'], ['endpoints', 'recover', id, '--since', '1h', '--until', 'soon'], ['deliveries', 'list', '--since', 'yesterday']]) {
        const refused = cli(...args);
        assert.equal(refused.status, 2, `${args.join(' ')}: ${refused.stderr}`);
        assert.match(refused.stderr, /^botgate: --(since|until): not a time: (yesterday|soon) /);
      }
      // Nor is what only Date.parse reads as one: an age without its unit ("5": May 2001) or a date without its year
      // ("March 7": of 2001) listed every delivery since 2001, or was refused as a recover window over 14 days.
      for (const args of [['deliveries', 'list', '--since', '5'], ['deliveries', 'list', '--since', 'March 7'], ['endpoints', 'recover', id, '--since', '5']]) {
        const refused = cli(...args);
        assert.equal(refused.status, 2, `${args.join(' ')}: ${refused.stdout}${refused.stderr}`);
        assert.match(refused.stderr, /^botgate: --since: not a time: (5|March 7) \(use ISO 8601/);
      }
      // ISO 8601 is taken: a date, a time with its zone.
      for (const since of ['2020-01-01', '2020-01-01T00:00:00Z', '2020-01-01T02:00:00.5+02:00']) {
        const listed = cli('deliveries', 'list', '--since', since, '--json');
        assert.equal(listed.status, 0, `${since}: ${listed.stderr}`);
        assert.equal(JSON.parse(listed.stdout)[0].id, deliveryId);
      }
      // The channels of a bot that does not exist: refused (exit 2), as GET /api/bots/{id}/channels answers 404, not "(none)".
      const noBot = cli('channels', 'list', 'no-such-bot');
      assert.equal(noBot.status, 2, noBot.stdout);
      assert.match(noBot.stderr, /No bot no-such-bot \(BG_ERR_BOT_NOT_FOUND\)/);
      // With BOTGATE_ADMIN_TOKEN set there is nothing to reset: refused (exit 2), as what is not allowed is (it exited 1).
      const reset = cli('admin-token', 'reset');
      assert.equal(reset.status, 2, reset.stderr);
      assert.match(reset.stderr, /^botgate: admin_token \(BOTGATE_ADMIN_TOKEN\) is set in the configuration/);
      assert.equal(reset.stdout, '');
      assert.equal(cli('nope').status, 2);
    } finally {
      await rx.close();
    }
  });
});
