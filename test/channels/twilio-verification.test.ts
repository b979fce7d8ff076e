// What the Twilio webhook refuses, and how it verifies: tampered, wrongly signed and unsigned requests (401, an empty
// <Response/>, nothing stored), another account (403), JSON bodies signed with bodySHA256, inactive, unknown,
// rate-limited and too large requests, and a config's public_url behind a proxy.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import twilio from 'twilio';
import { startReceiver } from '../helpers/receiver.ts';
import { EMPTY, HOST, SID, TOKEN, smsParams, twiml, startTwilio, type Json, type TwilioRig } from './twilio-helpers.ts';

describe('twilio channel: verification and refusals', () => {
  let rig: TwilioRig;
  const configs: Record<string, Json> = {};
  const send = (...args: Parameters<TwilioRig['send']>) => rig.send(...args);
  const storedFor = (from: string) => rig.storedFor(from);
  const createConfig = (name: string, body: Record<string, unknown>) => rig.createConfig(name, body);
  before(async () => {
    rig = await startTwilio(configs);
  });
  after(() => rig.close());

  it('refuses tampered, wrongly signed and unsigned requests with 401 and an empty <Response/>, storing nothing', async () => {
    const config = configs['twilio-sms'];
    const from = '+15550100005';
    const params = smsParams(from, 'what is my balance');
    const path = `/api/webhook/twilio/${config.id}`;
    const cases = {
      'changed Body': await send(config, { ...params, Body: 'what is my balance!' }, { signed: params }),
      'added parameter': await send(config, { ...params, Extra: '1' }, { signed: params }),
      'wrong token': await send(config, params, { token: 'another-auth-token-0123456789' }),
      'wrong URL': await send(config, params, { signUrl: `http://${HOST}/api/webhook/twilio/ch_other` }),
      'other host': await send(config, params, { signUrl: `http://elsewhere.test${path}` }),
      'missing header': await send(config, params, { signature: null }),
      'garbage header': await send(config, params, { signature: 'not-a-signature' }),
    };
    for (const [name, res] of Object.entries(cases)) {
      assert.equal(res.status, 401, name);
      assert.equal(res.body, EMPTY, name);
      assert.match(String(res.headers['content-type']), /^text\/xml/, name);
    }
    assert.deepEqual(await storedFor(from), []);
    assert.equal((await send(config, params)).status, 200, 'the same request signed properly is accepted');
  });

  it('refuses a request for another Twilio account than the config\'s with 403, even signed right, storing nothing', async () => {
    const config = configs['twilio-sms'];
    const from = '+15550100012';
    const other = 'AC' + 'f'.repeat(32);
    const res = await send(config, smsParams(from, 'what is my balance', { AccountSid: other }));
    assert.deepEqual([res.status, res.body], [403, EMPTY]);
    // The same as a JSON body (bodySHA256 in the signed URL).
    const path = `/api/webhook/twilio/${config.id}`;
    const raw = JSON.stringify(smsParams(from, 'what is my balance', { AccountSid: other }));
    const jsonPath = `${path}?bodySHA256=${createHash('sha256').update(raw).digest('hex')}`;
    const json = await rig.gw.app.inject({
      method: 'POST', url: jsonPath, payload: raw,
      headers: { host: HOST, 'content-type': 'application/json', 'x-twilio-signature': twilio.getExpectedTwilioSignature(TOKEN, `http://${HOST}${jsonPath}`, {}) },
    });
    assert.deepEqual([json.statusCode, json.body], [403, EMPTY]);
    assert.deepEqual(await storedFor(from), []);
    // The config's own account, its hex digits in either case, is taken; so is a request that names no account.
    assert.equal((await send(config, smsParams(from, 'what is my balance', { AccountSid: `AC${SID.slice(2).toUpperCase()}` }))).status, 200);
    const { AccountSid: _a, ...unnamed } = smsParams(from, 'order a pizza');
    assert.equal((await send(config, unnamed)).status, 200);
  });

  it('refuses an unsigned request with 401 whatever its body holds; the body\'s problems are told only to a signed one', async () => {
    const config = configs['twilio-sms'];
    const path = `/api/webhook/twilio/${config.id}`;
    const post = (payload: string, type: string, signature = 'not-a-signature', url = path) =>
      rig.gw.app.inject({ method: 'POST', url, payload, headers: { host: HOST, 'content-type': type, 'x-twilio-signature': signature } });
    const form = 'application/x-www-form-urlencoded';
    const bodies: [string, string][] = [
      ['From=%2B15550100007&Body=a%00b', form], // a NUL
      ['From=%2B15550100007&From=%2B15550100008&Body=hi', form], // a parameter twice (the schema wants one)
      ['{"From": "+15550100007", "Body": ', 'application/json'], // not JSON
      ['[1, 2]', 'application/json'], // not an object
    ];
    for (const [payload, type] of bodies) {
      const res = await post(payload, type);
      assert.deepEqual([res.statusCode, res.body], [401, EMPTY], payload);
      // An unknown config comes first: 404, whatever the body.
      assert.equal((await post(payload, type, 'x', '/api/webhook/twilio/ch_nope')).statusCode, 404, payload);
    }
    // Signed, the same bodies are told as the 400s they are.
    const nul = { From: '+15550100007', Body: 'a\u0000b' };
    assert.equal((await post(new URLSearchParams(nul).toString(), form, twilio.getExpectedTwilioSignature(TOKEN, `http://${HOST}${path}`, nul))).statusCode, 400);
    const twice = 'From=%2B15550100007&From=%2B15550100008&Body=hi';
    const twiceSigned = twilio.getExpectedTwilioSignature(TOKEN, `http://${HOST}${path}`, { From: ['+15550100007', '+15550100008'] as unknown as string, Body: 'hi' });
    assert.equal((await post(twice, form, twiceSigned)).statusCode, 400);
    const raw = '{"From": "+15550100007", "Body": ';
    const jsonPath = `${path}?bodySHA256=${createHash('sha256').update(raw).digest('hex')}`;
    const badJson = await post(raw, 'application/json', twilio.getExpectedTwilioSignature(TOKEN, `http://${HOST}${jsonPath}`, {}), jsonPath);
    assert.deepEqual([badJson.statusCode, badJson.body], [400, EMPTY]);
    assert.deepEqual(await storedFor('+15550100007'), []);
  });

  it('accepts a JSON body signed with bodySHA256 in the URL, and refuses it when the body changed', async () => {
    const config = configs['twilio-sms'];
    const from = '+15550100006';
    const raw = JSON.stringify(smsParams(from, 'what is my balance'));
    const path = `/api/webhook/twilio/${config.id}?bodySHA256=${createHash('sha256').update(raw).digest('hex')}`;
    const url = `http://${HOST}${path}`;
    const signature = twilio.getExpectedTwilioSignature(TOKEN, url, {});
    assert.equal(twilio.validateRequestWithBody(TOKEN, signature, url, raw), true);
    const post = (payload: string) => rig.gw.app.inject({ method: 'POST', url: path, payload, headers: { host: HOST, 'content-type': 'application/json', 'x-twilio-signature': signature } });
    const tampered = await post(raw.replace('balance', 'balances'));
    assert.equal(tampered.statusCode, 401);
    assert.equal(tampered.body, EMPTY);
    const res = await post(raw);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.body, twiml('Your balance is not available right now.'));
  });

  it('refuses an inactive config (403), an unknown or non-Twilio id (404), another content type (415), a status callback (400), a long message (413)', async () => {
    const inactive = await createConfig('twilio-off', { is_active: false });
    const off = await send(inactive, smsParams('+15550100009', 'hello'));
    assert.equal(off.status, 403);
    assert.equal(off.body, EMPTY);
    assert.match(String(off.headers['content-type']), /^text\/xml/);

    const unknown = await send({ id: 'ch_nope' }, smsParams('+15550100009', 'hello'));
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body, EMPTY);
    const receiver = await startReceiver();
    try {
      const generic = await rig.gw.api('POST', '/api/webhook/config', { name: 'freshchat', outgoing_webhook_url: receiver.url, bot: 'demo' });
      assert.equal(generic.status, 201, JSON.stringify(generic.body));
      assert.equal((await send(generic.body, smsParams('+15550100009', 'hello'))).status, 404);
    } finally {
      await receiver.close();
    }
    const route = await rig.gw.app.inject({ method: 'GET', url: `/api/webhook/twilio/${configs['twilio-sms'].id}` });
    assert.equal(route.statusCode, 405);
    assert.equal(route.headers.allow, 'POST');
    assert.equal(route.body, EMPTY);

    const text = await rig.gw.app.inject({ method: 'POST', url: `/api/webhook/twilio/${configs['twilio-sms'].id}`, payload: 'From=%2B1&Body=hi', headers: { host: HOST, 'content-type': 'text/plain' } });
    assert.equal(text.statusCode, 415);
    assert.equal(text.body, EMPTY);

    const { Body: _b, ...status } = smsParams('+15550100009', '', { MessageStatus: 'delivered' });
    const callback = await send(configs['twilio-sms'], status);
    assert.equal(callback.status, 400);
    assert.equal(callback.body, EMPTY);

    // A sender of only whitespace is no one: 400, no conversation for a blank user.
    const blankFrom = await send(configs['twilio-sms'], smsParams('   ', 'hello'));
    assert.equal(blankFrom.status, 400);
    assert.equal(blankFrom.body, EMPTY);
    assert.deepEqual(await storedFor('   '), []);

    const long = await send(configs['twilio-sms'], smsParams('+15550100009', 'x'.repeat(11 * 1024)));
    assert.equal(long.status, 413);
    assert.equal(long.body, EMPTY);
    assert.deepEqual(await storedFor('+15550100009'), []);
  });

  it('rate limits per config: 429 with Retry-After past rate_limit_per_minute', async () => {
    const config = await createConfig('twilio-limited', { rate_limit_per_minute: 2 });
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 57_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 50)); // one window for all three
    const statuses = [];
    let last;
    for (let i = 0; i < 3; i++) {
      last = await send(config, smsParams(`+1555010010${i}`, 'hello'));
      statuses.push(last.status);
    }
    assert.deepEqual(statuses, [200, 200, 429]);
    assert.equal(last!.body, EMPTY);
    const retryAfter = Number(last!.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, String(last!.headers['retry-after']));
  });

  it('behind a proxy verifies against the config\'s public_url, not the URL the gateway sees', async () => {
    const publicUrl = 'https://bots.example.com/sms/inbound';
    const config = await createConfig('twilio-proxied', { twilio: { public_url: publicUrl } });
    assert.equal(config.twilio.public_url, publicUrl);
    const params = smsParams('+15550100200', 'what is my balance');
    const asSeen = await send(config, params);
    assert.equal(asSeen.status, 401, 'signed over the internal URL');
    const res = await send(config, params, { signUrl: publicUrl });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.body, twiml('Your balance is not available right now.'));
    // Twilio may sign the URL with the scheme's default port.
    const withPort = await send(config, smsParams('+15550100201', 'what is my balance'), { signUrl: 'https://bots.example.com:443/sms/inbound' });
    assert.equal(withPort.status, 200);
  });
});
