// One gateway process per SQLite data directory: the embedded store takes back every lease at start, which
// is only safe when no other gateway uses the same file (several processes need PostgreSQL).
//
// The lock is the operating system's: an exclusive SQLite transaction held open on `gateway.lock` for the
// process's life. The kernel releases it when the process ends in any way (kill -9 included), so there is no
// stale lock to judge and no race between two processes starting at once. `gateway.pid` only says who holds it.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { DataDirError, makeDataDir } from './data-dir.ts';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export class ServerLockError extends Error {
  override name = 'ServerLockError';
}

export function acquireServerLock(dataDir: string): () => void {
  const pidFile = join(dataDir, 'gateway.pid');
  let lock: DatabaseSync;
  try {
    makeDataDir(dataDir);
    lock = new DatabaseSync(join(dataDir, 'gateway.lock'));
  } catch (error) {
    if (error instanceof DataDirError) throw error;
    throw new DataDirError(dataDir, error);
  }
  try {
    lock.exec('PRAGMA busy_timeout = 0');
    lock.exec('BEGIN EXCLUSIVE');
  } catch {
    lock.close();
    const holder = readPid(pidFile);
    throw new ServerLockError(`another gateway${holder ? ` (pid ${holder})` : ''} is using ${dataDir}; SQLite serves one gateway process — use PostgreSQL (BOTGATE_DATABASE_URL) for several`);
  }
  writeFileSync(pidFile, String(process.pid));
  return () => {
    rmSync(pidFile, { force: true });
    try {
      lock.exec('ROLLBACK');
      lock.close();
    } catch {
      // closing anyway: the process ends
    }
  };
}

function readPid(file: string): number | null {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || null;
  } catch {
    return null;
  }
}
