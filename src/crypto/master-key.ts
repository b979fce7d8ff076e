// Finds the master key: BOTGATE_MASTER_KEY, else data_dir/master.key, generated on first start with a warning.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { makeDataDir } from '../data-dir.ts';
import { dirname, join, resolve } from 'node:path';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from '../store/store.ts';
import { ConfigError } from '../config/load.ts';
import { createSecretBox, MIN_MASTER_KEY_LENGTH, parseMasterKey, SHORT_MASTER_KEY, type SecretBox } from './secret-box.ts';

const CHECK_SETTING = 'master_key_check';

/** This master key is not the one the store's secrets are sealed with (another process's, a lost master.key). */
export class MasterKeyMismatchError extends Error {
  override name = 'MasterKeyMismatchError';
}

export interface MasterKeySource {
  key: Buffer;
  /** Where it came from, for the start-up log (never the key itself). */
  origin: 'config' | 'file' | 'generated';
  file?: string;
  /** The first directory made to hold a generated key (none existed), removed with it when the key is refused. */
  madeDir?: string;
}

export function resolveMasterKey(configured: string | undefined, dataDir: string): MasterKeySource {
  if (configured) return { key: parseMasterKey(configured), origin: 'config' };
  const file = join(dataDir, 'master.key');
  if (existsSync(file)) return { key: readKeyFile(file), origin: 'file', file };
  const madeDir = makeDataDir(dataDir);
  const key = randomBytes(32);
  try {
    writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process generated it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { key: readKeyFile(file), origin: 'file', file };
    throw error;
  }
  return { key, origin: 'generated', file, madeDir };
}

/**
 * The key again from its file, when it came from one: read before a rotation that the process then waited for, it
 * was the old key, and the file holds the new one by the time the rotation lets go of the key (resealSecrets).
 */
export function rereadMasterKey(source: MasterKeySource): MasterKeySource {
  return source.origin === 'file' ? { ...source, key: readKeyFile(source.file!) } : source;
}

/** A key file held to the configured key's rule: an emptied or hand-written short one would seal under a guessable key. */
function readKeyFile(file: string): Buffer {
  const text = readFileSync(file, 'utf8');
  if (text.trim().length < MIN_MASTER_KEY_LENGTH) throw new ConfigError(`the master key in ${file}: ${SHORT_MASTER_KEY}`);
  return parseMasterKey(text);
}

/** Removes a key generated for nothing, and the directories made for it when nothing else was put there since. */
function forgetGenerated(source: MasterKeySource): void {
  rmSync(source.file!, { force: true });
  if (!source.madeDir) return;
  for (let dir = dirname(source.file!); ; dir = dirname(dir)) {
    try {
      rmdirSync(dir); // only when empty
    } catch {
      return;
    }
    if (resolve(dir) === resolve(source.madeDir) || dirname(dir) === dir) return;
  }
}

/**
 * Refuses a master key other than the store's (before anything is served, printed or written with it): the
 * store keeps an HMAC of a fixed text under its key, written at the first start. A store from before the check
 * is checked against one of its sealed secrets instead.
 */
export async function checkMasterKey(store: Store, source: MasterKeySource, box: SecretBox): Promise<void> {
  const check = checkOf(source);
  let stored = await store.settings.get(CHECK_SETTING);
  if (stored === null) {
    const [sealed] = await store.endpoints.list({}, { limit: 1 });
    let opens = true;
    try {
      if (sealed) box.open(sealed.secretsSealed);
    } catch {
      opens = false;
    }
    if (opens && (await store.settings.setIfAbsent(CHECK_SETTING, check))) return;
    stored = (await store.settings.get(CHECK_SETTING)) ?? '';
  }
  refuseUnlessMatches(stored, check, source);
}

/**
 * The check made before migrating: a store that keeps the key check already refuses another key before a
 * migration changes it, so a refused process changes nothing. A store without the check (new, or from before it)
 * is left to checkMasterKey after migrating.
 */
export async function refuseOtherMasterKey(store: Store, source: MasterKeySource): Promise<void> {
  let stored: string | null;
  try {
    stored = await store.settings.get(CHECK_SETTING);
  } catch {
    return; // no settings table yet: a new store (a store that cannot be read at all fails its migration, saying why)
  }
  if (stored !== null) refuseUnlessMatches(stored, checkOf(source), source);
}

function checkOf(source: Pick<MasterKeySource, 'key'>): string {
  return createHmac('sha256', source.key).update('botgate master key check').digest('base64url');
}

function refuseUnlessMatches(stored: string, check: string, source: MasterKeySource): void {
  const a = Buffer.from(stored);
  const b = Buffer.from(check);
  if (a.length === b.length && timingSafeEqual(a, b)) return;
  if (source.origin === 'generated') forgetGenerated(source); // made for nothing: the next start looks again
  const which = source.origin === 'config' ? 'BOTGATE_MASTER_KEY' : `the master key in ${source.file}${source.origin === 'generated' ? ' (none was found, so one was generated; it is removed again)' : ''}`;
  throw new MasterKeyMismatchError(
    `${which} is not the master key this database's secrets are sealed with: set BOTGATE_MASTER_KEY to that key (every process on one database needs the same)`,
  );
}

/** A stored secret that does not open under the current master key: a rotation changed nothing. */
export class UnsealableSecretError extends Error {
  override name = 'UnsealableSecretError';
}

/**
 * Seals every stored secret again under `next` and makes it the store's key (its check), in one transaction
 * (docs/configuration.md, "Rotating the master key"). Throws UnsealableSecretError, changing nothing, when a
 * value does not open under `current`; answers `running` (nothing changed) while gateways share the store. Waits
 * for other processes' commands holding the key (`onWait` is told first). `onCommitted` (putting the new key file in
 * place) runs before they go on, so one that read the key file before waiting reads it again and finds the new key.
 */
export async function resealSecrets(store: Store, current: SecretBox, next: Buffer, onWait?: () => void, onCommitted?: () => void): ReturnType<Store['secrets']['resealAll']> {
  const box = createSecretBox(next);
  return store.secrets.resealAll((sealed, where) => {
    let plaintext: string;
    try {
      plaintext = current.open(sealed);
    } catch {
      throw new UnsealableSecretError(`the secret of ${where} does not open under the current master key: nothing was changed`);
    }
    return box.seal(plaintext);
  }, { key: CHECK_SETTING, value: checkOf({ key: next }) }, onWait, onCommitted);
}

/**
 * A new master.key written beside the old one (mode 0600, flushed) before the store changes, and put in its place
 * by a rename once it has: the file is the old key or the new one, never a part of either.
 */
export function stageKeyFile(file: string, key: Buffer): { commit(): void; discard(): void } {
  const staged = `${file}.new`;
  rmSync(staged, { force: true }); // left by a rotation that died before its rename
  const fd = openSync(staged, 'wx', 0o600);
  try {
    writeFileSync(fd, key.toString('base64') + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return {
    commit() {
      renameSync(staged, file);
      const dir = openSync(dirname(file), 'r');
      try {
        fsyncSync(dir); // the rename itself survives a crash
      } finally {
        closeSync(dir);
      }
    },
    discard: () => rmSync(staged, { force: true }),
  };
}
