// `botgate agents disable` and `agents enable` run as a user runs them, on a store: an agent taken off can be put back
// from the CLI as through PATCH /api/agents/{id} {"is_active": true}.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { MASTER_KEY } from '../helpers/gateway.ts';
import { tempDataDir } from '../helpers/process.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('cli agents', () => {
  it('disables an agent and enables it again, and names an unknown one', () => {
    const env = { PATH: process.env.PATH, BOTGATE_DATA_DIR: tempDataDir(), BOTGATE_MASTER_KEY: MASTER_KEY };
    const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/botgate.js', ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(cli('migrate').status, 0);
    const added = cli('agents', 'add', 'Alice');
    assert.equal(added.status, 0, added.stderr);
    const id = /agt_[0-9a-z]+/.exec(added.stdout)![0];
    const active = () => {
      const listed = cli('agents', 'list', '--json');
      assert.equal(listed.status, 0, listed.stderr);
      return (JSON.parse(listed.stdout) as { id: string; is_active: boolean }[]).find((a) => a.id === id)?.is_active;
    };
    const disabled = cli('agents', 'disable', id);
    assert.deepEqual([disabled.status, disabled.stdout, disabled.stderr], [0, `agent ${id} disabled\n`, '']);
    assert.equal(active(), false);
    const enabled = cli('agents', 'enable', id);
    assert.deepEqual([enabled.status, enabled.stdout, enabled.stderr], [0, `agent ${id} enabled\n`, '']);
    assert.equal(active(), true);
    for (const action of ['enable', 'disable']) {
      const unknown = cli('agents', action, 'agt_nope');
      assert.equal(unknown.status, 2, unknown.stderr);
      assert.match(unknown.stderr, /No agent agt_nope/);
    }
    assert.match(cli('agents', 'enable', '--help').stdout, /re-activate a disabled agent/);
  });
});
