// The gateway process as a new user starts it: banner with URLs and a one-time admin token, a lock against
// a second process on the same SQLite data, graceful exit on SIGTERM, config errors naming the key.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { spawnGateway, tempDataDir, type GatewayProcess } from '../helpers/process.ts';
import { ADMIN_TOKEN, MASTER_KEY, eventually } from '../helpers/gateway.ts';
import { DEMO_BOT_FILE } from '../../src/provision.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** Orders a pizza from the demo bot with the curl line the banner printed, then the rest through the same channel: the confirmation reaches the demo's order receiver, signed. */
/** A first start in a fresh data directory (no admin token, no master key), its stdout and stderr collected. */
function firstStart(dataDir: string) {
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: ROOT, env: { PATH: process.env.PATH, BOTGATE_DATA_DIR: dataDir, BOTGATE_PORT: '0', BOTGATE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return { child, exited: once(child, 'exit'), output: () => out };
}

function shownToken(out: string): string {
  const token = /Admin token[^\n]*\n\s+(bgadm_\S+)/.exec(out)?.[1];
  assert.ok(token, `the generated admin token is shown:\n${out}`);
  return token;
}

/** The next start in the data directory generates no admin token and accepts the one the first start showed. */
async function nextStartTakes(dataDir: string, token: string): Promise<void> {
  const gw = await spawnGateway({ BOTGATE_DATA_DIR: dataDir, BOTGATE_MASTER_KEY: '' }, { adminToken: null });
  try {
    assert.ok(!/Admin token/.test(gw.output()), 'the next start generates none');
    assert.equal((await fetch(`${gw.url}/api/endpoints`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  } finally {
    gw.child.kill('SIGTERM');
    await gw.exited;
  }
}

async function orderThroughDemo(gw: GatewayProcess): Promise<void> {
  const curl = (await eventually(() => /^\s+(curl -s .*chatbot\/hooks\/demo.*)$/m.exec(gw.output()), 10_000))[1];
  const run = spawnSync('sh', ['-c', curl.replace('curl -s ', 'curl -s -g ')], { encoding: 'utf8', timeout: 10_000 }); // -g: [::1] is no glob
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), { text: 'How many pizzas would you like?' });
  const token = /bearer ([^']+)'/.exec(curl)![1];
  const say = async (text: string) => {
    const res = await fetch(`${gw.url}/chatbot/hooks/demo`, { method: 'POST', headers: { authorization: `bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ message: { text }, from: { id: 'demo-user' } }) });
    return res.json();
  };
  for (const text of ['2', 'Cheese', '1 Demo Street', '555']) await say(text);
  const done = (await say('1')) as { endOfTask?: boolean };
  assert.equal(done.endOfTask, true);
  await eventually(() => /demo: order received/.test(gw.output()) && /"signatureValid":true/.test(gw.output()), 10_000);
}

describe('gateway process', () => {
  it('prints its URLs and a one-time admin token, serves, and exits cleanly on SIGTERM', async () => {
    const dataDir = tempDataDir();
    const first = await spawnGateway({ BOTGATE_DATA_DIR: dataDir, BOTGATE_LOG_LEVEL: 'info' }, { adminToken: null });
    const output = await eventually(() => (/curl -H "Authorization: Bearer bgadm_/.test(first.output()) ? first.output() : null)).catch((error) => {
      first.child.kill('SIGKILL');
      throw error;
    });
    const token = /Admin token[^\n]*\n\s+(bgadm_\S+)/.exec(output)?.[1];
    assert.ok(token, output);
    assert.match(output, /API docs\s+http:\/\/127\.0\.0\.1:\d+\/docs/);
    // The token, shown this once, is the last thing start-up prints: after the URLs, the demo and the log lines.
    const shown = output.indexOf('Admin token');
    const late = ['API docs', 'Demo bot', 'curl -s ', '"msg":"botgate started"'].filter((before) => !output.includes(before) || output.indexOf(before) > shown);
    if (late.length) first.child.kill('SIGKILL');
    assert.deepEqual(late, [], `each comes before the admin token:\n${output}`);
    assert.equal((await fetch(`${first.url}/healthz`)).status, 200);
    const authed = await fetch(`${first.url}/api/endpoints`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(authed.status, 200);
    assert.equal((await fetch(`${first.url}/api/endpoints`, { headers: { authorization: 'Bearer wrong-token-123' } })).status, 401);

    const second = spawnSync(process.execPath, ['src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH, BOTGATE_DATA_DIR: dataDir, BOTGATE_PORT: '0' }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(second.status, 1);
    assert.match(second.stderr, /another gateway \(pid \d+\) is using/);

    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    assert.match(first.output(), /shutting down/);
    assert.ok(!/"level":(50|60)/.test(first.output()), 'no error logs');

    const again = await spawnGateway({ BOTGATE_DATA_DIR: dataDir }, { adminToken: null });
    assert.ok(!/Admin token/.test(again.output()), 'the token is printed only at the first start');
    const stillValid = await fetch(`${again.url}/api/endpoints`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(stillValid.status, 200);
    again.child.kill('SIGINT');
    assert.equal(await again.exited, 0);
  });

  it("runs as npm start runs it (bin/start.js): a child fills Node's compile cache first, so even the first start strips no TypeScript itself", async () => {
    const cache = tempDataDir();
    const dataDir = tempDataDir();
    const env = { BOTGATE_DATA_DIR: dataDir, NODE_COMPILE_CACHE: cache, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' };
    const fromCache = /retrieving transpile cache for StrippedTypeScript file:\/\/\S+\/src\/main\.ts\.\.\.success/;
    const strippedHere = /no transpile cache for StrippedTypeScript (\S+)/;
    for (const run of ['first', 'second']) {
      const gw = await spawnGateway(env, { entry: 'bin/start.js' });
      try {
        assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
        assert.ok(fromCache.test(gw.output()), `${run} start: ${gw.output().slice(0, 400)}`);
        assert.equal(strippedHere.exec(gw.output())?.[1] ?? null, null, `${run} start stripped a module itself (the type stripper stays resident)`);
      } finally {
        gw.child.kill('SIGTERM');
      }
      assert.equal(await gw.exited, 0);
    }
  });

  it("loads no copy of undici of Node's own (an ESM import of node:http would, through its lazy WebSocket getters), nor ICU's zone data", async () => {
    const dir = tempDataDir();
    const probe = `${dir}/loaded-modules.mjs`;
    // Also counts Intl.DateTimeFormat objects made: the first one pages in ICU's zone and locale data (~7 MB resident),
    // which the default zone (UTC) does not need.
    writeFileSync(probe, [
      'let formats = 0;',
      'const Format = Intl.DateTimeFormat;',
      'Intl.DateTimeFormat = function (...args) { formats++; return new Format(...args); };',
      "process.on('exit', () => process._rawDebug('LOADED ' + process.moduleLoadList.join(' ') + '\\nFORMATS ' + formats));",
    ].join('\n'));
    const gw = await spawnGateway({ BOTGATE_DATA_DIR: dir, NODE_OPTIONS: `--import=${probe}` });
    try {
      const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
      assert.equal((await fetch(`${gw.url}/readyz`)).status, 200);
      assert.equal((await fetch(`${gw.url}/api/messages`, { method: 'POST', headers, body: JSON.stringify({ event_type: 'probe.sent', payload: {} }) })).status, 202);
      assert.equal((await fetch(`${gw.url}/metrics`, { headers })).status, 200);
    } finally {
      gw.child.kill('SIGTERM');
    }
    assert.equal(await gw.exited, 0);
    const loaded = /^LOADED (.*)$/m.exec(gw.output())?.[1].split(/ (?=NativeModule |Internal Binding )/) ?? [];
    assert.ok(loaded.includes('NativeModule http'), `the probe saw the modules: ${loaded.length}`);
    assert.deepEqual(loaded.filter((m) => m.includes('deps/undici')), []);
    assert.equal(/^FORMATS (\d+)$/m.exec(gw.output())?.[1], '0');
  });

  it('stops when npm start itself gets SIGTERM (a supervisor stopping the npm process): no gateway is left running', async () => {
    const npm = spawn('npm', ['start', '--silent'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, BOTGATE_DATA_DIR: tempDataDir(), BOTGATE_PORT: '0', BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_ADMIN_TOKEN: ADMIN_TOKEN, BOTGATE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: whatever is left over is killed at the end
    });
    let out = '';
    npm.stdout!.on('data', (d) => (out += d));
    npm.stderr!.on('data', (d) => (out += d));
    const exited = once(npm, 'exit');
    try {
      const url = (await eventually(() => /API\s+(http:\/\/\S+)\/api/.exec(out), 20_000))[1];
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      npm.kill('SIGTERM');
      await exited;
      // The gateway under npm got the signal too: its port stops answering (it is not orphaned, holding the lock).
      await eventually(() => fetch(`${url}/healthz`).then(() => false, () => true), 10_000);
    } finally {
      try {
        process.kill(-npm.pid!, 'SIGKILL');
      } catch {
        // the group is gone: nothing was left over
      }
    }
  });

  it('takes --port, --host and --config after `npm start --`, and --help lists them without starting anything', async () => {
    const dataDir = `${tempDataDir()}/data`;
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, BOTGATE_DATA_DIR: dataDir, BOTGATE_PORT: '0', BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_ADMIN_TOKEN: ADMIN_TOKEN, BOTGATE_LOG_LEVEL: 'warn' };
    const help = spawnSync('npm', ['start', '--silent', '--', '--help'], { cwd: ROOT, env, encoding: 'utf8', timeout: 20_000 });
    assert.equal(help.status, 0, help.stderr);
    for (const option of ['--port <port>', '--host <host>', '--config <file>']) assert.ok(help.stdout.includes(option), help.stdout);
    assert.equal(existsSync(dataDir), false, '--help opens nothing');
    const bad = spawnSync('npm', ['start', '--silent', '--', '--port', 'eighty'], { cwd: ROOT, env, encoding: 'utf8', timeout: 20_000 });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^botgate: option '-p, --port <port>' argument 'eighty' is invalid/m);
    assert.equal(existsSync(dataDir), false);

    const free = createServer().listen(0, '127.0.0.1');
    await once(free, 'listening');
    const port = (free.address() as AddressInfo).port;
    free.close();
    const config = `${tempDataDir()}/botgate.yaml`;
    writeFileSync(config, 'demo:\n  enabled: false\n');
    const gw = await spawnGateway({ BOTGATE_DATA_DIR: dataDir }, { entry: 'bin/start.js', args: ['--port', String(port), '--host', '127.0.0.1', '--config', config] });
    try {
      assert.equal(gw.url, `http://127.0.0.1:${port}`);
      assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
      assert.doesNotMatch(gw.output(), /Demo bot/, 'the config file was read');
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  });

  it('stops gracefully on Ctrl-C in the terminal running npm start (the signal comes twice: from the terminal and forwarded by npm)', async () => {
    const dataDir = tempDataDir();
    const npm = spawn('npm', ['start', '--silent'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, BOTGATE_DATA_DIR: dataDir, BOTGATE_PORT: '0', BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_ADMIN_TOKEN: ADMIN_TOKEN, BOTGATE_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, as a terminal's foreground job
    });
    let out = '';
    npm.stdout!.on('data', (d) => (out += d));
    npm.stderr!.on('data', (d) => (out += d));
    const exited = once(npm, 'exit');
    try {
      await eventually(() => /API\s+http:\/\/\S+\/api/.test(out), 20_000);
      process.kill(-npm.pid!, 'SIGINT'); // what Ctrl-C does: every process of the foreground group gets it
      await exited;
      await eventually(() => /"msg":"stopped"/.test(out), 10_000);
      assert.doesNotMatch(out, /second signal/);
      assert.equal(existsSync(`${dataDir}/gateway.pid`), false);
    } finally {
      try {
        process.kill(-npm.pid!, 'SIGKILL');
      } catch {
        // the group is gone
      }
    }
  });

  it('stops gracefully on SIGHUP (the terminal running it closed): exit 0, no pid file left', async () => {
    const dataDir = tempDataDir();
    const gw = await spawnGateway({ BOTGATE_DATA_DIR: dataDir, BOTGATE_LOG_LEVEL: 'info' });
    assert.equal(existsSync(`${dataDir}/gateway.pid`), true);
    gw.child.kill('SIGHUP');
    assert.equal(await gw.exited, 0, gw.output());
    assert.match(gw.output(), /"signal":"SIGHUP".*shutting down/);
    assert.equal(existsSync(`${dataDir}/gateway.pid`), false);
  });

  it('a start that fails (the port is taken) leaves no pid file, journal or WAL behind, and the next start works', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const dataDir = tempDataDir();
    try {
      const failed = spawnSync(process.execPath, ['src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH, BOTGATE_DATA_DIR: dataDir, BOTGATE_PORT: String((taken.address() as AddressInfo).port), BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_LOG_LEVEL: 'warn' }, encoding: 'utf8', timeout: 20_000 });
      assert.equal(failed.status, 1, failed.stderr);
      assert.match(failed.stderr, /^botgate: failed to start: the address 127\.0\.0\.1:\d+ is in use/m);
      assert.deepEqual(readdirSync(dataDir).sort(), ['botgate.db', 'gateway.lock']);
    } finally {
      taken.close();
    }
    const gw = await spawnGateway({ BOTGATE_DATA_DIR: dataDir }, { adminToken: null });
    try {
      assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  });

  it('serves the demo bot and prints a curl one-liner that works as printed; only the demo\'s own endpoint reaches loopback', async () => {
    // No delivery.allow_private: the demo's order receiver (this gateway, on loopback) is reached all the same.
    const gw = await spawnGateway({ BOTGATE_DATA_DIR: tempDataDir(), BOTGATE_LOG_LEVEL: 'info', BOTGATE_DELIVERY__ALLOW_PRIVATE: '' });
    try {
      await orderThroughDemo(gw);
      // Any other endpoint on loopback is refused (SSRF), and so is the demo's once it points elsewhere on loopback.
      const mine = await gw.api('POST', '/api/endpoints', { name: 'mine', url: `${gw.url}/healthz`, max_attempts: 1 });
      assert.equal(mine.status, 201);
      const orders = (await gw.api('GET', '/api/endpoints?provider=demo')).body.data[0];
      assert.equal((await gw.api('PATCH', `/api/endpoints/${orders.id}`, { url: `${gw.url}/healthz`, max_attempts: 1 })).status, 200);
      assert.equal((await gw.api('POST', '/api/messages', { event_type: 'order.confirmed', payload: { order: 2 } })).status, 202);
      for (const endpoint of [mine.body.id, orders.id]) {
        const failed = await eventually(async () => (await gw.api('GET', `/api/deliveries?endpoint_id=${endpoint}&status=failed`)).body.data[0], 10_000);
        assert.match(failed.last_error, /not a public address/);
      }
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  });

  it('prints URLs to open, never 0.0.0.0 and with IPv6 in brackets, and the demo reaches its own receiver, whatever address it listens on', async () => {
    // Every interface (v4 and v6), IPv6 loopback, and an address of this machine that is not loopback (when it has one).
    const other = Object.values(networkInterfaces()).flat().find((a) => a && !a.internal && a.family === 'IPv4')?.address;
    const cases: [string, string][] = [['0.0.0.0', '127.0.0.1'], ['::', '[::1]'], ['::1', '[::1]'], ...(other ? [[other, other] as [string, string]] : [])];
    for (const [host, shown] of cases) {
      const dataDir = tempDataDir();
      const gw = await spawnGateway({ BOTGATE_DATA_DIR: dataDir, BOTGATE_HOST: host, BOTGATE_LOG_LEVEL: 'info', BOTGATE_DELIVERY__ALLOW_PRIVATE: '' });
      let port = '';
      try {
        port = new URL(gw.url).port;
        assert.equal(gw.url, `http://${shown}:${port}`, host);
        await orderThroughDemo(gw);
      } finally {
        gw.child.kill('SIGTERM');
        await gw.exited;
      }
      const printed = gw.output().split('\n').filter((line) => !line.startsWith('{')).join('\n'); // not the log lines (JSON)
      assert.doesNotMatch(printed, /http:\/\/(0\.0\.0\.0|\[::\]|::1?:)/, host);
      // The CLI prints the channel's URL as the gateway does.
      const cli = spawnSync(process.execPath, ['bin/botgate.js', 'channels', 'list', 'demo'], { cwd: ROOT, env: { PATH: process.env.PATH, BOTGATE_DATA_DIR: dataDir, BOTGATE_HOST: host, BOTGATE_PORT: port, BOTGATE_MASTER_KEY: MASTER_KEY }, encoding: 'utf8', timeout: 20_000 });
      assert.equal(cli.status, 0, cli.stderr);
      assert.ok(cli.stdout.includes(`http://${shown}:${port}/chatbot/hooks/demo`), cli.stdout);
      assert.equal(/Listening +on every interface/.test(printed), host === '0.0.0.0' || host === '::', host);
    }
    // With public_url, that is the address printed, and no word about this machine's.
    const pub = await spawnGateway({ BOTGATE_DATA_DIR: tempDataDir(), BOTGATE_HOST: '0.0.0.0', BOTGATE_PUBLIC_URL: 'http://hooks.example.com', BOTGATE_DEMO__ENABLED: 'false' });
    pub.child.kill('SIGTERM');
    await pub.exited;
    assert.equal(pub.url, 'http://hooks.example.com');
    assert.doesNotMatch(pub.output(), /Listening/);
  });

  it('takes the lock held by no process, whatever pid a crashed gateway left (even one now reused by another process)', async () => {
    const dataDir = tempDataDir();
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(`${dataDir}/gateway.pid`, String(process.pid)); // a live process, but not a gateway on this data
    const gw = await spawnGateway({ BOTGATE_DATA_DIR: dataDir });
    try {
      assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  });

  it('a first start that fails still shows the secrets it generated, and says what failed in a line', async () => {
    const dataDir = tempDataDir();
    const { writeFileSync } = await import('node:fs');
    const file = `${dataDir}/bad.yaml`;
    writeFileSync(file, 'apps:\n  - name: kore-prod\nchannels:\n  - name: kore-pizza\n    bot: nobot\n    app: kore-prod\n    mode: sync\n');
    const failed = spawnSync(process.execPath, ['src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH, BOTGATE_CONFIG: file, BOTGATE_DATA_DIR: dataDir, BOTGATE_PORT: '0', BOTGATE_LOG_LEVEL: 'warn' }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(failed.status, 2, 'a declaration that cannot be applied is a configuration problem');
    assert.match(failed.stderr, new RegExp(`^botgate: failed to start: invalid configuration: ${file}: channels\\.0 \\(kore-pizza\\): No bot nobot$`, 'm'));
    assert.ok(!/\n\s+at /.test(failed.stderr), 'no stack trace for a known cause');
    const token = /Admin token[^\n]*\n\s+(bgadm_\S+)/.exec(failed.stdout)?.[1];
    assert.ok(token, failed.stdout);
    assert.match(failed.stdout, /App "kore-prod" \(client id cs-[\w-]+\) got a generated client secret/);
    // Fixed, it starts; the token shown by the failed start is the one that works.
    writeFileSync(file, 'apps:\n  - name: kore-prod\n');
    const gw = await spawnGateway({ BOTGATE_CONFIG: file, BOTGATE_DATA_DIR: dataDir, BOTGATE_MASTER_KEY: '' }, { adminToken: null }); // the master key the failed start generated
    try {
      assert.ok(!/Admin token/.test(gw.output()));
      assert.equal((await fetch(`${gw.url}/api/apps`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  });

  it('a first start stopped (Ctrl-C, SIGTERM) before its banner still shows the admin token it generated', async () => {
    const dataDir = tempDataDir();
    const first = firstStart(dataDir);
    // The master key warning is logged once the store is open and the admin token generated, before listening and
    // provisioning: the stop comes while the start is still under way.
    first.child.stdout.on('data', () => { if (/no master key configured/.test(first.output()) && !first.child.killed) first.child.kill('SIGTERM'); });
    const [code] = await first.exited;
    assert.equal(code, 0, first.output());
    await nextStartTakes(dataDir, shownToken(first.output()));
  });

  it('a stop that comes while the store is still opening waits for it, closes it and shows the admin token generated meanwhile', async () => {
    const dataDir = tempDataDir();
    const first = firstStart(dataDir);
    // The pid file is written when the data directory is locked, before the store opens and the token is generated.
    while (!existsSync(`${dataDir}/gateway.pid`) && first.child.exitCode === null) await new Promise((r) => setTimeout(r, 1));
    first.child.kill('SIGTERM');
    const [code, signal] = await first.exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, first.output());
    assert.doesNotMatch(first.output(), /botgate is running/);
    await nextStartTakes(dataDir, shownToken(first.output()));
  });

  it('refuses a master key other than the one the data was sealed with (a lost master.key), in one line, and keeps nothing of it', async () => {
    const dataDir = tempDataDir();
    const first = await spawnGateway({ BOTGATE_DATA_DIR: dataDir, BOTGATE_MASTER_KEY: '' });
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    const { rmSync } = await import('node:fs');
    rmSync(`${dataDir}/master.key`);
    const again = spawnSync(process.execPath, ['src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH, BOTGATE_DATA_DIR: dataDir, BOTGATE_PORT: '0' }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(again.status, 2, again.stderr);
    assert.match(again.stderr, /^botgate: the master key in \S+master\.key \(none was found, so one was generated; it is removed again\) is not the master key this database's secrets are sealed with/);
    assert.doesNotMatch(again.stdout, /API|token/i);
    assert.equal(existsSync(`${dataDir}/master.key`), false);
  });

  it('refuses another master key before migrating a store that keeps the key check: the refused process changes nothing', async () => {
    const dataDir = tempDataDir();
    const first = await spawnGateway({ BOTGATE_DATA_DIR: dataDir });
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    // The store as an older botgate left it: its last migration not applied yet.
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(`${dataDir}/botgate.db`);
    const migrationsNow = () => db.prepare('SELECT name FROM schema_migrations ORDER BY name').all().map((r) => String(r.name));
    const last = migrationsNow().at(-1)!;
    assert.equal(last, '011_notify_half_life');
    db.exec('ALTER TABLE notify_weight_shift DROP COLUMN half_life_ms');
    db.prepare('DELETE FROM schema_migrations WHERE name = ?').run(last);
    const before = migrationsNow();
    for (const command of [['src/main.ts'], ['bin/botgate.js', 'migrate']]) {
      const refused = spawnSync(process.execPath, command, { cwd: ROOT, env: { PATH: process.env.PATH, BOTGATE_DATA_DIR: dataDir, BOTGATE_PORT: '0', BOTGATE_MASTER_KEY: 'another-master-key-0123456789' }, encoding: 'utf8', timeout: 20_000 });
      assert.equal(refused.status, 2, refused.stderr);
      assert.match(refused.stderr, /^botgate: BOTGATE_MASTER_KEY is not the master key this database's secrets are sealed with/);
      assert.deepEqual(migrationsNow(), before, `${command.join(' ')} migrated nothing`);
    }
    const migrated = spawnSync(process.execPath, ['bin/botgate.js', 'migrate'], { cwd: ROOT, env: { PATH: process.env.PATH, BOTGATE_DATA_DIR: dataDir, BOTGATE_MASTER_KEY: MASTER_KEY }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(migrated.status, 0, migrated.stderr);
    assert.equal(migrationsNow().at(-1), last);
    db.close();
  });

  it('refuses to start on a bad setting and names the key', () => {
    const result = spawnSync(process.execPath, ['src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH, BOTGATE_PORT: 'eighty', BOTGATE_DATA_DIR: tempDataDir() }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /BOTGATE_PORT: expected a number/);
    // The code docs/errors.md lists for it, after the line that names the key.
    assert.match(result.stderr, /^botgate: BOTGATE_PORT: expected a number.* \(BG_ERR_CONFIG_INVALID\)$/m);
    // A time zone too, before anything is made on disk.
    const dataDir = `${tempDataDir()}/data`;
    const zone = spawnSync(process.execPath, ['src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH, BOTGATE_NOTIFY__DEFAULT_TZ: 'Mars/Base', BOTGATE_DATA_DIR: dataDir }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(zone.status, 2, zone.stderr);
    assert.match(zone.stderr, /BOTGATE_NOTIFY__DEFAULT_TZ: not a time zone/);
    assert.equal(existsSync(dataDir), false);
    // A data directory that cannot be one (a file of that name): one line naming the setting, no stack.
    const file = `${tempDataDir()}/not-a-dir`;
    writeFileSync(file, '');
    const notDir = spawnSync(process.execPath, ['src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH, BOTGATE_DATA_DIR: file, BOTGATE_PORT: '0' }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(notDir.status, 2, notDir.stderr);
    assert.match(notDir.stderr, /^botgate: data_dir \S+not-a-dir \(BOTGATE_DATA_DIR\) cannot be used: EEXIST[^\n]*\n$/);
    // One that cannot be made under /proc (where Node's recursive mkdir never returned), by the gateway and the CLI.
    if (existsSync('/proc/self')) {
      for (const command of [['src/main.ts'], ['bin/botgate.js', 'migrate']]) {
        const proc = spawnSync(process.execPath, command, { cwd: ROOT, env: { PATH: process.env.PATH, BOTGATE_DATA_DIR: '/proc/botgate-x/data', BOTGATE_PORT: '0' }, encoding: 'utf8', timeout: 20_000 });
        assert.equal(proc.status, 2, `${command.join(' ')}: ${proc.stderr}`);
        assert.match(proc.stderr, /^botgate: data_dir \/proc\/botgate-x\/data \(BOTGATE_DATA_DIR\) cannot be used: ENOENT[^\n]*\n$/);
      }
    }
  });

  it('says in a line which declaration cannot be applied (no stack trace), and exits 2', async () => {
    const dataDir = tempDataDir();
    const { writeFileSync, mkdirSync } = await import('node:fs');
    mkdirSync(dataDir, { recursive: true });
    const file = `${dataDir}/botgate.yaml`;
    const declare = (mode: string) => writeFileSync(file, `endpoints:\n  - name: orders\n    url: https://orders.example/hook\nbots:\n  - file: ${DEMO_BOT_FILE}\napps:\n  - name: kore-prod\nchannels:\n  - name: kore-pizza\n    bot: demo\n    app: kore-prod\n    mode: ${mode}\n${mode === 'async' ? '    post_url: https://kore.example/hooks/x\n' : ''}`);
    const start = () => spawnSync(process.execPath, ['src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH, BOTGATE_CONFIG: file, BOTGATE_DATA_DIR: dataDir, BOTGATE_PORT: '0', BOTGATE_LOG_LEVEL: 'warn', BOTGATE_MASTER_KEY: MASTER_KEY }, encoding: 'utf8', timeout: 20_000 });
    declare('async');
    const first = spawnGateway({ BOTGATE_CONFIG: file, BOTGATE_DATA_DIR: dataDir });
    const gw = await first;
    gw.child.kill('SIGTERM');
    await gw.exited;
    declare('sync');
    const changed = start();
    assert.equal(changed.status, 2, changed.stderr);
    assert.match(changed.stderr, new RegExp(`^botgate: failed to start: invalid configuration: ${file}: channels\\.0 \\(kore-pizza\\): .*delete the channel to declare it anew$`, 'm'));
    assert.ok(!/\n\s+at /.test(changed.stderr), changed.stderr);
  });
});
