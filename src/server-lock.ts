// One gateway process per SQLite data directory: the embedded store takes back every lease at start, which
// is only safe when no other gateway uses the same file (several processes need PostgreSQL).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class ServerLockError extends Error {
  override name = 'ServerLockError';
}

export function acquireServerLock(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'gateway.pid');
  for (let i = 0; i < 2; i++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (pid && pid !== process.pid && alive(pid)) {
        throw new ServerLockError(`another gateway (pid ${pid}) is using ${dataDir}; SQLite serves one gateway process — use PostgreSQL (BOTGATE_DATABASE_URL) for several`);
      }
      rmSync(file, { force: true }); // left by a process that died
    }
  }
  throw new ServerLockError(`cannot take the lock ${file}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
