// Parent-side process handling: forked helpers with IPC waits, a kill-on-exit registry, deadlines, clean-ups.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Report } from './child.ts';

const live = new Set<ChildProcess>();

/** Registers a process so killAll() ends it; it unregisters itself when it exits. */
export function track(proc: ChildProcess): void {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
}

/** Ends every child still running (SIGKILL: used on failure and on Ctrl-C). */
export function killAll(): void {
  for (const proc of live) {
    try {
      proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

/** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves once the process has exited. */
export async function stopProcess(proc: ChildProcess, graceMs = 5000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/** A step's time budget: every wait in the step races against what is left of it. */
export interface Deadline {
  readonly label: string;
  left(): number;
  race<T>(promise: Promise<T>, what: string): Promise<T>;
}

export function deadline(label: string, ms: number): Deadline {
  const end = Date.now() + ms;
  return {
    label,
    left: () => end - Date.now(),
    race<T>(promise: Promise<T>, what: string): Promise<T> {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`${label}: ${what} did not happen within the step's ${Math.round(ms / 1000)} s budget`)), Math.max(0, end - Date.now()));
      });
      return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A forked helper (bench/lib/*.ts) with a queue of its reports by type. */
export interface Helper {
  readonly proc: ChildProcess;
  readonly name: string;
  send(msg: { cmd: string; [key: string]: unknown }): void;
  /** The next report of this type (one buffered earlier counts); an {type:'error'} report or an exit rejects. */
  next<T = Report>(type: string, dl: Deadline): Promise<T & Report>;
  /** Forgets buffered reports of this type (a stale one from an earlier, failed run). */
  discard(type: string): void;
  stop(): Promise<void>;
}

export function forkHelper(name: string, script: string, args: string[] = [], env: NodeJS.ProcessEnv = process.env): Helper {
  const proc = fork(fileURLToPath(new URL(script, import.meta.url)), args, {
    execPath: process.execPath,
    execArgv: [],
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  track(proc);
  const buffered: Report[] = [];
  const waiters: { type: string; resolve: (r: Report) => void; reject: (e: Error) => void }[] = [];
  let failure: Error | null = null;

  const failAll = (error: Error) => {
    failure ??= error;
    for (const w of waiters.splice(0)) w.reject(error);
  };
  proc.on('message', (msg: Report) => {
    if (msg.type === 'error') return failAll(new Error(`${name}: ${String(msg.message)}`));
    const i = waiters.findIndex((w) => w.type === msg.type);
    if (i >= 0) waiters.splice(i, 1)[0].resolve(msg);
    else buffered.push(msg);
  });
  proc.on('exit', (code, signal) => failAll(new Error(`${name} exited (${signal ?? `code ${code}`})`)));
  proc.on('error', (error) => failAll(error));

  return {
    proc,
    name,
    send(msg) {
      if (proc.connected) proc.send(msg);
    },
    next<T>(type: string, dl: Deadline) {
      const i = buffered.findIndex((m) => m.type === type);
      if (i >= 0) return Promise.resolve(buffered.splice(i, 1)[0] as T & Report);
      if (failure) return Promise.reject(failure);
      const waiting = new Promise<Report>((resolve, reject) => waiters.push({ type, resolve, reject }));
      return dl.race(waiting, `${name} reporting "${type}"`) as Promise<T & Report>;
    },
    discard(type) {
      for (let i = buffered.length - 1; i >= 0; i--) if (buffered[i].type === type) buffered.splice(i, 1);
    },
    stop: () => stopProcess(proc, 3000),
  };
}

const cleanups = new Set<() => unknown>();

/** Registers clean-up work (temp dir, schema) that also runs on Ctrl-C; run() does it once, now. */
export function defer(fn: () => unknown): { run(): Promise<void> } {
  let done = false;
  const once = async () => {
    if (done) return;
    done = true;
    cleanups.delete(once);
    await fn();
  };
  cleanups.add(once);
  return { run: once };
}

/** Runs every clean-up still registered (after killAll(), on failure or interruption). */
export async function runCleanups(): Promise<void> {
  for (const fn of [...cleanups].reverse()) {
    try {
      await fn();
    } catch (error) {
      process.stderr.write(`clean-up failed: ${(error as Error).message}\n`);
    }
  }
}
