// Runs the real gateway process (node src/main.ts) for process-level tests: start-up, signals, kill -9,
// several processes on one database. Port 0 → the address is read from the start-up banner.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_TOKEN, MASTER_KEY } from './gateway.ts';
import { rememberSecrets } from './signatures.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  api<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'botgate-proc-'));
}

export async function spawnGateway(env: Record<string, string>, options: { adminToken?: string | null; timeoutMs?: number; entry?: string; args?: string[] } = {}): Promise<GatewayProcess> {
  const token = options.adminToken === undefined ? ADMIN_TOKEN : options.adminToken;
  const child = spawn(process.execPath, [...(process.env.BG_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []), ...(process.env.BG_HEAP ? ['--heap-prof', '--heap-prof-dir=/tmp/heap', '--heap-prof-interval=65536'] : []), options.entry ?? 'src/main.ts', ...(options.args ?? [])], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      BOTGATE_PORT: '0',
      BOTGATE_MASTER_KEY: MASTER_KEY,
      BOTGATE_LOG_LEVEL: 'warn',
      BOTGATE_DELIVERY__ALLOW_PRIVATE: '127.0.0.1',
      BOTGATE_DELIVERY__POLL_INTERVAL_MS: '50',
      ...(token ? { BOTGATE_ADMIN_TOKEN: token } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${out}`)), options.timeoutMs ?? 20_000);
    const check = () => {
      const match = /API\s+(http:\/\/[^\s]+)\/api/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${out}`));
    });
  });
  return {
    child,
    url,
    output: () => out,
    exited,
    async api(method, path, body) {
      const res = await fetch(url + path, {
        method,
        headers: { authorization: `Bearer ${token ?? ''}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      const parsed = text ? JSON.parse(text) : null;
      rememberSecrets(parsed);
      return { status: res.status, body: parsed };
    },
  };
}
