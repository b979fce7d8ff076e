// Outside services: Redis for the BullMQ baseline (started if absent) and PostgreSQL (checked; schema dropped).
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import pg from 'pg';
import { sleep } from './procs.ts';

/** Sends one inline Redis command and returns the first reply line (or throws). */
function redisCommand(host: string, port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from Redis at ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk) => {
      data += chunk.toString();
      if (data.includes('\r\n')) {
        clearTimeout(timer);
        socket.end();
        resolve(data.split('\r\n')[0]);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (!data) reject(new Error(`Redis at ${host}:${port} closed the connection`));
    });
  });
}

/** Makes sure Redis answers PING; starts a throwaway one (no persistence) when none runs. */
export async function ensureRedis(host = '127.0.0.1', port = 6379): Promise<{ started: boolean; stop(): Promise<void> }> {
  const ping = () => redisCommand(host, port, 'PING').then((r) => r === '+PONG', () => false);
  if (await ping()) return { started: false, stop: async () => {} };
  const r = spawnSync('redis-server', ['--daemonize', 'yes', '--bind', host, '--port', String(port), '--save', '', '--appendonly', 'no'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`Redis does not answer and redis-server could not be started: ${r.error?.message ?? r.stderr}`);
  for (let i = 0; i < 50; i++) {
    if (await ping()) {
      return { started: true, stop: () => redisCommand(host, port, 'SHUTDOWN NOSAVE').then(() => {}, () => {}) };
    }
    await sleep(100);
  }
  throw new Error('started redis-server, but it does not answer PING');
}

/** null when PostgreSQL answers at `url`, else the reason it cannot be used. */
export async function checkPostgres(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return (error as Error).message || String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`refusing to drop odd schema name ${schema}`);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end().catch(() => {});
  }
}
