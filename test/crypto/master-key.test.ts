// The master key as given: surrounding whitespace (the newline a secrets file or $(cat file) leaves) is no part of it,
// so secrets sealed under the key written one way open under it written the other.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveMasterKey } from '../../src/crypto/master-key.ts';
import { createSecretBox } from '../../src/crypto/secret-box.ts';

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
});
