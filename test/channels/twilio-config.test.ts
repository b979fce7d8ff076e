// Twilio configs: an account_sid or public_url Twilio could never use is refused; behind a proxy the gateway's
// public_url is the URL Twilio signs; the route's OpenAPI entry; and how a long text is cut into messages.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import twilio from 'twilio';
import { DEMO_BOT_FILE } from '../../src/provision.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { TWILIO_MAX_BODY, twilioBodies } from '../../src/channels/twilio-adapter.ts';
import { SID, TOKEN, smsParams, twiml, type Json } from './twilio-helpers.ts';

describe('twilio message parts', () => {
  it('cuts a long text into parts Twilio takes: at a line break, else a space, else anywhere but inside a surrogate pair', () => {
    assert.deepEqual(twilioBodies('short'), ['short']);
    assert.deepEqual(twilioBodies(''), ['']);
    assert.deepEqual(twilioBodies('x'.repeat(TWILIO_MAX_BODY)), ['x'.repeat(TWILIO_MAX_BODY)]);
    assert.deepEqual(twilioBodies('aaaa bbbb\ncc dd', 10), ['aaaa bbbb', 'cc dd']);
    assert.deepEqual(twilioBodies('aaaaaa bb cc', 10), ['aaaaaa bb', 'cc']);
    assert.deepEqual(twilioBodies('abcdefghijklmn', 10), ['abcdefghij', 'klmn']);
    const emoji = `${'a'.repeat(9)}😀b`;
    assert.deepEqual(twilioBodies(emoji, 10), ['a'.repeat(9), '😀b']);
  });
});

describe('twilio channel behind a proxy with the gateway\'s public_url', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({ BOTGATE_PUBLIC_URL: 'https://gw.example.com/botgate' }, { start: false });
    await gw.bots.load(DEMO_BOT_FILE);
    await gw.start();
  });
  after(async () => {
    await gw.close();
  });

  it('signs over public_url + the path: the incoming_url the admin API shows', async () => {
    const created = await gw.api('POST', '/api/webhook/config', { name: 'sms', provider: 'twilio', twilio: { account_sid: SID, auth_token: TOKEN } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const url = created.body.incoming_url;
    assert.equal(url, `https://gw.example.com/botgate/api/webhook/twilio/${created.body.id}`);
    // Twilio signs its requests: no inbound token is made (one would be accepted by no route), nor issued later.
    assert.equal(created.body.inbound_token, null);
    const rotated = await gw.api('POST', `/api/webhook/config/${created.body.id}/token/rotate`);
    assert.equal(rotated.status, 400, JSON.stringify(rotated.body));
    assert.match(rotated.body.message, /Twilio signs its requests/);
    const post = (params: Record<string, string>, signUrl: string) => gw.app.inject({
      method: 'POST', url: `/api/webhook/twilio/${created.body.id}`, payload: new URLSearchParams(params).toString(),
      headers: { host: 'internal:3000', 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(TOKEN, signUrl, params) },
    });
    const params = smsParams('+15550100300', 'what is my balance');
    assert.equal((await post(params, `http://internal:3000/api/webhook/twilio/${created.body.id}`)).statusCode, 401);
    const res = await post(params, url);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.body, twiml('Your balance is not available right now.'));
  });

  it('refuses an account_sid that is no Twilio account SID and a public_url that is not http(s), on create and change, through the API and the service', async () => {
    const before = (await gw.api('GET', '/api/webhook/config')).body.data.length;
    for (const twilioSettings of [
      { account_sid: 'ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' },
      { account_sid: 'x' },
      { account_sid: `${SID}0` },
      { account_sid: 'AC:0123456789abcdef0123456789abcde' },
      { account_sid: SID, public_url: 'ftp://sms.example.com/inbound' },
      { account_sid: SID, public_url: 'javascript:alert(1)' },
      { account_sid: SID, public_url: 'mailto:ops@example.com' },
    ]) {
      const refused = await gw.api('POST', '/api/webhook/config', { name: 'twilio-bad', provider: 'twilio', bot: 'demo', twilio: { auth_token: TOKEN, ...twilioSettings } });
      assert.equal(refused.status, 400, JSON.stringify([twilioSettings, refused.body]));
      assert.equal(refused.body.code, 'BG_ERR_VALIDATION');
      assert.match(refused.body.message, /account_sid|public_url/);
      await assert.rejects(
        gw.platforms.create({ name: 'twilio-bad', provider: 'twilio', bot: 'demo', twilio: { auth_token: TOKEN, ...twilioSettings } }),
        (error: Json) => error.code === 'BG_ERR_VALIDATION' && /twilio\.(account_sid|public_url)/.test(error.message),
      );
    }
    assert.equal((await gw.api('GET', '/api/webhook/config')).body.data.length, before, 'nothing was created');

    const config = (await gw.api('POST', '/api/webhook/config', { name: 'twilio-sms', provider: 'twilio', bot: 'demo', twilio: { account_sid: SID, auth_token: TOKEN } })).body;
    for (const change of [{ account_sid: 'AC123' }, { public_url: 'ftp://sms.example.com/inbound' }]) {
      const refused = await gw.api('PUT', `/api/webhook/config/${config.id}`, { twilio: change });
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      await assert.rejects(gw.platforms.update(config.id, { twilio: change as never }), (error: Json) => error.code === 'BG_ERR_VALIDATION');
    }
    const unchanged = await gw.api('GET', `/api/webhook/config/${config.id}`);
    assert.deepEqual(unchanged.body.twilio, { account_sid: SID, public_url: null, reply_mode: 'twiml' });
    const upper = await gw.api('PUT', `/api/webhook/config/${config.id}`, { twilio: { account_sid: SID.toUpperCase() } });
    assert.equal(upper.status, 200, JSON.stringify(upper.body));
    assert.equal((await gw.api('PUT', `/api/webhook/config/${config.id}`, { twilio: { account_sid: SID } })).status, 200);
  });

  it('refuses, on create as on change, what a Twilio config cannot use: an outgoing URL, a bearer auth_token, a signature scheme, field paths', async () => {
    const before = (await gw.api('GET', '/api/webhook/config')).body.data.length;
    const twilioSettings = { account_sid: SID, auth_token: TOKEN };
    for (const extra of [
      { outgoing_webhook_url: 'https://example.com/hook' },
      { auth_token: 'bearer-for-nobody' },
      { signature: { preset: 'intercom', secret: 'intercom-signing-secret' } },
      { fields: { message: 'text' } },
    ]) {
      const refused = await gw.api('POST', '/api/webhook/config', { name: 'twilio-extra', provider: 'twilio', twilio: twilioSettings, ...extra });
      assert.equal(refused.status, 400, JSON.stringify([extra, refused.body]));
      assert.equal(refused.body.code, 'BG_ERR_VALIDATION');
    }
    assert.equal((await gw.api('GET', '/api/webhook/config')).body.data.length, before, 'nothing was created');
    const config = (await gw.api('POST', '/api/webhook/config', { name: 'twilio-plain', provider: 'twilio', twilio: twilioSettings })).body;
    for (const extra of [{ signature: { preset: 'intercom', secret: 'intercom-signing-secret' } }, { fields: { message: 'text' } }]) {
      const refused = await gw.api('PUT', `/api/webhook/config/${config.id}`, extra);
      assert.equal(refused.status, 400, JSON.stringify([extra, refused.body]));
    }
    const shown = (await gw.api('GET', `/api/webhook/config/${config.id}`)).body;
    assert.deepEqual([shown.signature, shown.fields, shown.signed_url], [null, null, null], 'no signed_url that answers 404');
    assert.equal((await gw.api('PUT', `/api/webhook/config/${config.id}`, { signature: null, fields: null })).status, 200, 'clearing them is fine');
  });

  it('documents the route in the OpenAPI document as TwiML', async () => {
    const doc = JSON.parse((await gw.app.inject({ url: '/openapi.json' })).body);
    const route = doc.paths['/api/webhook/twilio/{id}']?.post;
    assert.ok(route, 'documented');
    assert.ok(route.requestBody.content['application/x-www-form-urlencoded']);
    assert.equal(route.responses['200'].content['text/xml'].schema.type, 'string');
    assert.ok(route.responses['401'].content['text/xml']);
  });
});
