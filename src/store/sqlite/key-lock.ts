// SQLite: the master key lock of a data directory, between processes: shared by CLI commands (their key check to
// their close), exclusive for a rotation's transaction.
//
// The lock is the operating system's, through SQLite's own locks on `master-key.lock` (never written; no WAL): an
// open read transaction holds SHARED, BEGIN EXCLUSIVE waits until no reader is left and keeps new ones out meanwhile.
// The kernel releases it when a process ends in any way (kill -9 included), as the server lock (server-lock.ts).
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/** How long a side waits for the other, in ms (SQLite's busy timeout, a 32-bit int): in practice until it is free. */
const WAIT_MS = 2 ** 31 - 1;

export interface KeyLock {
  /** Waits while a rotation holds the lock, then holds it shared until the returned release. */
  shared(): () => void;
  /** Holds the lock alone until the returned release; `onWait` is told once when others hold it and this waits. */
  exclusive(onWait?: () => void): () => void;
}

export function createKeyLock(dataDir: string): KeyLock {
  const open = () => new DatabaseSync(join(dataDir, 'master-key.lock'));
  return {
    shared() {
      const lock = open();
      try {
        lock.exec(`PRAGMA busy_timeout = ${WAIT_MS}`);
        lock.exec('BEGIN');
        lock.prepare('SELECT count(*) FROM sqlite_master').get(); // a read takes SHARED, held until the transaction ends
      } catch (error) {
        lock.close();
        throw error;
      }
      return () => lock.close();
    },
    exclusive(onWait) {
      const lock = open();
      try {
        lock.exec('PRAGMA busy_timeout = 0');
        try {
          lock.exec('BEGIN EXCLUSIVE');
        } catch {
          onWait?.();
          lock.exec(`PRAGMA busy_timeout = ${WAIT_MS}`);
          lock.exec('BEGIN EXCLUSIVE');
        }
      } catch (error) {
        lock.close();
        throw error;
      }
      return () => lock.close();
    },
  };
}
