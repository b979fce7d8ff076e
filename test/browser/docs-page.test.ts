// The API docs page (/docs) in a real browser: Swagger UI loads from the gateway itself (no CDN), renders
// every tag of the OpenAPI document, and an operation opens with its schema.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { browserAvailability, launchBrowser } from '../helpers/browser.ts';

const browser = browserAvailability();

describe('the API docs page in a browser', { skip: 'skip' in browser ? browser.skip : false }, () => {
  let gw: TestGateway;
  let base: string;
  let chrome: Browser;
  before(async () => {
    gw = await startTestGateway({ BOTGATE_PORT: '0' }, { start: false });
    base = await gw.listen();
    chrome = await launchBrowser();
  });
  after(async () => {
    await chrome?.close();
    await gw.close();
  });

  it('renders the operations of every surface and opens one', async () => {
    const page = await chrome.newPage();
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(r.url()));
    page.on('pageerror', (e) => failed.push(String(e)));
    const outside: string[] = [];
    page.on('request', (r) => (r.url().startsWith(base) || r.url().startsWith('data:') ? null : outside.push(r.url())));
    await page.goto(`${base}/docs`, { waitUntil: 'networkidle' });
    await page.waitForSelector('.opblock', { timeout: 15_000 });
    const text = await page.textContent('body');
    for (const path of ['/api/webhook/incoming', '/api/webhook/config', '/api/agent/sessions/{id}/claim', '/chatbot/hooks/{botId}', '/api/endpoints']) {
      assert.ok(text?.includes(path), `${path} is listed`);
    }
    for (const tag of ['platform webhook', 'platform configs', 'agent', 'agents', 'kore.ai channel']) {
      assert.ok(await page.locator(`.opblock-tag[data-tag="${tag}"]`).count(), `tag ${tag}`);
    }
    // Open one operation: its request body schema shows.
    const incoming = page.locator('.opblock-summary', { hasText: '/api/webhook/incoming' }).first();
    await incoming.click();
    await page.waitForSelector('.opblock.is-open .opblock-section-request-body, .opblock.is-open .body-param', { timeout: 10_000 });
    const opened = await page.locator('.opblock.is-open').first().textContent();
    assert.match(opened ?? '', /user_id/);
    assert.deepEqual(failed, [], 'nothing failed to load');
    assert.deepEqual(outside, [], 'everything comes from the gateway');
  });
});
