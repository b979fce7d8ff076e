// The data directory as botgate makes it: missing parents made, the directory itself its owner's only.
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DataDirError, makeDataDir } from '../src/data-dir.ts';

describe('data directory', () => {
  it('makes missing parents and the directory, which only its owner may enter (the database holds user data)', () => {
    const base = mkdtempSync(join(tmpdir(), 'botgate-datadir-'));
    const dataDir = join(base, 'srv', 'botgate', 'data');
    assert.equal(makeDataDir(dataDir), join(base, 'srv'));
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.equal(makeDataDir(dataDir), undefined, 'there already');
  });

  it('leaves an existing directory as it is, and refuses a file of that name naming the setting', () => {
    const base = mkdtempSync(join(tmpdir(), 'botgate-datadir-'));
    const before = statSync(base).mode;
    assert.equal(makeDataDir(base), undefined);
    assert.equal(statSync(base).mode, before);
    const file = join(base, 'file');
    writeFileSync(file, '');
    assert.throws(() => makeDataDir(file), (e: unknown) => e instanceof DataDirError && /BOTGATE_DATA_DIR/.test(e.message));
  });
});
