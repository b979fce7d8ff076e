// The example receiver (npm run receiver): on any free port, it checks the signature of what botgate sends to it,
// JSON and form bodies alike, over the bytes as sent.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** Runs scripts/receiver.ts; `output` grows as it prints. */
function runReceiver(args: string[]) {
  const child: ChildProcess = spawn(process.execPath, ['scripts/receiver.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const until = async (pattern: RegExp, timeoutMs = 10_000) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(output);
      if (match) return match;
      if (Date.now() > end) throw new Error(`receiver never printed ${pattern}:\n${output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { child, exited, until, output: () => output };
}

describe('example receiver', () => {
  let gw: TestGateway;
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  let receiver: ReturnType<typeof runReceiver>;
  let url: string;
  before(async () => {
    gw = await startTestGateway();
    receiver = runReceiver(['--port', '0', '--secret', secret]);
    url = (await receiver.until(/listening on (http:\/\/127\.0\.0\.1:(\d+)\/)/))[1];
  });
  after(async () => {
    receiver.child.kill();
    await receiver.exited;
    await gw.close();
  });

  it('takes --port 0 and prints the port it got', () => {
    assert.doesNotMatch(url, /:0\//);
  });

  it('verifies the signature of JSON and form deliveries over the raw body', async () => {
    for (const contentType of ['json', 'form'] as const) {
      const ep = await gw.api('POST', '/api/endpoints', { name: `rx ${contentType}`, url: `${url}${contentType}`, secret, content_type: contentType, event_types: [`try.${contentType}`] });
      assert.equal(ep.status, 201, JSON.stringify(ep.body));
      const sent = await gw.api('POST', '/api/messages', { event_type: `try.${contentType}`, payload: { order_id: 7, note: 'a&b=c ü', items: [1, 2] } });
      assert.equal(sent.status, 202);
      const line = (await receiver.until(new RegExp(`POST /${contentType} webhook-id=${sent.body.id} signature (.*)`)))[1];
      assert.equal(line, 'valid', receiver.output());
    }
  });

  it('reports a body that does not match its signature as INVALID', async () => {
    const res = await fetch(`${url}forged`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'webhook-id': 'msg_forged', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': `v1,${randomBytes(32).toString('base64')}` },
      body: 'a=1',
    });
    assert.equal(res.status, 200);
    assert.match((await receiver.until(/POST \/forged webhook-id=msg_forged signature (.*)/))[1], /^INVALID/);
  });

  it('refuses a port that is no port with a line, not a stack', async () => {
    const bad = runReceiver(['--port', 'abc']);
    assert.equal(await bad.exited, 2);
    assert.match(bad.output(), /--port must be a port number/);
    assert.doesNotMatch(bad.output(), /\n\s+at /);
  });
});

describe('npm run receiver', () => {
  // npm runs a script through `sh -c`: without exec the shell stood between npm and node, so npm's stop (it passes
  // SIGTERM on to its child) ended the shell and left the receiver running, holding its port.
  it('stops with npm: a SIGTERM to npm ends the receiver too', async () => {
    const npm = spawn('npm', ['run', '--silent', 'receiver', '--', '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
    let output = '';
    npm.stdout!.on('data', (d) => (output += d));
    npm.stderr!.on('data', (d) => (output += d));
    let receiverPid: number | undefined;
    try {
      for (const end = Date.now() + 20_000; !/listening on http:\/\/127\.0\.0\.1:\d+\//.test(output); await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() > end) throw new Error(`the receiver never said it listens:\n${output}`);
      }
      receiverPid = receiverUnder(npm.pid!);
      assert.ok(receiverPid, 'the receiver process runs under npm');
      npm.kill('SIGTERM');
      await new Promise((resolve) => npm.once('exit', resolve));
      for (const end = Date.now() + 5_000; alive(receiverPid); await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() > end) assert.fail('the receiver still runs after npm stopped');
      }
    } finally {
      // Nothing left behind: a receiver still running would hold npm's pipes open, and this test file with them.
      if (receiverPid !== undefined && alive(receiverPid)) process.kill(receiverPid, 'SIGKILL');
      if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
      npm.stdout!.destroy();
      npm.stderr!.destroy();
    }
  });
});

/** The pid of the node process running scripts/receiver.ts below `pid` (its child, or its child's child). */
function receiverUnder(pid: number): number | undefined {
  const children = (p: number) => readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  for (const child of children(pid)) {
    for (const candidate of [child, ...children(child)]) {
      // node itself, not a shell running it (`sh -c node scripts/receiver.ts` names the script too).
      const argv = readFileSync(`/proc/${candidate}/cmdline`, 'utf8').split('\0');
      if (/node$/.test(argv[0]) && argv.includes('scripts/receiver.ts')) return candidate;
    }
  }
  return undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
