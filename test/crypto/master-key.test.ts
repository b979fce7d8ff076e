// The master key as given: surrounding whitespace (the newline a secrets file or $(cat file) leaves) is no part of it,
// so secrets sealed under the key written one way open under it written the other.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveMasterKey } from '../../src/crypto/master-key.ts';
import { createSecretBox, parseMasterKey } from '../../src/crypto/secret-box.ts';
import { ConfigError, loadConfig } from '../../src/config/load.ts';

const yaml = (text: string) => {
  const path = join(mkdtempSync(join(tmpdir(), 'botgate-master-key-cfg-')), 'botgate.yaml');
  writeFileSync(path, text);
  return path;
};

describe('master key', () => {
  it('ignores surrounding whitespace, for a passphrase, a base64 and a hex key alike', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'botgate-master-key-'));
    for (const key of ['a-passphrase-of-twenty-chars', Buffer.alloc(32, 9).toString('base64'), Buffer.alloc(32, 9).toString('hex')]) {
      const sealed = createSecretBox(resolveMasterKey(`${key}\n`, dataDir).key).seal('the secret');
      for (const written of [key, ` ${key}\r\n`, `\t${key}  `]) {
        assert.equal(createSecretBox(resolveMasterKey(written, dataDir).key).open(sealed), 'the secret', JSON.stringify(written));
      }
    }
  });

  it('refuses a key shorter than 16 characters once its surrounding whitespace is taken off, naming the key only', () => {
    const refused = (run: () => unknown, name: string) =>
      assert.throws(run, (e: Error) => e instanceof ConfigError && e.message.includes(name) && /at least 16 characters/.test(e.message) && !e.message.includes('abc'), name);
    refused(() => loadConfig({ env: { BOTGATE_MASTER_KEY: 'abc' + ' '.repeat(13) } }), 'BOTGATE_MASTER_KEY');
    refused(() => loadConfig({ file: yaml(`master_key: "abc${' '.repeat(13)}"\n`), env: {} }), 'master_key');
    refused(() => loadConfig({ file: yaml(`master_key: "${' '.repeat(16)}"\n`), env: {} }), 'master_key'); // the empty passphrase: a known key
    // A master.key file is held to the same rule (an emptied or hand-written one).
    for (const text of ['', '\n', 'abc' + ' '.repeat(13)]) {
      const dataDir = mkdtempSync(join(tmpdir(), 'botgate-master-key-'));
      writeFileSync(join(dataDir, 'master.key'), text);
      refused(() => resolveMasterKey(undefined, dataDir), join(dataDir, 'master.key'));
    }
    assert.equal(loadConfig({ env: { BOTGATE_MASTER_KEY: ' sixteen-chars-xx ' } }).master_key, 'sixteen-chars-xx');
  });

  it('opens what a short passphrase sealed under the hex key configuration.md says to compute for it', () => {
    // What a gateway accepted before the check: "abc" and 13 spaces, read as the passphrase "abc".
    const dataDir = mkdtempSync(join(tmpdir(), 'botgate-master-key-'));
    const sealed = createSecretBox(parseMasterKey('abc' + ' '.repeat(13))).seal('the secret');
    // printf '%s' 'botgate-master-key:abc' | sha256sum
    const hex = createHash('sha256').update('botgate-master-key:' + 'abc').digest('hex');
    const config = loadConfig({ env: { BOTGATE_MASTER_KEY: hex } });
    assert.equal(createSecretBox(resolveMasterKey(config.master_key, dataDir).key).open(sealed), 'the secret');
  });
});
