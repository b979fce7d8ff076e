// Secrets at rest (client secrets, whsec_ keys, platform tokens): AES-256-GCM under the master key.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const VERSION = 'v1';

/**
 * The shortest master key taken, counted without surrounding whitespace (which is no part of it): a shorter
 * passphrase is guessed, and one of spaces alone is the empty passphrase, the same known key everywhere.
 */
export const MIN_MASTER_KEY_LENGTH = 16;
/** Why a master key is refused, naming no part of it (docs/configuration.md, "A short master key"). */
export const SHORT_MASTER_KEY = `must be at least ${MIN_MASTER_KEY_LENGTH} characters besides surrounding whitespace (a database sealed under a shorter one: docs/configuration.md, "A short master key")`;

export interface SecretBox {
  seal(plaintext: string): string;
  open(sealed: string): string;
}

/** Reads a master key given as 32 bytes in base64 or hex, or derives one from a passphrase. */
export function parseMasterKey(text: string): Buffer {
  const trimmed = text.trim();
  if (/^[0-9a-f]{64}$/i.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed, 'base64');
    if (bytes.length === 32) return bytes;
  }
  return createHash('sha256').update('botgate-master-key:').update(trimmed).digest();
}

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new Error('master key must be 32 bytes');
  return {
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
    },
    open(sealed) {
      const [version, data] = sealed.split(':', 2);
      if (version !== VERSION || !data) throw new Error('not a sealed secret');
      const bytes = Buffer.from(data, 'base64');
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12));
      decipher.setAuthTag(bytes.subarray(12, 28));
      try {
        return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
      } catch {
        throw new Error('cannot decrypt a stored secret: was the master key changed?');
      }
    },
  };
}
