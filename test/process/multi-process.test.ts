// Several gateway processes on one PostgreSQL: they share the deliveries (each sent exactly once, all
// delivered), and when one is killed with -9 the others take over its leases and lose nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { Client } from 'pg';
import { freshSchema, postgresAvailability } from '../helpers/postgres.ts';
import { ADMIN_TOKEN, MASTER_KEY, eventually } from '../helpers/gateway.ts';
import { spawnGateway, tempDataDir, type GatewayProcess } from '../helpers/process.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { SignJWT } from 'jose';
import { DEMO_BOT_FILE } from '../../src/provision.ts';

const pg = await postgresAvailability();

async function cluster(size: number, env: Record<string, string>) {
  const db = await freshSchema((pg as { url: string }).url);
  const shared = { BOTGATE_DATABASE_URL: (pg as { url: string }).url, BOTGATE_DATABASE_SCHEMA: db.schema, BOTGATE_DEMO__ENABLED: 'false', ...env };
  const processes: GatewayProcess[] = [];
  for (let i = 0; i < size; i++) processes.push(await spawnGateway({ ...shared, BOTGATE_DATA_DIR: tempDataDir(), BOTGATE_INSTANCE_ID: `gw-${i}` }));
  return {
    processes,
    shared,
    async stop() {
      for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
      await Promise.all(processes.map((p) => p.exited));
      await db.drop();
    },
  };
}

describe('several gateway processes on PostgreSQL', { skip: 'skip' in pg ? pg.skip : false }, () => {
  it('refuses, in one line and before serving anything, a process whose master key is not the database\'s', async () => {
    const { shared, stop } = await cluster(1, { BOTGATE_DEMO__ENABLED: 'true' });
    try {
      const other = spawnSync(process.execPath, ['src/main.ts'], {
        cwd: new URL('../../', import.meta.url).pathname,
        env: { PATH: process.env.PATH, ...shared, BOTGATE_DATA_DIR: tempDataDir(), BOTGATE_PORT: '0', BOTGATE_MASTER_KEY: 'another-master-key-0123456789' },
        encoding: 'utf8', timeout: 20_000,
      });
      assert.equal(other.status, 2, other.stderr);
      assert.match(other.stderr, /^botgate: BOTGATE_MASTER_KEY is not the master key this database's secrets are sealed with.*\n$/);
      assert.doesNotMatch(other.stdout, /API|token/i, 'no banner, no secrets');
      // A CLI command run where no master key is (no data directory): refused, and it leaves nothing behind, not even
      // the ./data it would have generated a key into.
      const cwd = tempDataDir();
      for (const argv of [['endpoints', 'list'], ['serve']]) {
        const entry = new URL('../../bin/botgate.js', import.meta.url).pathname;
        const cli = spawnSync(process.execPath, [entry, ...argv], { cwd, env: { PATH: process.env.PATH, ...shared, BOTGATE_PORT: '0' }, encoding: 'utf8', timeout: 20_000 });
        assert.equal(cli.status, 2, cli.stderr);
        assert.match(cli.stderr, /^botgate: the master key in \S+ \(none was found, so one was generated; it is removed again\) is not the master key/);
        assert.deepEqual(readdirSync(cwd), [], `${argv.join(' ')} leaves nothing in the directory it ran in`);
      }
    } finally {
      await stop();
    }
  });

  it('stops at once on SIGTERM while it waits for the provisioning lock another process holds', async () => {
    const db = await freshSchema((pg as { url: string }).url);
    const holder = new Client({ connectionString: (pg as { url: string }).url });
    await holder.connect();
    // Another process provisions (its lock held here): this one migrates, listens and then waits for its turn.
    await holder.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [`botgate:${db.schema}:provision`]);
    const child = spawn(process.execPath, ['src/main.ts'], {
      cwd: new URL('../../', import.meta.url).pathname,
      env: { PATH: process.env.PATH, BOTGATE_DATABASE_URL: (pg as { url: string }).url, BOTGATE_DATABASE_SCHEMA: db.schema, BOTGATE_DATA_DIR: tempDataDir(), BOTGATE_PORT: '0', BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_ADMIN_TOKEN: ADMIN_TOKEN, BOTGATE_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
    try {
      const url = (await eventually(() => /Server listening at (http:\/\/\S+?)"/.exec(out), 20_000))[1];
      assert.equal((await fetch(`${url}/readyz`)).status, 503, 'still starting: waiting for the lock');
      child.kill('SIGTERM');
      // Before, the stop waited for the lock too, until the 25 s force timer: exit 1, "shutdown took too long".
      assert.equal(await exited, 0, out);
      assert.match(out, /"msg":"stopped"/);
      assert.doesNotMatch(out, /took too long|failed to start/);
    } finally {
      child.kill('SIGKILL');
      await holder.end();
      await db.drop();
    }
  });

  it('share the deliveries: every one is sent exactly once and all arrive', async () => {
    const rx = await startReceiver((_q, res) => void setTimeout(() => res.writeHead(200).end(), 2));
    const { processes, stop } = await cluster(3, {});
    try {
      const ep = await processes[0].api('POST', '/api/endpoints', { name: 'rx', url: rx.url });
      assert.equal(ep.status, 201);
      const ids: string[] = [];
      await Promise.all(processes.map(async (p, n) => {
        for (let batch = 0; batch < 10; batch++) {
          const res = await p.api('POST', '/api/messages/batch', { messages: Array.from({ length: 100 }, (_, i) => ({ event_type: 'mp.test', payload: { n, batch, i } })) });
          assert.equal(res.status, 202);
          ids.push(...res.body.messages.map((m: { id: string }) => m.id));
        }
      }));
      assert.equal(ids.length, 3000);
      await rx.waitFor(3000, 60_000);
      await new Promise((r) => setTimeout(r, 500)); // anything sent twice would arrive by now
      const counts = new Map<string, number>();
      for (const r of rx.requests) counts.set(String(r.headers['webhook-id']), (counts.get(String(r.headers['webhook-id'])) ?? 0) + 1);
      assert.equal(rx.requests.length, 3000, 'no delivery was sent twice');
      assert.ok(ids.every((id) => counts.get(id) === 1));
      await eventually(async () => (await processes[1].api('GET', '/api/deliveries?status=sent&per_page=1000&page=3')).body.data.length === 1000);
    } finally {
      await stop();
      await rx.close();
    }
  });

  it('runs the turns of one conversation one at a time, in arrival order, across processes', async () => {
    const { processes, stop } = await cluster(2, {});
    try {
      const [a, b] = processes;
      assert.equal((await a.api('POST', '/api/endpoints', { name: 'orders', url: 'https://shop.example/orders' })).status, 201); // the demo's webhook names it
      assert.equal((await a.api('POST', '/api/bots', { file: DEMO_BOT_FILE })).status, 201);
      const app = (await a.api('POST', '/api/apps', { name: 'mp-app' })).body;
      assert.equal((await a.api('POST', '/api/bots/demo/channels', { mode: 'sync', app_id: app.client_id })).status, 201);
      const token = await new SignJWT({ appId: app.client_id, sub: 'mp' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(app.client_secret));
      const texts = ['order a pizza', 'four', 'ham', '2 Long Road', '555', 'maybe', '1', 'hello'];
      const answers = await Promise.all(texts.map(async (text, i) => {
        const target = i % 2 === 0 ? a : b;
        const res = await fetch(`${target.url}/chatbot/hooks/demo`, { method: 'POST', headers: { authorization: `bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ message: { text }, from: { id: 'mp-user' } }) });
        assert.equal(res.status, 200);
        return res.json() as Promise<{ text: unknown }>;
      }));
      const conversation = (await a.api('GET', '/api/conversations?user_key=mp-user')).body.data[0];
      const incoming = (await b.api('GET', `/api/messages?conversation_id=${conversation.id}&direction=incoming&per_page=20`)).body.data.reverse();
      const outgoing = (await b.api('GET', `/api/messages?conversation_id=${conversation.id}&direction=outgoing&per_page=100`)).body.data.reverse();
      assert.equal(incoming.length, texts.length);
      // Each request's answer is exactly its own turn's replies, and every turn ran after the one before it:
      // replies never interleave (ids are time-ordered across processes only loosely, so order by reply_to).
      for (const m of incoming) {
        const own = outgoing.filter((o: { reply_to: string }) => o.reply_to === m.id).map((o: { payload: { text?: unknown } }) => o.payload.text).filter((t: unknown) => t !== undefined);
        const answer = answers[texts.indexOf(m.payload.message.text)].text;
        assert.deepEqual(Array.isArray(answer) ? answer : [answer], own);
      }
    } finally {
      await stop();
    }
  });

  it('kill -9: the deliveries a dead process leased are sent again at once (not after their lease), those of a live one never', async () => {
    // The receiver never answers: every try stays in flight, leased for the endpoint's 60 s timeout plus 30 s.
    const rx = await startReceiver(() => {});
    const { processes, shared, stop } = await cluster(1, { BOTGATE_DELIVERY__SHUTDOWN_DEADLINE_SECONDS: '0' });
    try {
      const [first] = processes;
      assert.equal((await first.api('POST', '/api/endpoints', { name: 'rx', url: rx.url, timeout_seconds: 60 })).status, 201);
      for (let i = 0; i < 3; i++) assert.equal((await first.api('POST', '/api/messages', { event_type: 'mp.held', payload: { i } })).status, 202);
      await rx.waitFor(3);
      // A second process starting (its start reaps) leaves the live first one's leases alone.
      const second = await spawnGateway({ ...shared, BOTGATE_DATA_DIR: tempDataDir(), BOTGATE_INSTANCE_ID: 'gw-1' });
      processes.push(second);
      const sending = await second.api('GET', '/api/deliveries?status=sending');
      assert.equal(sending.body.data.length, 3);
      assert.equal(rx.requests.length, 3, 'nothing sent twice');
      // The first dies: the second takes its deliveries over at its next reap (every 10 s), long before their leases end.
      first.child.kill('SIGKILL');
      await first.exited;
      await rx.waitFor(6, 20_000);
      // The second dies too, and is started again, under the same instance_id: its start takes them back.
      second.child.kill('SIGKILL');
      await second.exited;
      processes.push(await spawnGateway({ ...shared, BOTGATE_DATA_DIR: tempDataDir(), BOTGATE_INSTANCE_ID: 'gw-1' }));
      await rx.waitFor(9, 10_000);
      // And once more under a new worker id (no instance_id: host, pid and a random part): its start takes them back.
      processes.at(-1)!.child.kill('SIGKILL');
      await processes.at(-1)!.exited;
      processes.push(await spawnGateway({ ...shared, BOTGATE_DATA_DIR: tempDataDir() }));
      await rx.waitFor(12, 10_000);
      assert.deepEqual(new Set(rx.requests.map((r) => r.headers['webhook-id'])).size, 3, 'the same three deliveries each time');
    } finally {
      await stop();
      await rx.close();
    }
  });

  it('kill -9 of one process: the others take over its leases and every acknowledged message arrives', async () => {
    const rx = await startReceiver((_q, res) => void setTimeout(() => res.writeHead(200).end(), 20));
    const { processes, stop } = await cluster(3, { BOTGATE_DELIVERY__LEASE_GRACE_SECONDS: '1' });
    try {
      const ep = await processes[0].api('POST', '/api/endpoints', { name: 'rx', url: rx.url, timeout_seconds: 2 });
      assert.equal(ep.status, 201);
      const acknowledged = new Set<string>();
      const victim = processes[0];
      let stopPublishing = false;
      const publish = async (p: GatewayProcess) => {
        while (!stopPublishing) {
          try {
            const res = await p.api('POST', '/api/messages/batch', { messages: Array.from({ length: 20 }, (_, i) => ({ event_type: 'mp.kill', payload: { i } })) });
            if (res.status === 202) for (const m of res.body.messages) acknowledged.add(m.id);
          } catch {
            return;
          }
        }
      };
      const publishers = processes.flatMap((p) => [publish(p), publish(p)]);
      await eventually(() => rx.requests.length > 300, 20_000);
      victim.child.kill('SIGKILL');
      await victim.exited;
      await new Promise((r) => setTimeout(r, 300));
      stopPublishing = true;
      await Promise.all(publishers);
      const delivered = () => new Set(rx.requests.map((r) => String(r.headers['webhook-id'])));
      await eventually(() => [...acknowledged].every((id) => delivered().has(id)), 30_000, 100);
      const survivor = processes[1];
      await eventually(async () => (await survivor.api('GET', '/api/deliveries?status=sending')).body.data.length === 0, 15_000);
      process.stdout.write(`# acknowledged ${acknowledged.size}, received ${rx.requests.length}, sent again after the kill ${rx.requests.length - delivered().size}\n`);
    } finally {
      await stop();
      await rx.close();
    }
  });
});
