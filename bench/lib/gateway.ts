// Runs botgate as a directly spawned child (its pid is the gateway's), ready at /readyz; API helpers for the bench.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { sleep, stopProcess, track, type Deadline } from './procs.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** What `npm start` runs (package.json): src/main.ts behind a launcher that turns Node's compile cache on. */
const START_ENTRY = 'bin/start.js';

export interface GatewayOptions {
  dataDir: string;
  /** Extra BOTGATE_* variables (store selection). */
  env?: Record<string, string>;
  /** Write a V8 CPU profile into this directory when the gateway exits (graceful stop only). */
  cpuProfDir?: string;
  /** Extra node flags for the gateway process (experiments: --trace-gc, …). */
  nodeFlags?: string[];
}

export interface Gateway {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly base: string;
  readonly token: string;
  readonly logFile: string;
  api<T = unknown>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<{ status: number; body: T }>;
  createEndpoint(settings: Record<string, unknown>): Promise<string>;
  /** botgate_deliveries{status="sent"} from GET /metrics. */
  sentCount(): Promise<number>;
  /** botgate_delivery_queue_depth from GET /metrics (pending + sending). */
  queueDepth(): Promise<number>;
  logTail(lines?: number): string;
  /** Graceful stop (SIGTERM, then SIGKILL after graceMs); kill() ends it at once. */
  stop(graceMs?: number): Promise<void>;
  kill(): Promise<void>;
}

/** The node flags `npm start` runs the gateway with (package.json is their one home), so the bench measures the same process. */
export function startFlags(): string[] {
  const start = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const words = start.split(/\s+/);
  if (!words.includes(START_ENTRY)) throw new Error(`package.json's start script does not run ${START_ENTRY}: ${start}`);
  return words.slice(words.indexOf('node') + 1, words.indexOf(START_ENTRY)).filter((w) => w.startsWith('--'));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startGateway(options: GatewayOptions, dl: Deadline): Promise<Gateway> {
  const port = await freePort();
  const token = `bench-admin-${Math.random().toString(36).slice(2)}-token`;
  const base = `http://127.0.0.1:${port}`;
  // BENCH_KEEP_LOG=FILE: every gateway of the run appends its output there (kept after the run; e.g. with --trace-gc).
  const logFile = process.env.BENCH_KEEP_LOG || join(options.dataDir, 'gateway.log');
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BOTGATE_')) env[k] = v;
  Object.assign(env, {
    BOTGATE_DATA_DIR: options.dataDir,
    BOTGATE_PORT: String(port),
    BOTGATE_HOST: '127.0.0.1',
    BOTGATE_ADMIN_TOKEN: token,
    BOTGATE_MASTER_KEY: 'bench-master-key-0123456789abcdef',
    BOTGATE_LOG_LEVEL: 'warn',
    BOTGATE_DELIVERY__ALLOW_PRIVATE: '127.0.0.1',
    ...options.env,
  });
  // BENCH_NODE_FLAGS="--flag …": added to npm start's flags for every gateway of the run (experiments).
  const extra = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const execArgv = [...startFlags(), ...(options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : []), ...(options.nodeFlags ?? []), ...extra];
  const log = openSync(logFile, 'a');
  const proc = spawn(process.execPath, [...execArgv, START_ENTRY], { cwd: REPO, env, stdio: ['ignore', log, log] });
  closeSync(log);
  track(proc);
  let exited: string | null = null;
  proc.once('exit', (code, signal) => (exited = signal ?? `code ${code}`));

  const logTail = (lines = 20) => {
    try {
      // Without the start-up banner (it is on stdout, the same file): only what the gateway logged.
      const text = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('  ') && l !== 'botgate is running');
      return text.slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  const headers = { authorization: `Bearer ${token}` };

  /** A number read off GET /metrics (0 when the series is absent). */
  const metric = async (pattern: RegExp): Promise<number> => {
    const res = await gateway.api<string>('GET', '/metrics');
    if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
    const match = pattern.exec(String(res.body));
    return match ? Number(match[1]) : 0;
  };
  const gateway: Gateway = {
    proc,
    pid: proc.pid ?? 0,
    base,
    token,
    logFile,
    async api<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) {
      const res = await request(base + path, {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.body.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON (metrics)
      }
      return { status: res.statusCode, body: parsed as T };
    },
    async createEndpoint(settings) {
      const res = await gateway.api<{ id?: string }>('POST', '/api/endpoints', settings);
      if (res.status !== 201 || !res.body.id) throw new Error(`POST /api/endpoints answered ${res.status}: ${JSON.stringify(res.body).slice(0, 500)}`);
      return res.body.id;
    },
    sentCount: () => metric(/^botgate_deliveries\{status="sent"\} (\d+)/m),
    queueDepth: () => metric(/^botgate_delivery_queue_depth (\d+)/m),
    logTail,
    stop: (graceMs = 15_000) => stopProcess(proc, graceMs),
    kill: () => stopProcess(proc, 0, 'SIGKILL'),
  };

  // Ready when /readyz answers 200; a gateway that exits first fails with its log.
  while (true) {
    if (exited) throw new Error(`the gateway exited during start-up (${exited}):\n${logTail()}`);
    if (dl.left() <= 0) throw new Error(`the gateway did not become ready in time:\n${logTail()}`);
    try {
      const res = await request(`${base}/readyz`, { headersTimeout: 2000, bodyTimeout: 2000 });
      await res.body.dump();
      if (res.statusCode === 200) return gateway;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
}
