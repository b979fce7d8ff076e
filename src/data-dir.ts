// Makes the data directory (and its missing parents) one level at a time; a failure names the setting.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** The data directory cannot be made or written (a file of that name, no permission): a setting to change. */
export class DataDirError extends Error {
  override name = 'DataDirError';
  constructor(dataDir: string, cause: unknown) {
    super(`data_dir ${dataDir} (BOTGATE_DATA_DIR) cannot be used: ${(cause as Error).message}`, { cause });
  }
}

/**
 * `mkdir -p data_dir`, the data directory itself with mode 0700: returns the first directory it made (undefined when it was there), as
 * `mkdirSync(dir, { recursive: true })` does. Not that call itself: under /proc (`/proc/x`) it never returns, where
 * a single level fails at once (ENOENT).
 */
export function makeDataDir(dataDir: string): string | undefined {
  try {
    const missing: string[] = [];
    let at = resolve(dataDir);
    while (!existsSync(at)) {
      missing.unshift(at);
      if (dirname(at) === at) break;
      at = dirname(at);
    }
    if (missing.length === 0 && !statSync(at).isDirectory()) mkdirSync(at); // a file of that name: EEXIST, as mkdir says
    for (const level of missing) {
      try {
        // The data directory itself is the owner's only (as PostgreSQL's): the database inside holds conversations and
        // user data, created readable by all (umask), which the directory's mode keeps other local users from.
        mkdirSync(level, level === missing[missing.length - 1] ? { mode: 0o700 } : undefined);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(level).isDirectory()) throw error; // else another process made it
      }
    }
    return missing[0];
  } catch (error) {
    throw new DataDirError(dataDir, error);
  }
}
