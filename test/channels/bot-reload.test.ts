// Reloading a bot without a restart: new turns use the new version; a conversation waiting at a state the new
// version removed is told and starts afresh; a file with problems is refused with every problem listed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestGateway } from '../helpers/gateway.ts';
import { startBackendGateway, testBackends } from '../helpers/backends.ts';
import { SignJWT } from 'jose';

const v1 = `
id: shop
name: Shop
settings: { restart_notice: ["The shop changed, let's start again."] }
intents:
  buy: [I want to buy something, buy]
flows:
  buy:
    message: [What would you like?]
    next_state: item
  item:
    message: ["One {{memory.item}} coming up."]
    next_state: end
`;
const v2 = `
id: shop
name: Shop
settings: { restart_notice: ["The shop changed, let's start again."] }
intents:
  buy: [I want to buy something, buy]
flows:
  buy:
    message: [What would you like to buy today?]
    next_state: product
  product:
    message: ["One {{memory.product}} coming up."]
    next_state: end
`;

const backends = await testBackends();

describe('bot reload', () => {
  it('serves the new version at once and restarts conversations whose state is gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'botgate-bot-'));
    const file = join(dir, 'shop.yaml');
    writeFileSync(file, v1);
    const gw = await startTestGateway();
    try {
      const loaded = await gw.api('POST', '/api/bots', { file });
      assert.equal(loaded.status, 201, JSON.stringify(loaded.body));
      assert.equal(loaded.body.version, 1);
      // Loading the same file again keeps its version (as a reload and a start do): 200, nothing new.
      const same = await gw.api('POST', '/api/bots', { file });
      assert.deepEqual([same.status, same.body.version], [200, 1]);
      const app = (await gw.api('POST', '/api/apps', { name: 'shop-app' })).body;
      await gw.api('POST', '/api/bots/shop/channels', { mode: 'sync', app_id: app.client_id });
      const token = await new SignJWT({ appId: app.client_id, sub: 'u' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(app.client_secret));
      const say = async (text: string, from: string) => {
        const res = await gw.app.inject({ method: 'POST', url: '/chatbot/hooks/shop', headers: { authorization: `bearer ${token}` }, payload: { message: { text }, from: { id: from } } });
        return JSON.parse(res.body);
      };
      assert.equal((await say('buy', 'waiting-user')).text, 'What would you like?');

      writeFileSync(file, v2);
      const reloaded = await gw.api('POST', '/api/bots/shop/reload');
      assert.equal(reloaded.status, 200);
      assert.equal(reloaded.body.version, 2);
      assert.equal((await say('buy', 'new-user')).text, 'What would you like to buy today?', 'new conversations get the new version');
      const restarted = await say('a lamp', 'waiting-user');
      assert.equal(restarted.text[0], "The shop changed, let's start again.");

      writeFileSync(file, v2.replace('next_state: product', 'next_state: prodcut').replace('  buy: [I want', '  buy: [I want') + '\n  orphan:\n    message: [x]\n    next_state: end\n');
      const refused = await gw.api('POST', '/api/bots/shop/reload');
      assert.equal(refused.status, 400);
      assert.equal(refused.body.code, 'BG_ERR_BOT_INVALID');
      assert.match(refused.body.message, /flows\.buy\.next_state: unknown state "prodcut"/);
      assert.match(refused.body.message, /flows\.orphan/);
      assert.equal((await gw.api('GET', '/api/bots/shop')).body.version, 2, 'the invalid file left the served version alone');

      // A file that now declares another bot is not that other bot's reload of shop.
      writeFileSync(file, v2.replace(/^id: shop$/m, 'id: other'));
      const other = await gw.api('POST', '/api/bots/shop/reload');
      assert.deepEqual([other.status, other.body.code], [400, 'BG_ERR_BOT_INVALID']);
      assert.match(other.body.message, /now declares bot other, not shop/);
      assert.equal((await gw.api('GET', '/api/bots/other')).status, 404, 'no bot made');
    } finally {
      await gw.close();
    }
  });

  it('refuses a bot whose webhook names no endpoint (its events could never be sent); an endpoint a bot names stays', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'botgate-bot-'));
    const file = join(dir, 'shop.yaml');
    writeFileSync(file, `${v1}webhooks:
  - { event: shop.bought, states: [item], endpoint: shop-orders }
`);
    const gw = await startTestGateway();
    try {
      const refused = await gw.api('POST', '/api/bots', { file });
      assert.deepEqual([refused.status, refused.body.code], [400, 'BG_ERR_BOT_INVALID']);
      assert.match(refused.body.message, /webhooks\[0\]\.endpoint: no endpoint named "shop-orders"/);
      assert.equal((await gw.api('GET', '/api/bots/shop')).status, 404, 'nothing loaded');
      const endpoint = await gw.api('POST', '/api/endpoints', { name: 'shop-orders', url: 'https://shop.example/hooks', is_active: false });
      assert.equal((await gw.api('POST', '/api/bots', { file })).status, 201, 'a disabled endpoint exists: its deliveries wait');
      const deleted = await gw.api('DELETE', `/api/endpoints/${endpoint.body.id}`);
      assert.deepEqual([deleted.status, deleted.body.code], [409, 'BG_ERR_CONFLICT']);
      assert.match(deleted.body.message, /bot shop/);
      // Renamed, the webhook would name nothing: refused too.
      const renamed = await gw.api('PATCH', `/api/endpoints/${endpoint.body.id}`, { name: 'shop-orders-v2' });
      assert.deepEqual([renamed.status, renamed.body.code], [409, 'BG_ERR_CONFLICT']);
      // Another endpoint of that name takes over: the first may go.
      assert.equal((await gw.api('POST', '/api/endpoints', { name: 'shop-orders', url: 'https://shop.example/hooks2' })).status, 201);
      assert.equal((await gw.api('PATCH', `/api/endpoints/${endpoint.body.id}`, { name: 'old-shop-orders' })).status, 200);
      assert.equal((await gw.api('DELETE', `/api/endpoints/${endpoint.body.id}`)).status, 204);
    } finally {
      await gw.close();
    }
  });

  for (const backend of backends) {
    it(`refuses a bot file holding a NUL with 400 BG_ERR_BOT_INVALID on ${backend.name} (PostgreSQL answered 500)`, { skip: backend.skip }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'botgate-bot-'));
      const file = join(dir, 'shop.yaml');
      writeFileSync(file, v1.replace('name: Shop', 'name: "Sh\\0op"'));
      const { gw, drop } = await startBackendGateway(backend);
      try {
        const res = await gw.api('POST', '/api/bots', { file });
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.equal(res.body.code, 'BG_ERR_BOT_INVALID');
        assert.match(res.body.message, /name: may not contain the NUL character/);
        assert.equal((await gw.api('GET', '/api/bots/shop')).status, 404);
      } finally {
        await gw.close();
        await drop();
      }
    });
  }
});
