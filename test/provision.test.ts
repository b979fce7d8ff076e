// Config as code: declared apps, endpoints, bots and channels are created at start and brought up to date,
// keyed by name — applying the same file twice changes nothing; secrets come from the environment.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadConfig, ConfigError } from '../src/config/load.ts';
import { createGateway } from '../src/gateway.ts';
import { DEMO_BOT_FILE } from '../src/provision.ts';
import { ADMIN_TOKEN, MASTER_KEY } from './helpers/gateway.ts';

function configFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'botgate-cac-')), 'botgate.yaml');
  writeFileSync(file, text);
  return file;
}

const declared = `
apps:
  - name: kore-prod
    client_id: cs-prod-1
    client_secret_env: KORE_SECRET
bots:
  - file: ${DEMO_BOT_FILE}
endpoints:
  - name: orders
    url: https://erp.example.com/hooks/orders
    event_types: [order.confirmed]
    auth: { kind: bearer, token_env: ERP_TOKEN }
channels:
  - name: kore-demo-async
    bot: demo
    app: kore-prod
    mode: async
    post_url: https://bots.example.com/chatbot/v2/webhook/st-1/hookInstance/ivr-1
    access_token_env: KORE_ACCESS
  - name: kore-demo-sync
    bot: demo
    app: kore-prod
    mode: sync
`;

describe('config as code', () => {
  it('creates what the file declares, idempotently, with secrets from the environment', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'botgate-cac-data-'));
    const env = { BOTGATE_DATA_DIR: dataDir, BOTGATE_ADMIN_TOKEN: ADMIN_TOKEN, BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_LOG_LEVEL: 'silent', KORE_SECRET: 'kore-secret-0123456789', ERP_TOKEN: 'erp-token', KORE_ACCESS: 'kore-access' };
    const file = configFile(declared);
    const boot = async () => {
      const gw = await createGateway(loadConfig({ file, env }));
      await gw.start();
      return gw;
    };
    let gw = await boot();
    try {
      assert.equal(gw.provisioned?.demo, null, 'declaring a bot turns the demo off');
      assert.equal((await gw.store.apps.byName('kore-prod'))?.id, 'cs-prod-1');
      assert.deepEqual([...(await gw.apps.signingKey('cs-prod-1'))!], [...new TextEncoder().encode('kore-secret-0123456789')]);
      const endpoints = await gw.store.endpoints.list({}, { limit: 100 });
      assert.deepEqual(endpoints.map((e) => e.name).sort(), ['kore channel ' + (await gw.store.channels.list({ limit: 10 })).find((c) => c.mode === 'async')!.id, 'orders'].sort());
      const orders = endpoints.find((e) => e.name === 'orders')!;
      assert.deepEqual(gw.endpoints.authSecret(orders), { token: 'erp-token' });
      const channels = await gw.channels.forBot('demo');
      assert.deepEqual(channels.map((c) => [c.name, c.mode]), [['kore-demo-async', 'async'], ['kore-demo-sync', 'sync']]);
      assert.equal((await gw.store.bots.get('demo'))?.version, 1);
      // Generated signing secrets are handed to the caller to print once: the declared endpoint's and the async channel's.
      const generated = gw.provisioned!.generatedSigningSecrets;
      assert.deepEqual(generated.map((g) => [g.kind, g.name]).sort(), [['channel', 'kore-demo-async'], ['endpoint', 'orders']]);
      for (const g of generated) assert.match(g.secret, /^whsec_/);
      assert.equal(gw.endpoints.signingSecrets(orders, Date.now())[0], generated.find((g) => g.name === 'orders')!.secret);
    } finally {
      await gw.close();
    }
    gw = await boot();
    try {
      assert.deepEqual(gw.provisioned!.generatedSigningSecrets, [], 'shown once: nothing generated on the next start');
      assert.equal((await gw.store.apps.list({ limit: 10 })).length, 1);
      assert.equal((await gw.store.endpoints.list({}, { limit: 100 })).length, 2);
      assert.equal((await gw.store.channels.list({ limit: 10 })).length, 2);
      assert.equal((await gw.store.bots.get('demo'))?.version, 1, 'an unchanged bot file keeps its version');
    } finally {
      await gw.close();
    }
  });

  it('rotates a declared endpoint secret in when its variable changes, the old one signing for the overlap', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'botgate-cac-data-'));
    const file = configFile(`
endpoints:
  - name: erp
    url: https://erp.example.com/hooks
    secret_env: ERP_WHSEC
`);
    const first = 'whsec_' + Buffer.alloc(32, 1).toString('base64');
    const second = 'whsec_' + Buffer.alloc(32, 2).toString('base64');
    const boot = async (secret: string) => {
      const gw = await createGateway(loadConfig({ file, env: { BOTGATE_DATA_DIR: dataDir, BOTGATE_ADMIN_TOKEN: ADMIN_TOKEN, BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_LOG_LEVEL: 'silent', ERP_WHSEC: secret } }));
      await gw.start();
      return gw;
    };
    const signing = async (gw: Awaited<ReturnType<typeof boot>>) => {
      const erp = (await gw.store.endpoints.list({}, { limit: 10 })).find((e) => e.name === 'erp')!;
      return gw.endpoints.signingSecrets(erp, Date.now());
    };
    for (const [secret, expected] of [[first, [first]], [first, [first]], [second, [second, first]], [second, [second, first]]] as const) {
      const gw = await boot(secret);
      try {
        assert.deepEqual(await signing(gw), expected);
        assert.deepEqual(gw.provisioned!.generatedSigningSecrets, [], 'a declared secret is never printed');
      } finally {
        await gw.close();
      }
    }
  });

  it('brings a changed declaration to what the file says now, and refuses what it cannot change, naming it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'botgate-cac-data-'));
    const env = { BOTGATE_DATA_DIR: dataDir, BOTGATE_ADMIN_TOKEN: ADMIN_TOKEN, BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_LOG_LEVEL: 'silent', KORE_SECRET: 'kore-secret-0123456789', ERP_TOKEN: 'erp-token', KORE_ACCESS: 'kore-access' };
    let file = '';
    const boot = async (text: string) => {
      file = configFile(text);
      const gw = await createGateway(loadConfig({ file, env }));
      try {
        await gw.start();
      } catch (error) {
        await gw.close();
        throw error;
      }
      return gw;
    };
    const timed = declared.replace('    mode: sync\n', '    mode: sync\n    sync_timeout_seconds: 2\n');
    assert.notEqual(timed, declared);
    const first = await boot(timed);
    const syncChannel = async (g: typeof first) => (await g.store.channels.list({ limit: 100 })).find((c) => c.name === 'kore-demo-sync')!;
    assert.equal((await syncChannel(first)).syncTimeoutSeconds, 2);
    await first.close();
    // The orders endpoint loses its auth and its event types in the file, the sync channel its timeout: they go
    // back to their defaults.
    const plain = declared.replace('    event_types: [order.confirmed]\n    auth: { kind: bearer, token_env: ERP_TOKEN }\n', '');
    assert.notEqual(plain, declared);
    const gw = await boot(plain);
    try {
      const orders = (await gw.store.endpoints.list({}, { limit: 100 })).find((e) => e.name === 'orders')!;
      assert.deepEqual([orders.authKind, orders.eventTypes], ['none', null]);
      assert.equal((await syncChannel(gw)).syncTimeoutSeconds, 15);
    } finally {
      await gw.close();
    }
    // Named as a problem of the file is (`invalid configuration: FILE: apps.0.name: …`): the file, the path in its
    // notation, then the declaration's name. It said `apps[0] (kore-prod): …`, without the file.
    await assert.rejects(boot(plain.replace('client_id: cs-prod-1', 'client_id: cs-other')), (error: Error) => error.message === `invalid configuration: ${file}: apps.0 (kore-prod): client_id cs-other is declared but the app has cs-prod-1, and a client id cannot change; delete the app to declare it anew`);
    await assert.rejects(boot(plain.replace(/    post_url: .*\n/, '')), (error: Error) => error.message === `invalid configuration: ${file}: channels.0 (kore-demo-async): an async channel needs post_url`);
    // Named once, by the declaration: the message after it does not repeat the channel.
    await assert.rejects(boot(plain.replace('    mode: sync\n', '    mode: async\n    post_url: https://bots.example.com/hook\n')), (error: Error) => error.message === `invalid configuration: ${file}: channels.1 (kore-demo-sync): its bot or mode changed; delete the channel to declare it anew`);
    // As on a fresh store, where creating the channel refuses them: a sync channel has no POST_URL to send to.
    for (const extra of ['post_url: https://bots.example.com/hook', 'access_token: abc']) {
      await assert.rejects(boot(plain.replace('    mode: sync\n', `    mode: sync\n    ${extra}\n`)).then((g) => g.close()), /^DeclarationError: invalid configuration: \S+botgate\.yaml: channels\.1 \(kore-demo-sync\): post_url and access_token belong to async channels/, extra);
    }
    // A sync timeout the API refuses (0.1 to 300 s) is refused in the file too: -5 answered every sync request at once.
    for (const bad of ['-5', '0', '100000']) {
      await assert.rejects(boot(declared.replace('    mode: sync\n', `    mode: sync\n    sync_timeout_seconds: ${bad}\n`)).then((g) => g.close()), /^DeclarationError: invalid configuration: \S+botgate\.yaml: channels\.\d \(kore-demo-sync\): sync_timeout_seconds must be a number from 0.1 to 300/, bad);
    }
    await assert.rejects(boot(`${plain}notify:\n  types:\n    payment_failed:\n      endpoint: ep_nope\n`), (error: Error) => error.message.startsWith(`invalid configuration: ${file}: notify.types.payment_failed.endpoint: no endpoint ep_nope`));
    // A second endpoint of a declared name (made through the API): which one the file means is refused, not guessed.
    const twin = await createGateway(loadConfig({ env }));
    await twin.endpoints.create({ name: 'orders', url: 'https://someone-else.example/hooks' });
    await twin.close();
    await assert.rejects(boot(plain), /^DeclarationError: invalid configuration: \S+botgate\.yaml: endpoints\.0 \(orders\): 2 endpoints are named "orders"/);
  });

  it('keeps the demo\'s orders endpoint to itself: a user\'s endpoint of that name is neither taken over nor a conflict', async () => {
    const env = { BOTGATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'botgate-cac-data-')), BOTGATE_ADMIN_TOKEN: ADMIN_TOKEN, BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_LOG_LEVEL: 'silent', BOTGATE_DEMO__ENABLED: 'true' };
    const first = await createGateway(loadConfig({ env }));
    await first.start();
    const mine = await first.endpoints.create({ name: 'orders', url: 'https://shop.example/my-orders' });
    await first.close();
    const again = await createGateway(loadConfig({ env }));
    try {
      await again.start();
      assert.equal((await again.store.endpoints.get(mine.endpoint.id))?.url, 'https://shop.example/my-orders');
    } finally {
      await again.close();
    }
  });

  it('answers any signature on the demo\'s order receiver, one of non-ASCII characters too, without a 500', async () => {
    // The receiver takes no credential. A signature as long as a valid one in characters but not in bytes (é is two
    // bytes in UTF-8) reached timingSafeEqual with buffers of two lengths, which throws: 500 to anyone.
    const env = { BOTGATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'botgate-cac-data-')), BOTGATE_ADMIN_TOKEN: ADMIN_TOKEN, BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_LOG_LEVEL: 'silent', BOTGATE_DEMO__ENABLED: 'true' };
    const gw = await createGateway(loadConfig({ env }));
    try {
      await gw.start();
      const orders = (await gw.store.endpoints.list({ name: 'orders' }, { limit: 1 }))[0];
      const secret = gw.endpoints.signingSecrets(orders, Date.now())[0];
      const body = '{"order_id":1}';
      const valid = 'v1,' + createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64')).update(`msg_1.1.${body}`).digest('base64');
      const post = (signature: string) => gw.app.inject({ method: 'POST', url: '/demo/orders', payload: body, headers: { 'content-type': 'application/json', 'webhook-id': 'msg_1', 'webhook-timestamp': '1', 'webhook-signature': signature } });
      for (const [signature, ok] of [[valid, true], [`v1,${'A'.repeat(43)}é`, false], [`${valid.slice(0, -1)}é ${valid}`, true]] as const) {
        const res = await post(signature);
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(JSON.parse(res.body).signature_valid, ok, signature);
      }
    } finally {
      await gw.close();
    }
  });

  it('names the demo when setting it up fails (a declaration error, one line, not a stack)', async () => {
    const env = { BOTGATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'botgate-cac-data-')), BOTGATE_ADMIN_TOKEN: ADMIN_TOKEN, BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_LOG_LEVEL: 'silent', BOTGATE_DEMO__ENABLED: 'true' };
    const first = await createGateway(loadConfig({ env }));
    await first.start();
    await first.endpoints.create({ name: 'orders', url: 'https://shop.example/second-demo-orders', provider: 'demo' });
    await first.close();
    const again = await createGateway(loadConfig({ env }));
    try {
      await assert.rejects(again.start(), (error: Error) => error.name === 'DeclarationError' && /^demo \(the bundled demo bot.*: 2 endpoints are named "orders"/.test(error.message));
    } finally {
      await again.close();
    }
  });

  it('reports the problems of every declared bot file at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'botgate-cac-bots-'));
    writeFileSync(join(dir, 'a.yaml'), 'id: a\nname: A\nflows: 3\n');
    writeFileSync(join(dir, 'b.yaml'), 'id: b\nname: B\nintents: {x: [hi]}\nflows:\n  x: {message: [hi], next_state: nowhere}\n');
    const env = { BOTGATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'botgate-cac-data-')), BOTGATE_ADMIN_TOKEN: ADMIN_TOKEN, BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_LOG_LEVEL: 'silent' };
    const gw = await createGateway(loadConfig({ file: configFile(`bots:\n  - file: ${join(dir, 'a.yaml')}\n  - file: ${join(dir, 'b.yaml')}\n`), env }));
    try {
      await assert.rejects(gw.start(), (error: Error) => /^invalid configuration:\n  \S+botgate\.yaml: bots\.0 \(\S+a\.yaml\): /.test(error.message) && /\n  \S+botgate\.yaml: bots\.1 \(\S+b\.yaml\): .*unknown state "nowhere"/.test(error.message));
    } finally {
      await gw.close();
    }
  });

  it('refuses a name declared twice, naming both, instead of applying the later over the earlier at every start', async () => {
    // Two apps of one name with two secrets: each start rotated the secret twice and the first declaration never held.
    const env = { KORE_SECRET: 'kore-secret-0123456789', ERP_TOKEN: 'erp-token', KORE_ACCESS: 'kore-access' };
    const twice = (list: string, item: string) => declared.replace(`${list}:\n`, `${list}:\n${item}`);
    for (const [text, pattern] of [
      [twice('apps', '  - name: kore-prod\n    client_secret: another-secret-0123456789\n'), /apps\.1\.name: "kore-prod" is declared twice \(apps\.0 too\)/],
      [twice('endpoints', '  - name: orders\n    url: https://other.example.com/hooks\n'), /endpoints\.1\.name: "orders" is declared twice \(endpoints\.0 too\)/],
      [twice('channels', '  - {name: kore-demo-sync, bot: demo, app: kore-prod, mode: sync}\n'), /channels\.2\.name: "kore-demo-sync" is declared twice \(channels\.0 too\)/],
    ] as const) {
      assert.throws(() => loadConfig({ file: configFile(text), env }), (e: Error) => e instanceof ConfigError && pattern.test(e.message), text);
    }
    // Two files of one bot id: each start stored two new versions, and the later file was the bot.
    const dir = mkdtempSync(join(tmpdir(), 'botgate-cac-bots-'));
    const copy = join(dir, 'copy.yaml');
    writeFileSync(copy, readFileSync(DEMO_BOT_FILE, 'utf8').replace('name: botgate demo bot', 'name: another demo'));
    const gw = await createGateway(loadConfig({ file: configFile(twice('bots', `  - file: ${copy}\n`)), env: { ...env, BOTGATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'botgate-cac-data-')), BOTGATE_ADMIN_TOKEN: ADMIN_TOKEN, BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_LOG_LEVEL: 'silent' } }));
    try {
      await assert.rejects(gw.start(), (error: Error) => error.name === 'DeclarationError' && /^invalid configuration: \S+botgate\.yaml: bots\.1 \(.*demo\/bot\.yaml\): .*declares bot demo, as bots\.0 \(.*copy\.yaml\) does/.test(error.message));
      const bot = await gw.store.bots.get('demo');
      assert.deepEqual([bot?.name, bot?.version], ['another demo', 1]);
    } finally {
      await gw.close();
    }
  });

  it('refuses a declared endpoint out of the API\'s bounds, naming it', async () => {
    const file = configFile('endpoints:\n  - name: neg\n    url: https://erp.example.com/hooks\n    timeout_seconds: -5\n');
    const gw = await createGateway(loadConfig({ file, env: { BOTGATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'botgate-cac-data-')), BOTGATE_ADMIN_TOKEN: ADMIN_TOKEN, BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_LOG_LEVEL: 'silent' } }));
    try {
      await assert.rejects(gw.start(), (error: Error) => error.message === `invalid configuration: ${file}: endpoints.0 (neg): timeout_seconds must be a number from 1 to 300`);
    } finally {
      await gw.close();
    }
  });

  it('takes a secret from its variable without the whitespace around it (a secret file\'s newline)', () => {
    const config = loadConfig({ file: configFile(declared), env: { KORE_SECRET: 'kore-client-secret-1234\n', ERP_TOKEN: ' erp-token\r\n', KORE_ACCESS: 'kore-access\n' } });
    assert.equal(config.apps[0].client_secret, 'kore-client-secret-1234');
    assert.deepEqual(config.endpoints[0].auth, { kind: 'bearer', token: 'erp-token' });
    assert.equal(config.channels[0].access_token, 'kore-access');
  });

  it('stops start-up naming the variable a secret should come from', () => {
    const file = configFile(declared);
    assert.throws(() => loadConfig({ file, env: { ERP_TOKEN: 'x', KORE_ACCESS: 'y' } }), (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message, `invalid configuration: ${file}: apps.0.client_secret_env: the environment variable KORE_SECRET is not set`);
      return true;
    });
  });

  it('names every missing variable at once, each with its key, so one restart fixes them all', () => {
    // Only the first was named: a file of three secrets took three restarts to learn which variables were missing.
    const file = configFile(declared);
    assert.throws(() => loadConfig({ file, env: { ERP_TOKEN: '  ' } }), (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message, [
        'invalid configuration:',
        `  ${file}: apps.0.client_secret_env: the environment variable KORE_SECRET is not set`,
        `  ${file}: endpoints.0.auth.token_env: the environment variable ERP_TOKEN is not set`,
        `  ${file}: channels.0.access_token_env: the environment variable KORE_ACCESS is not set`,
      ].join('\n'));
      return true;
    });
    // With a bad value elsewhere in the file: that one in the same message.
    assert.throws(() => loadConfig({ file: configFile(`${declared}port: eighty\n`), env: {} }), (e: Error) => e instanceof ConfigError && e.message.split('\n').length === 5 && /port: expected a number, got "eighty"/.test(e.message));
  });

  it('refuses a secret given both in the file and by a variable, naming the declaration and both keys', () => {
    // The variable's value won in silence: the file's secret, which its reader takes for the one in use, was not.
    const env = { KORE_SECRET: 'kore-secret-0123456789', ERP_TOKEN: 'erp-token', KORE_ACCESS: 'kore-access', ERP_WHSEC: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' };
    const file = configFile(declared
      .replace('    client_secret_env: KORE_SECRET\n', '    client_secret_env: KORE_SECRET\n    client_secret: file-secret-0123456789\n')
      .replace('{ kind: bearer, token_env: ERP_TOKEN }', '{ kind: bearer, token: file-token, token_env: ERP_TOKEN }\n    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n    secret_env: ERP_WHSEC')
      .replace('    access_token_env: KORE_ACCESS\n', '    access_token: file-access\n    access_token_env: KORE_ACCESS\n'));
    assert.throws(() => loadConfig({ file, env }), (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message, [
        'invalid configuration:',
        `  ${file}: apps.0: give one of client_secret and client_secret_env`,
        `  ${file}: endpoints.0: give one of secret and secret_env`,
        `  ${file}: endpoints.0.auth: give one of token and token_env`,
        `  ${file}: channels.0: give one of access_token and access_token_env`,
      ].join('\n'));
      return true;
    });
    // Refused whether or not the variable is set: the file is ambiguous either way.
    assert.throws(() => loadConfig({ file, env: {} }), (e: Error) => e instanceof ConfigError && !/is not set/.test(e.message) && e.message.split('\n').length === 5);
  });

  it('blames a refused secret on the key that names its variable, without quoting it', () => {
    // It named apps.0.client_secret, a key the file does not have, with zod's "Too small: expected string to have >=16 characters".
    const file = configFile(declared);
    assert.throws(() => loadConfig({ file, env: { KORE_SECRET: 'Short-Secret', ERP_TOKEN: 'x', KORE_ACCESS: 'y' } }), (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message, `invalid configuration: ${file}: apps.0.client_secret_env (the value of KORE_SECRET): must be at least 16 characters`);
      return true;
    });
  });

  it('starts from the full example of docs/configuration.md as written (its bot file is the bundled demo bot)', async () => {
    const docs = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
    const example = /```yaml\n(# botgate\.yaml — run with[\s\S]*?)```/.exec(docs)?.[1];
    assert.ok(example, 'the example is in the docs');
    // The example sits in the repository's folder: its bot file path is relative to it.
    const folder = mkdtempSync(join(tmpdir(), 'botgate-example-'));
    symlinkSync(join(dirname(DEMO_BOT_FILE), '..'), join(folder, 'bots'));
    const file = join(folder, 'botgate.yaml');
    writeFileSync(file, example);
    const env = {
      BOTGATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'botgate-example-data-')), BOTGATE_ADMIN_TOKEN: ADMIN_TOKEN, BOTGATE_MASTER_KEY: MASTER_KEY, BOTGATE_LOG_LEVEL: 'silent',
      KORE_CLIENT_SECRET: 'kore-secret-0123456789', ERP_TOKEN: 'erp-token-0123456789', ORDERS_WHSEC: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', KORE_ACCESS_TOKEN: 'kore-access-0123456789',
    };
    const gw = await createGateway(loadConfig({ file, env }));
    try {
      await gw.start();
      const channel = (await gw.store.channels.forBot('demo')).find((c) => c.name === 'kore-pizza');
      assert.equal(channel?.mode, 'async');
      assert.equal((await gw.store.apps.byName('kore-prod'))?.id, channel?.appId);
      assert.ok((await gw.store.endpoints.list({}, { limit: 100 })).some((e) => e.name === 'orders'));
    } finally {
      await gw.close();
    }
  });
});
