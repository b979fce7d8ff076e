// Inbound webhook signatures: Twilio's agree with the official `twilio` package both ways; the HMAC presets
// (Zendesk, Intercom, Chatwoot) accept what the platforms sign and refuse everything else; Standard Webhooks
// from botgate's own signer and from the `standardwebhooks` package verify, rotation included.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import twilio from 'twilio';
import { Webhook } from 'standardwebhooks';
import {
  SIGNATURE_PRESETS, twilioSignature, verifySigned, verifyStandardWebhook, verifyTwilio, verifyTwilioBody,
  type Headers, type SignatureScheme, type TwilioParams,
} from '../../src/channels/inbound-signature.ts';
import { generateSigningSecret, signatureHeader, signingKey } from '../../src/delivery/signer.ts';

const TOKEN = '12345abcdef67890fedcba0987654321';

const URLS = [
  'https://example.com/twilio/sms',
  'https://example.com/twilio/sms?bot=demo&channel=whatsapp',
  'https://bots.example.com:8443/api/twilio/inbound?bot=demo',
  'https://example.com:443/twilio/sms',
  'http://localhost:3000/api/twilio/inbound',
  'https://user:pass@example.com/twilio/voice?x=1',
  'https://example.com/path/caf%C3%A9?q=a%20b&empty=',
];

const SMS: TwilioParams = {
  ToCountry: 'US', ToState: 'CA', SmsMessageSid: 'SM1f0e8ae6ade43cb3c0ce4525424e404f', NumMedia: '0',
  ToCity: 'SAN FRANCISCO', FromZip: '94105', SmsSid: 'SM1f0e8ae6ade43cb3c0ce4525424e404f', FromState: 'CA',
  SmsStatus: 'received', FromCity: 'SAN FRANCISCO', Body: 'Hi, where is my order #1234?', FromCountry: 'US',
  To: '+14155550100', ToZip: '94105', NumSegments: '1', MessageSid: 'SM1f0e8ae6ade43cb3c0ce4525424e404f',
  AccountSid: 'AC0123456789abcdef0123456789abcdef', From: '+14155550123', ApiVersion: '2010-04-01',
};
const WHATSAPP: TwilioParams = {
  SmsMessageSid: 'SM9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d', NumMedia: '1', ProfileName: 'Zoë', MessageType: 'image',
  SmsSid: 'SM9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d', WaId: '14155550123', SmsStatus: 'received', Body: '',
  To: 'whatsapp:+14155238886', NumSegments: '1', ReferralNumMedia: '0', MessageSid: 'SM9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d',
  AccountSid: 'AC0123456789abcdef0123456789abcdef', From: 'whatsapp:+14155550123', ApiVersion: '2010-04-01',
  MediaContentType0: 'image/jpeg', MediaUrl0: 'https://api.twilio.com/2010-04-01/Accounts/AC…/Media/ME123',
};
const MANY: TwilioParams = Object.fromEntries(
  Array.from({ length: 120 }, (_, i) => [`Param${String(i).padStart(3, '0')}${i % 2 ? 'b' : 'A'}`, `value ${i} & = ? %`]),
);
const PARAM_SETS: Record<string, TwilioParams> = {
  none: {},
  sms: SMS,
  whatsapp: WHATSAPP,
  unicode: { Body: 'Привет 👋 café — 你好', From: '+33612345678', 'Ключ': 'значение', émoji: '🎉' },
  'empty values': { Body: '', MediaUrl0: '', From: '+14155550123', '': 'nameless' },
  many: MANY,
  'case-sensitive names': { body: 'b', Body: 'B', BODY: 'x', _a: '1', a_: '2', Z: 'z', a: 'a' },
  'repeated params': { To: ['+2', '+1', '+1', '+10'], Body: 'hi', Tag: ['b', 'a', 'B'] },
};

describe('twilioSignature / verifyTwilio agree with the twilio package', () => {
  for (const url of URLS) {
    for (const [name, params] of Object.entries(PARAM_SETS)) {
      it(`${name} at ${url}`, () => {
        const ours = twilioSignature(TOKEN, url, params);
        assert.equal(ours, twilio.getExpectedTwilioSignature(TOKEN, url, params));
        assert.equal(twilio.validateRequest(TOKEN, ours, url, params), true);
        assert.equal(verifyTwilio(TOKEN, url, params, ours), true);
      });
    }
  }

  it('repeated parameters count once per distinct value, sorted (the package dedupes with a Set)', () => {
    const url = URLS[0];
    const expected = createHmac('sha1', TOKEN).update(url + 'To+1To+10To+2').digest('base64');
    assert.equal(twilioSignature(TOKEN, url, { To: ['+2', '+1', '+10', '+1'] }), expected);
  });

  it('accepts a URL signed with or without its port, exactly when the package does', () => {
    const variants = [
      'https://example.com/twilio/sms?x=1', 'https://example.com:443/twilio/sms?x=1',
      'https://example.com:8443/twilio/sms?x=1', 'http://example.com/twilio/sms', 'http://example.com:80/twilio/sms',
      'http://example.com:443/twilio/sms', "https://example.com/twilio/sms?name=O'Brien", 'https://example.com/twilio/sms?name=O%27Brien',
      'https://Example.COM/twilio/sms?x=1', 'https://[::1]:8443/twilio/sms', 'https://[::1]/twilio/sms',
    ];
    let accepted = 0;
    for (const signedUrl of variants) {
      const signature = twilioSignature(TOKEN, signedUrl, SMS);
      for (const requestUrl of variants) {
        const theirs = twilio.validateRequest(TOKEN, signature, requestUrl, SMS);
        assert.equal(verifyTwilio(TOKEN, requestUrl, SMS, signature), theirs, `signed ${signedUrl}, requested ${requestUrl}`);
        if (theirs) accepted++;
      }
    }
    assert.ok(accepted > variants.length, 'some cross-port pairs are accepted');
    assert.equal(verifyTwilio(TOKEN, 'https://example.com/twilio/sms?x=1', SMS, twilioSignature(TOKEN, 'https://example.com:443/twilio/sms?x=1', SMS)), true);
    assert.equal(verifyTwilio(TOKEN, 'https://example.com:443/twilio/sms?x=1', SMS, twilioSignature(TOKEN, 'https://example.com/twilio/sms?x=1', SMS)), true);
  });

  it('accepts the package-made signature', () => {
    for (const url of URLS) assert.equal(verifyTwilio(TOKEN, url, WHATSAPP, twilio.getExpectedTwilioSignature(TOKEN, url, WHATSAPP)), true);
  });

  it('refuses tampered params, URLs, signatures and tokens', () => {
    const url = 'https://example.com:8443/twilio/sms?bot=demo';
    const good = twilioSignature(TOKEN, url, SMS);
    const refused: [string, string, TwilioParams, string | undefined][] = [
      ['changed body', url, { ...SMS, Body: 'Hi, where is my order #1235?' }, good],
      ['changed sender', url, { ...SMS, From: '+14155550124' }, good],
      ['added param', url, { ...SMS, Extra: '' }, good],
      ['dropped param', url, Object.fromEntries(Object.entries(SMS).filter(([k]) => k !== 'NumMedia')), good],
      ['value moved between names', url, { ...SMS, To: SMS.From, From: SMS.To }, good],
      ['repeated value added', url, { ...SMS, To: [SMS.To as string, '+1'] }, good],
      ['other path', 'https://example.com:8443/twilio/voice?bot=demo', SMS, good],
      ['other query', 'https://example.com:8443/twilio/sms?bot=demo2', SMS, good],
      ['other host', 'https://evil.example.com:8443/twilio/sms?bot=demo', SMS, good],
      ['other scheme', 'http://example.com:8443/twilio/sms?bot=demo', SMS, good],
      ['other port', 'https://example.com:9443/twilio/sms?bot=demo', SMS, good],
      ['flipped character', url, SMS, (good[0] === 'A' ? 'B' : 'A') + good.slice(1)],
      ['truncated', url, SMS, good.slice(0, -1)],
      ['extended', url, SMS, good + '='],
      ['padded', url, SMS, ` ${good}`],
      ['wrong token', url, SMS, twilioSignature(TOKEN + 'x', url, SMS)],
      ['empty', url, SMS, ''],
      ['missing', url, SMS, undefined],
    ];
    for (const [what, u, params, signature] of refused) {
      assert.equal(verifyTwilio(TOKEN, u, params, signature), false, what);
      if (signature !== undefined) assert.equal(twilio.validateRequest(TOKEN, signature, u, params), false, `package: ${what}`);
    }
    assert.equal(verifyTwilio('', url, SMS, twilioSignature('', url, SMS)), false, 'no auth token configured');
  });

  it('never throws on garbage', () => {
    const garbage: unknown[] = [null, undefined, 42, {}, [], 'not a url', 'https://[bad', '\u0000'];
    for (const g of garbage) {
      assert.equal(verifyTwilio(TOKEN, g as string, SMS, 'x'), false);
      assert.equal(verifyTwilio(TOKEN, URLS[0], g as TwilioParams, 'x'), false);
      assert.equal(verifyTwilio(TOKEN, URLS[0], SMS, g as string), false);
      assert.equal(verifyTwilio(g as string, URLS[0], SMS, 'x'), false);
      assert.equal(verifyTwilioBody(TOKEN, g as string, '{}', 'x'), false);
      assert.equal(verifyTwilioBody(TOKEN, URLS[0], g as string, 'x'), false);
    }
    const sig = twilioSignature(TOKEN, 'not a url', {});
    assert.equal(verifyTwilio(TOKEN, 'not a url', {}, sig), true, 'an unparseable URL still compares as received');
  });

  it('JSON bodies: bodySHA256 in the URL, signature over the URL alone (validateRequestWithBody)', () => {
    const body = JSON.stringify({ event: 'message', text: 'héllo 👋', data: [1, 2, 3] });
    const url = `https://example.com/twilio/events?bot=demo&bodySHA256=${createHash('sha256').update(body).digest('hex')}`;
    const signature = twilio.getExpectedTwilioSignature(TOKEN, url, {});
    assert.equal(twilioSignature(TOKEN, url, {}), signature);
    assert.equal(twilio.validateRequestWithBody(TOKEN, signature, url, body), true);
    assert.equal(verifyTwilioBody(TOKEN, url, body, signature), true);
    assert.equal(verifyTwilioBody(TOKEN, url, body + ' ', signature), false, 'tampered body');
    assert.equal(twilio.validateRequestWithBody(TOKEN, signature, url, body + ' '), false);
    const noHash = 'https://example.com/twilio/events?bot=demo';
    assert.equal(verifyTwilioBody(TOKEN, noHash, body, twilioSignature(TOKEN, noHash, {})), false, 'no bodySHA256');
  });
});

const hmac = (algorithm: 'sha1' | 'sha256', secret: string, content: string, encoding: 'hex' | 'base64') =>
  createHmac(algorithm, secret).update(content).digest(encoding);

describe('verifySigned with the platform presets', () => {
  const secret = 'dGhpcyBpcyBhIHplbmRlc2sgc2VjcmV0';
  const body = JSON.stringify({ type: 'zen:event-type:ticket.created', detail: { subject: 'Ça ne marche pas 😞' } });
  const now = Date.parse('2025-03-14T15:09:26.535Z');
  const { zendesk, intercom, chatwoot } = SIGNATURE_PRESETS;

  it('zendesk: base64 HMAC-SHA256 of timestamp + body, ISO 8601 timestamp', () => {
    const ts = '2025-03-14T15:08:00Z';
    const headers: Headers = {
      'x-zendesk-webhook-signature': hmac('sha256', secret, ts + body, 'base64'),
      'x-zendesk-webhook-signature-timestamp': ts,
    };
    assert.deepEqual(verifySigned(zendesk, secret, headers, body, now), { ok: true });
    assert.deepEqual(verifySigned(zendesk, secret, {
      'X-Zendesk-Webhook-Signature': headers['x-zendesk-webhook-signature'], 'X-ZENDESK-WEBHOOK-SIGNATURE-TIMESTAMP': ts,
    }, body, now), { ok: true }, 'header names in any case');
    assert.deepEqual(verifySigned(zendesk, 'other secret', headers, body, now), { ok: false, reason: 'signature mismatch' });
    assert.deepEqual(verifySigned(zendesk, secret, headers, body + '\n', now), { ok: false, reason: 'signature mismatch' });
    assert.deepEqual(verifySigned(zendesk, secret, { ...headers, 'x-zendesk-webhook-signature-timestamp': '2025-03-14T15:08:01Z' }, body, now),
      { ok: false, reason: 'signature mismatch' }, 'the timestamp is signed');
    assert.deepEqual(verifySigned(zendesk, secret, { 'x-zendesk-webhook-signature-timestamp': ts }, body, now),
      { ok: false, reason: 'missing X-Zendesk-Webhook-Signature header' });
    assert.deepEqual(verifySigned(zendesk, secret, { 'x-zendesk-webhook-signature': headers['x-zendesk-webhook-signature'] }, body, now),
      { ok: false, reason: 'missing X-Zendesk-Webhook-Signature-Timestamp header' });
    assert.deepEqual(verifySigned(zendesk, secret, headers, body, now + 10 * 60_000),
      { ok: false, reason: 'timestamp outside the 300 s tolerance' }, 'stale ISO timestamp');
    const hexInstead = { ...headers, 'x-zendesk-webhook-signature': hmac('sha256', secret, ts + body, 'hex') };
    assert.deepEqual(verifySigned(zendesk, secret, hexInstead, body, now), { ok: false, reason: 'signature mismatch' }, 'hex is not base64');
  });

  it('zendesk: ISO timestamps with offsets and fractions; unparseable ones refused', () => {
    for (const ts of ['2025-03-14T16:08:00+01:00', '2025-03-14T15:08:00.123Z', '2025-03-14T10:08:00-0500']) {
      const headers = { 'x-zendesk-webhook-signature': hmac('sha256', secret, ts + body, 'base64'), 'x-zendesk-webhook-signature-timestamp': ts };
      assert.deepEqual(verifySigned(zendesk, secret, headers, body, now), { ok: true }, ts);
    }
    for (const ts of ['yesterday', '2025-03-14 15:08:00', '2025-03-14T15:08:00', 'Fri, 14 Mar 2025 15:08:00 GMT', '-1', '2025-13-45T99:99:99Z']) {
      const headers = { 'x-zendesk-webhook-signature': hmac('sha256', secret, ts + body, 'base64'), 'x-zendesk-webhook-signature-timestamp': ts };
      assert.deepEqual(verifySigned(zendesk, secret, headers, body, now), { ok: false, reason: 'unparseable timestamp' }, ts);
    }
  });

  it('intercom: X-Hub-Signature sha1=<hex>, prefix required and stripped, hex case-insensitive', () => {
    const sig = hmac('sha1', secret, body, 'hex');
    assert.deepEqual(verifySigned(intercom, secret, { 'x-hub-signature': `sha1=${sig}` }, body, 0), { ok: true });
    assert.deepEqual(verifySigned(intercom, secret, { 'X-Hub-Signature': `sha1=${sig.toUpperCase()}` }, body, 0), { ok: true });
    assert.deepEqual(verifySigned(intercom, secret, { 'x-hub-signature': sig }, body, 0), { ok: false, reason: 'signature lacks the "sha1=" prefix' });
    assert.deepEqual(verifySigned(intercom, secret, { 'x-hub-signature': `sha256=${hmac('sha256', secret, body, 'hex')}` }, body, 0),
      { ok: false, reason: 'signature lacks the "sha1=" prefix' });
    assert.deepEqual(verifySigned(intercom, secret, { 'x-hub-signature': `sha1=${hmac('sha1', secret, body, 'base64')}` }, body, 0),
      { ok: false, reason: 'signature mismatch' }, 'base64 is not hex');
    assert.deepEqual(verifySigned(intercom, secret, { 'x-hub-signature': `sha1=${sig}00` }, body, 0), { ok: false, reason: 'signature mismatch' });
    assert.deepEqual(verifySigned(intercom, secret, { 'x-hub-signature': `sha1=${sig}` }, body.replace('😞', '🙂'), 0),
      { ok: false, reason: 'signature mismatch' });
    assert.deepEqual(verifySigned(intercom, secret, { 'x-hub-signature': 'sha1=' }, body, 0), { ok: false, reason: 'signature mismatch' });
    assert.deepEqual(verifySigned(intercom, secret, {}, body, 0), { ok: false, reason: 'missing X-Hub-Signature header' });
  });

  it('chatwoot: sha256=<hex of "{timestamp}.{body}">, unix seconds within the tolerance', () => {
    const ts = String(Math.floor(now / 1000) - 60);
    const headers: Headers = { 'x-chatwoot-signature': `sha256=${hmac('sha256', secret, `${ts}.${body}`, 'hex')}`, 'x-chatwoot-timestamp': ts };
    assert.deepEqual(verifySigned(chatwoot, secret, headers, body, now), { ok: true });
    assert.deepEqual(verifySigned(chatwoot, secret, headers, body, now + 239_000), { ok: true }, 'just inside 300 s');
    assert.deepEqual(verifySigned(chatwoot, secret, headers, body, now + 241_000), { ok: false, reason: 'timestamp outside the 300 s tolerance' });
    assert.deepEqual(verifySigned(chatwoot, secret, headers, body, now - 400_000), { ok: false, reason: 'timestamp outside the 300 s tolerance' }, 'from the future');
    assert.deepEqual(verifySigned({ ...chatwoot, toleranceSeconds: 30 }, secret, headers, body, now), { ok: false, reason: 'timestamp outside the 30 s tolerance' });
    const noDot = { ...headers, 'x-chatwoot-signature': `sha256=${hmac('sha256', secret, ts + body, 'hex')}` };
    assert.deepEqual(verifySigned(chatwoot, secret, noDot, body, now), { ok: false, reason: 'signature mismatch' }, 'content template matters');
    assert.deepEqual(verifySigned(chatwoot, secret, { 'x-chatwoot-signature': headers['x-chatwoot-signature'] }, body, now),
      { ok: false, reason: 'missing X-Chatwoot-Timestamp header' });
    assert.deepEqual(verifySigned(chatwoot, secret, { ...headers, 'x-chatwoot-timestamp': ['1', ts] }, body, now),
      { ok: false, reason: 'timestamp outside the 300 s tolerance' }, 'a repeated header counts by its first value');
    assert.deepEqual(verifySigned(chatwoot, secret, { ...headers, 'x-chatwoot-signature': [headers['x-chatwoot-signature'] as string] }, body, now), { ok: true });
  });

  it('custom schemes: base64 sha1, hex sha256 without prefix, "{timestamp}{body}" with unix seconds', () => {
    const scheme: SignatureScheme = { header: 'X-Sig', algorithm: 'sha1', encoding: 'base64', content: '{body}' };
    assert.deepEqual(verifySigned(scheme, secret, { 'x-sig': hmac('sha1', secret, body, 'base64') }, body, 0), { ok: true });
    assert.deepEqual(verifySigned(scheme, secret, { 'x-sig': hmac('sha1', secret, body, 'hex') }, body, 0), { ok: false, reason: 'signature mismatch' });
    const hex: SignatureScheme = { header: 'X-Sig', algorithm: 'sha256', encoding: 'hex', content: '{timestamp}{body}', timestampHeader: 'X-Ts' };
    const ts = String(Math.floor(now / 1000));
    assert.deepEqual(verifySigned(hex, secret, { 'x-sig': hmac('sha256', secret, ts + body, 'hex'), 'x-ts': ts }, body, now), { ok: true });
    assert.deepEqual(verifySigned(hex, secret, { 'x-sig': hmac('sha256', secret, ts + body, 'base64'), 'x-ts': ts }, body, now),
      { ok: false, reason: 'signature mismatch' });
  });

  it('never throws on garbage, and refuses an empty secret', () => {
    const sig = `sha1=${hmac('sha1', '', body, 'hex')}`;
    assert.deepEqual(verifySigned(intercom, '', { 'x-hub-signature': sig }, body, 0), { ok: false, reason: 'no signing secret configured' });
    const headerSets: unknown[] = [null, undefined, 'x', 7, [], { 'x-hub-signature': 7 }, { 'x-hub-signature': [] }, { 'x-hub-signature': [null] },
      { 'x-zendesk-webhook-signature': '%%%', 'x-zendesk-webhook-signature-timestamp': { a: 1 } }];
    for (const preset of [zendesk, intercom, chatwoot]) {
      for (const h of headerSets) {
        const verdict = verifySigned(preset, secret, h as Headers, body, now);
        assert.equal(verdict.ok, false);
      }
      assert.equal(verifySigned(preset, secret, { [preset.header]: 'x' }, undefined as unknown as string, now).ok, false);
      assert.equal(verifySigned(preset, secret, { [preset.header]: 'x', [preset.timestampHeader ?? 'x']: '1' }, body, NaN).ok, false);
    }
  });
});

describe('verifyStandardWebhook', () => {
  const body = JSON.stringify({ type: 'message.created', data: { text: 'héllo 👋' } });
  const id = 'msg_2mKZ0xQh1bJ3w9';
  const ts = 1_741_964_966;
  const now = ts * 1000 + 1_500;

  it("verifies botgate's own signer and the standardwebhooks package", () => {
    const secret = generateSigningSecret();
    const ours = { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': signatureHeader([signingKey(secret)], id, ts, body) };
    assert.deepEqual(verifyStandardWebhook(secret, ours, body, now), { ok: true });
    const theirs = { 'Webhook-Id': id, 'Webhook-Timestamp': String(ts), 'Webhook-Signature': new Webhook(secret).sign(id, new Date(ts * 1000), body) };
    assert.deepEqual(verifyStandardWebhook(secret, theirs, body, now), { ok: true });
    const current = Math.floor(Date.now() / 1000);
    const fresh = { 'webhook-id': id, 'webhook-timestamp': String(current), 'webhook-signature': signatureHeader([signingKey(secret)], id, current, body) };
    assert.deepEqual(new Webhook(secret).verify(body, fresh), JSON.parse(body), 'the package agrees on what we accept');
    assert.deepEqual(verifyStandardWebhook(secret, fresh, body, Date.now()), { ok: true });
  });

  it('rotation: any of several signatures may match; other versions are skipped', () => {
    const [oldSecret, newSecret, stranger] = [generateSigningSecret(), generateSigningSecret(32), generateSigningSecret()];
    const signature = signatureHeader([signingKey(oldSecret), signingKey(newSecret)], id, ts, body);
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': signature };
    assert.deepEqual(verifyStandardWebhook(oldSecret, headers, body, now), { ok: true });
    assert.deepEqual(verifyStandardWebhook(newSecret, headers, body, now), { ok: true });
    assert.deepEqual(verifyStandardWebhook(stranger, headers, body, now), { ok: false, reason: 'no matching signature' });
    const mixed = `v1a,${'A'.repeat(86)}== v2,${signature.slice(3)} ${new Webhook(newSecret).sign(id, new Date(ts * 1000), body)}`;
    assert.deepEqual(verifyStandardWebhook(newSecret, { ...headers, 'webhook-signature': mixed }, body, now), { ok: true });
    assert.deepEqual(verifyStandardWebhook(oldSecret, { ...headers, 'webhook-signature': mixed }, body, now),
      { ok: false, reason: 'no matching signature' }, 'a v1 signature under another version label does not count');
  });

  it('refuses stale, future, tampered and incomplete requests', () => {
    const secret = generateSigningSecret();
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': signatureHeader([signingKey(secret)], id, ts, body) };
    const stale = { ok: false, reason: 'timestamp outside the 300 s tolerance' };
    assert.deepEqual(verifyStandardWebhook(secret, headers, body, ts * 1000 + 301_000), stale);
    assert.deepEqual(verifyStandardWebhook(secret, headers, body, ts * 1000 - 301_000), stale);
    assert.deepEqual(verifyStandardWebhook(secret, headers, body, ts * 1000 + 299_000), { ok: true });
    assert.deepEqual(verifyStandardWebhook(secret, headers, body + ' ', now), { ok: false, reason: 'no matching signature' });
    assert.deepEqual(verifyStandardWebhook(secret, { ...headers, 'webhook-id': 'msg_other' }, body, now), { ok: false, reason: 'no matching signature' });
    assert.deepEqual(verifyStandardWebhook(secret, { ...headers, 'webhook-timestamp': String(ts + 1) }, body, now), { ok: false, reason: 'no matching signature' });
    assert.deepEqual(verifyStandardWebhook(secret, { ...headers, 'webhook-timestamp': '2025-03-14T15:09:26Z' }, body, now), { ok: false, reason: 'unparseable timestamp' });
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const rest: Headers = { ...headers };
      delete rest[name];
      assert.deepEqual(verifyStandardWebhook(secret, rest, body, now), { ok: false, reason: `missing ${name} header` });
    }
    assert.deepEqual(verifyStandardWebhook(secret, { ...headers, 'webhook-signature': headers['webhook-signature'].slice(3) }, body, now),
      { ok: false, reason: 'no matching signature' }, 'a bare signature without "v1,"');
  });

  it('never throws on garbage', () => {
    const secret = generateSigningSecret();
    for (const s of ['', 'whsec_', 'whsec_%%%%', 42, null]) {
      assert.deepEqual(verifyStandardWebhook(s as string, { 'webhook-id': id }, body, now), { ok: false, reason: 'no signing secret configured' });
    }
    for (const h of [null, undefined, 'x', { 'webhook-id': 1, 'webhook-timestamp': [], 'webhook-signature': {} },
      { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': ',,, v1, v1,,x ,' }]) {
      assert.equal(verifyStandardWebhook(secret, h as Headers, body, now).ok, false);
    }
    assert.equal(verifyStandardWebhook(secret, { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': 'v1,x' }, null as unknown as string, now).ok, false);
  });
});
