// The botgate CLI as a process (bin/botgate.js from the repository's folder), with only PATH and the given environment.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';

const ROOT = new URL('../../', import.meta.url).pathname;

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `botgate ARGS…`; resolves with its exit status and output (never rejects; a run over 30 s is killed). */
export function cli(env: Record<string, string>, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/botgate.js', ...args], { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** `botgate ARGS…` as a running process (same environment as cli()), its output readable while it runs. */
export function cliProcess(env: Record<string, string>, ...args: string[]) {
  const child = spawn(process.execPath, ['bin/botgate.js', ...args], { cwd: ROOT, env: { PATH: process.env.PATH, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const done = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
  return { done, stdout: () => stdout, stderr: () => stderr, kill: () => child.kill(), pid: child.pid! };
}

const idsOf = (stdout: string) => (JSON.parse(stdout) as { id: string }[]).map((row) => row.id);

/**
 * A CLI list command (`list`: its words, such as ['deliveries', 'list']) pages as the API's lists do: over `all`,
 * the ids of exactly three rows newest first, pages of --limit continued with --cursor, the next cursor on stderr
 * while there are more (JSON and table alike), and a cursor of another list (`foreign`) refused with `refused`.
 */
export async function assertCliPages(env: Record<string, string>, list: string[], all: string[], foreign: string, refused: RegExp): Promise<void> {
  assert.equal(all.length, 3);
  const command = list.join(' ');
  const first = await cli(env, ...list, '--limit', '2', '--json');
  assert.equal(first.status, 0, first.stderr);
  assert.deepEqual(idsOf(first.stdout), all.slice(0, 2));
  assert.equal(first.stderr, `more: botgate ${command} --cursor ${all[1]} (with the same options)\n`);
  const second = await cli(env, ...list, '--limit', '2', '--cursor', all[1], '--json');
  assert.equal(second.status, 0, second.stderr);
  assert.deepEqual(idsOf(second.stdout), [all[2]]);
  assert.equal(second.stderr, '');
  // The table too: the rows on stdout, the next cursor on stderr.
  const table = await cli(env, ...list, '--limit', '1');
  assert.match(table.stdout, new RegExp(`^ID .*\\n${all[0]} `));
  assert.equal(table.stderr, `more: botgate ${command} --cursor ${all[0]} (with the same options)\n`);
  // A cursor of another list is refused, as the API refuses it.
  const refusal = await cli(env, ...list, '--cursor', foreign);
  assert.equal(refusal.status, 2, refusal.stdout);
  assert.match(refusal.stderr, refused);
}
