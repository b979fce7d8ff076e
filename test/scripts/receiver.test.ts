// The example receiver (npm run receiver): on any free port, it checks the signature of what botgate sends to it,
// JSON and form bodies alike, over the bytes as sent.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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
