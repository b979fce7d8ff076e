// The gateway process as a new user starts it: banner with URLs and a one-time admin token, a lock against
// a second process on the same SQLite data, graceful exit on SIGTERM, config errors naming the key.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { spawnGateway, tempDataDir } from '../helpers/process.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('gateway process', () => {
  it('prints its URLs and a one-time admin token, serves, and exits cleanly on SIGTERM', async () => {
    const dataDir = tempDataDir();
    const first = await spawnGateway({ BOTGATE_DATA_DIR: dataDir, BOTGATE_LOG_LEVEL: 'info' }, { adminToken: null });
    const token = /Admin token[^\n]*\n\s+(bgadm_\S+)/.exec(first.output())?.[1];
    assert.ok(token, first.output());
    assert.match(first.output(), /API docs\s+http:\/\/127\.0\.0\.1:\d+\/docs/);
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

  it('refuses to start on a bad setting and names the key', () => {
    const result = spawnSync(process.execPath, ['src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH, BOTGATE_PORT: 'eighty', BOTGATE_DATA_DIR: tempDataDir() }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /BOTGATE_PORT: expected a number/);
  });
});
