// botgate master-key rotate: every stored secret sealed again under a new key in one transaction, on both stores.
// Afterwards a gateway with the new key signs, authenticates and verifies as before and the old key is refused;
// a rotate with the wrong current key, over a secret that does not open, or beside a running gateway changes nothing.
// A click link sent before the rotation still counts its click after it (its key is a stored secret, sealed again).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import pg from 'pg';
import twilio from 'twilio';
import { MasterKeyMismatchError } from '../../src/crypto/master-key.ts';
import { createSecretBox, parseMasterKey } from '../../src/crypto/secret-box.ts';
import { LINK_KEY_SETTING } from '../../src/notify/link-key.ts';
import { DEMO_BOT_FILE } from '../../src/provision.ts';
import { acquireServerLock } from '../../src/server-lock.ts';
import { testBackends } from '../helpers/backends.ts';
import { eventually, MASTER_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { freshSchema } from '../helpers/postgres.ts';
import { tempDataDir } from '../helpers/process.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { SID, TOKEN, smsParams } from '../channels/twilio-helpers.ts';
import { cli } from '../helpers/cli.ts';

const NEW_KEY = 'the-new-master-key-after-a-leak';
const PUBLIC_URL = 'https://gw.example.com';

/** Runs the CLI as a process (without blocking this one: a gateway in it may be running). */

/** How many gateway processes registered on the schema (each holding its worker lock from its start on). */
async function registeredWorkers(url: string, schema: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query(`SELECT count(*) AS n FROM ${schema}.workers`)).rows[0].n);
  } finally {
    await client.end();
  }
}

const backends = await testBackends();

for (const backend of backends) {
  describe(`botgate master-key rotate (${backend.name})`, { skip: backend.skip }, () => {
    let store: Record<string, string>;
    let rx: Receiver;
    let drop = async () => {};
    const made = { endpoint: '', clientId: '', clientSecret: '', hook: '', platform: '', twilio: '', notification: '' };
    const gateway = (key: string | null) => startTestGateway({ ...store, BOTGATE_PUBLIC_URL: PUBLIC_URL, ...(key ? { BOTGATE_MASTER_KEY: key } : {}) }, { start: false });
    /** Every sealed value as stored, read under the old key (which must still be the store's). */
    const sealed = async () => {
      const gw = await gateway(MASTER_KEY);
      try {
        return JSON.stringify([
          (await gw.store.endpoints.list({}, { limit: 100 })).map((e) => [e.id, e.secretsSealed, e.authSealed]),
          (await gw.store.apps.list({ limit: 100 })).map((a) => [a.id, a.secretSealed]),
          (await gw.store.channels.list({ limit: 100 })).map((c) => [c.id, c.settings]),
          await gw.store.settings.get(LINK_KEY_SETTING),
        ]);
      } finally {
        await gw.close();
      }
    };

    before(async () => {
      store = { BOTGATE_DATA_DIR: tempDataDir() };
      if (backend.url) {
        const schema = await freshSchema(backend.url);
        store = { ...store, BOTGATE_DATABASE_URL: backend.url, BOTGATE_DATABASE_SCHEMA: schema.schema };
        drop = schema.drop;
      }
      rx = await startReceiver();
      const gw = await gateway(MASTER_KEY);
      try {
        await gw.bots.load(DEMO_BOT_FILE);
        const created = async (path: string, body: unknown) => {
          const res = await gw.api('POST', path, body);
          assert.equal(res.status, 201, JSON.stringify(res.body));
          return res.body;
        };
        made.endpoint = (await created('/api/endpoints', { name: 'erp', url: `${rx.url}/erp`, auth: { kind: 'bearer', token: 'erp-token' }, event_types: ['order.paid'] })).id;
        const app = await created('/api/apps', { name: 'kore' });
        [made.clientId, made.clientSecret] = [app.client_id, app.client_secret];
        made.hook = new URL((await created('/api/bots/demo/channels', { mode: 'async', app_id: app.client_id, post_url: `${rx.url}/kore`, access_token: 'kore-access-token' })).url).pathname;
        made.platform = (await created('/api/webhook/config', { name: 'zendesk', outgoing_webhook_url: `${rx.url}/zendesk`, auth_token: 'zendesk-token', signature: { preset: 'zendesk', secret: 'zd-signing-secret' } })).id;
        made.twilio = (await created('/api/webhook/config', { name: 'sms', provider: 'twilio', twilio: { account_sid: SID, auth_token: TOKEN } })).id;
        // A notification with a click link, sent to erp before the rotation (delivered once a gateway runs).
        await gw.store.notify.putOverride('offer', { critical: true, value: 1, cost: 0, cooldownHours: 0, endpointId: made.endpoint, templates: [{ id: 'a', text: 'Offer: {{link}}' }] }, Date.now());
        await gw.notify.engine.reloadOverrides();
        const [decision] = await gw.notify.engine.decide([{ userId: 'user-offer', eventType: 'offer', params: { url: 'https://shop.example/offer' } }]);
        assert.equal(decision.decision, 'notify', JSON.stringify(decision));
        made.notification = decision.notificationId!;
      } finally {
        await gw.close();
      }
    });
    after(async () => {
      await rx.close();
      await drop();
    });

    it('refuses, changing nothing, beside a running gateway, under the wrong current key, or over a secret that does not open', async () => {
      const before = await sealed();
      const rotate = (env: Record<string, string> = {}) => cli({ ...store, BOTGATE_MASTER_KEY: MASTER_KEY, NEW_MASTER_KEY: NEW_KEY, ...env }, 'master-key', 'rotate', '--new-key-env', 'NEW_MASTER_KEY');

      // A running gateway: on SQLite it holds the data directory; on PostgreSQL its worker lock says it is alive.
      const running = await gateway(MASTER_KEY);
      await running.start();
      const unlock = backend.url ? null : acquireServerLock(store.BOTGATE_DATA_DIR); // as src/main.ts does
      try {
        if (backend.url) await eventually(() => registeredWorkers(backend.url!, store.BOTGATE_DATABASE_SCHEMA)); // its start took the lock
        const refused = await rotate();
        assert.equal(refused.status, 2, refused.stderr);
        assert.match(refused.stderr, backend.url ? /gateways are running on this database \(worker .+\): stop every one, then rotate; nothing was changed/ : /another gateway .* is using .*: stop it, then rotate; nothing was changed/);
      } finally {
        unlock?.();
        await running.close();
      }

      const wrongKey = await rotate({ BOTGATE_MASTER_KEY: 'not-the-key-of-this-database' });
      assert.equal(wrongKey.status, 2, wrongKey.stderr);
      assert.match(wrongKey.stderr, /BOTGATE_MASTER_KEY is not the master key this database's secrets are sealed with/);

      // One secret sealed under another key (written by a process with the wrong key, say): nothing is sealed again.
      const gw = await gateway(MASTER_KEY);
      const stray = { id: 'cs-stray', name: 'stray', secretSealed: createSecretBox(parseMasterKey('some-other-master-key')).seal('s'), createdAt: 1, updatedAt: 1 };
      await gw.store.apps.insert(stray);
      await gw.close();
      const withStray = await sealed();
      const unopened = await rotate();
      assert.equal(unopened.status, 2, unopened.stderr);
      assert.match(unopened.stderr, /the secret of app cs-stray \(secret_sealed\) does not open under the current master key: nothing was changed/);
      assert.equal(await sealed(), withStray);
      const cleanup = await gateway(MASTER_KEY);
      await cleanup.store.apps.delete(stray.id);
      await cleanup.close();
      assert.equal(await sealed(), before);
    });

    it('seals every secret under the new key: the old key is refused at start, the new one signs, authenticates and verifies as before', async () => {
      const rotated = await cli({ ...store, BOTGATE_MASTER_KEY: MASTER_KEY, NEW_MASTER_KEY: `${NEW_KEY}\n` }, 'master-key', 'rotate', '--new-key-env', 'NEW_MASTER_KEY');
      assert.equal(rotated.status, 0, rotated.stderr);
      // erp: signing secret, bearer; the app's client secret; the channel's endpoint: both; zendesk's: both, and its
      // signing secret; sms's: both, and Twilio's token; the click link key.
      assert.match(rotated.stdout, /sealed 12 stored secret\(s\) again under the new master key\nnow set BOTGATE_MASTER_KEY/);
      assert.ok(!rotated.stdout.includes(NEW_KEY) && !rotated.stderr.includes(NEW_KEY));

      await assert.rejects(gateway(MASTER_KEY), MasterKeyMismatchError);
      const gw: TestGateway = await gateway(NEW_KEY);
      try {
        await gw.start();
        // An endpoint's signing secret and bearer token.
        assert.equal((await gw.api('POST', '/api/messages', { event_type: 'order.paid', payload: { order: 1 } })).status, 202);
        // A Kore.ai token verified with the app's client secret; the reply sent to POST_URL with the access token.
        const jwt = await new SignJWT({ appId: made.clientId, sub: 'user-1' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(made.clientSecret));
        const kore = await gw.app.inject({ method: 'POST', url: made.hook, headers: { authorization: `bearer ${jwt}`, 'content-type': 'application/json' }, payload: { message: { text: 'what is my balance' }, from: { id: 'user-1' } } });
        assert.equal(kore.statusCode, 200, kore.body);
        // A platform's signing secret, then its reply sent with the platform's token.
        const raw = JSON.stringify({ user_id: 'zd-1', message: 'what is my balance' });
        const at = new Date().toISOString();
        const signed = await gw.app.inject({ method: 'POST', url: `/api/webhook/incoming/${made.platform}`, payload: raw, headers: { 'content-type': 'application/json', 'x-zendesk-webhook-signature': createHmac('sha256', 'zd-signing-secret').update(at + raw).digest('base64'), 'x-zendesk-webhook-signature-timestamp': at } });
        assert.equal(signed.statusCode, 200, signed.body);
        // Twilio's auth token verifies its signature.
        const params = smsParams('+15550100300', 'hi');
        const url = `${PUBLIC_URL}/api/webhook/twilio/${made.twilio}`;
        const sms = await gw.app.inject({ method: 'POST', url: `/api/webhook/twilio/${made.twilio}`, payload: new URLSearchParams(params).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(TOKEN, url, params) } });
        assert.equal(sms.statusCode, 200, sms.body);

        const receivedAt = (path: string) => rx.requests.find((r) => r.url === new URL(rx.url).pathname + path);
        await eventually(() => receivedAt('/erp') && receivedAt('/kore') && receivedAt('/zendesk'));

        // The notification sent before the rotation: its link, as erp received it, still counts the click.
        const sent = await eventually(() => rx.requests.map((r) => JSON.parse(r.body)).find((b) => b.notification_id === made.notification));
        const link = new URL(sent.text.replace('Offer: ', ''));
        assert.equal(link.origin, PUBLIC_URL);
        const click = await fetch(await gw.listen() + link.pathname, { redirect: 'manual' });
        assert.equal(click.status, 302, await click.text());
        assert.equal(click.headers.get('location'), 'https://shop.example/offer');
        assert.ok((await gw.store.notify.notification(made.notification))?.clickedAt, 'the click is counted');
        for (const [path, token] of [['/erp', 'erp-token'], ['/kore', 'kore-access-token'], ['/zendesk', 'zendesk-token']]) {
          assert.equal(receivedAt(path)!.headers.authorization, `Bearer ${token}`, path);
          assert.equal(receivedAt(path)!.verified, true, `${path}: signed with the secret shown at creation`);
        }
      } finally {
        await gw.close();
      }
    });
  });
}

describe('botgate master-key rotate with a generated data_dir/master.key (SQLite)', () => {
  it('writes the new key into master.key (mode 0600) and refuses a new key on the command line, missing, short or the same', async () => {
    const dataDir = tempDataDir();
    const env = { BOTGATE_DATA_DIR: dataDir };
    assert.equal((await cli(env, 'endpoints', 'create', '--name', 'erp', '--url', 'https://erp.example/hook', '--bearer', 'erp-token')).status, 0);
    const file = join(dataDir, 'master.key');
    const old = readFileSync(file, 'utf8');
    const keyFile = join(tempDataDir(), 'new.key');

    for (const [args, message] of [
      [['--new-key', NEW_KEY], /unknown option '--new-key'/],
      [[], /give the new key with --new-key-env <name> or --new-key-file <file>/],
      [['--new-key-file', keyFile], /'--new-key-file <file>' argument '.*' is invalid\. cannot read it \(ENOENT\)/],
      [['--new-key-env', 'SHORT_KEY'], /the new master key must be at least 16 characters/],
      [['--new-key-env', 'SAME_KEY'], /the new master key is the current one: nothing to do/],
    ] as const) {
      const refused = await cli({ ...env, SHORT_KEY: 'abc', SAME_KEY: old }, 'master-key', 'rotate', ...args);
      assert.equal(refused.status, 2, `${args.join(' ')}: ${refused.stderr}`);
      assert.match(refused.stderr, message);
      assert.equal(readFileSync(file, 'utf8'), old);
    }

    writeFileSync(keyFile, `${NEW_KEY}\n`);
    // erp's signing secret and bearer token; the click link key.
    const rotated = await cli(env, 'master-key', 'rotate', '--new-key-file', keyFile);
    assert.equal(rotated.status, 0, rotated.stderr);
    assert.match(rotated.stdout, new RegExp(`sealed 3 stored secret\\(s\\) again under the new master key\\nthe new key is in ${file}`));
    assert.ok(parseMasterKey(readFileSync(file, 'utf8')).equals(parseMasterKey(NEW_KEY)));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dataDir).filter((name) => name.startsWith('master.key')), ['master.key']);
    assert.ok(!existsSync(join(dataDir, 'gateway.pid')));

    // The CLI and a gateway read the new key from the file; the secrets open under it.
    const gw = await startTestGateway({ BOTGATE_DATA_DIR: dataDir, BOTGATE_MASTER_KEY: '' }, { start: false });
    try {
      const [endpoint] = await gw.store.endpoints.list({ name: 'erp' }, { limit: 1 });
      assert.equal(JSON.parse(gw.box.open(endpoint.authSealed!)).token, 'erp-token');
    } finally {
      await gw.close();
    }
  });
});
