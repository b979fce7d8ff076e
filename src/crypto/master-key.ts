// Finds the master key: BOTGATE_MASTER_KEY, else data_dir/master.key, generated on first start with a warning.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseMasterKey } from './secret-box.ts';

export interface MasterKeySource {
  key: Buffer;
  /** Where it came from, for the start-up log (never the key itself). */
  origin: 'config' | 'file' | 'generated';
  file?: string;
}

export function resolveMasterKey(configured: string | undefined, dataDir: string): MasterKeySource {
  if (configured) return { key: parseMasterKey(configured), origin: 'config' };
  const file = join(dataDir, 'master.key');
  if (existsSync(file)) return { key: parseMasterKey(readFileSync(file, 'utf8')), origin: 'file', file };
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  try {
    writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process generated it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { key: parseMasterKey(readFileSync(file, 'utf8')), origin: 'file', file };
    throw error;
  }
  return { key, origin: 'generated', file };
}
