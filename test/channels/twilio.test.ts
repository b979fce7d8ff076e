// Twilio SMS and WhatsApp: requests signed by the official `twilio` package are answered in TwiML with the bot's
// replies (escaped), retries of a MessageSid get the same answer and run once, anything tampered is 401 with an
// empty <Response/> and stores nothing; in reply_mode api, and for agent messages always, the texts go to the
// Messages API (a loopback receiver here) as form posts with basic auth; inactive, unknown, rate-limited, too
// large, and a config's public_url. Config checks and the gateway's public_url: twilio-config.test.ts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import twilio from 'twilio';
import { DEMO_BOT_FILE } from '../../src/provision.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { TWILIO_MAX_BODY, twilioRequest } from '../../src/channels/twilio-adapter.ts';
import { EMPTY, HOST, OUR_NUMBER, SID, TOKEN, smsParams, twiml, type Json } from './twilio-helpers.ts';

const BOT_YAML = `
id: escaper
name: Escaper
intents:
  greeting: [hello, hi there]
  echo: [echo, repeat after me]
flows:
  greeting:
    message:
      - "Tom & Jerry <3 > \\"quotes\\" 'apos'"
    next_state: end
  echo:
    message: [Say something]
    next_state: said
  said:
    message: ["You said: {{memory.said}}"]
    next_state: end
`;

describe('twilio channel', () => {
  let gw: TestGateway;
  let api: Receiver;
  const configs: Record<string, Json> = {};

  async function createConfig(name: string, body: Record<string, unknown>) {
    const created = await gw.api('POST', '/api/webhook/config', { name, provider: 'twilio', bot: 'demo', ...body, twilio: { account_sid: SID, auth_token: TOKEN, ...(body.twilio as object) } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    configs[name] = created.body;
    return created.body;
  }

  /** POSTs Twilio's form as Twilio would: signed over `signUrl` (default: the URL the server sees). */
  async function send(config: Json, params: Record<string, string>, opts: { token?: string; signUrl?: string; signed?: Record<string, string>; signature?: string | null; host?: string } = {}) {
    const path = `/api/webhook/twilio/${config.id}`;
    const signUrl = opts.signUrl ?? `http://${opts.host ?? HOST}${path}`;
    const signature = opts.signature === undefined ? twilio.getExpectedTwilioSignature(opts.token ?? TOKEN, signUrl, opts.signed ?? params) : opts.signature;
    const res = await gw.app.inject({
      method: 'POST', url: path, payload: new URLSearchParams(params).toString(),
      headers: { host: opts.host ?? HOST, 'content-type': 'application/x-www-form-urlencoded', ...(signature === null ? {} : { 'x-twilio-signature': signature }) },
    });
    return { status: res.statusCode, body: res.body, headers: res.headers };
  }

  /** The stored messages (either way) of the user with this number. */
  async function storedFor(from: string): Promise<Json[]> {
    const list = await gw.api('GET', '/api/webhook/messages?per_page=1000');
    assert.equal(list.status, 200);
    return list.body.data.filter((m: Json) => m.payload?.user_id === from || m.payload?.To === from);
  }

  /** What reached the Messages API for a user (form fields). */
  const apiPosts = (to: string) => api.requests.map((r) => ({ ...r, form: Object.fromEntries(new URLSearchParams(r.body)) })).filter((r) => r.form.To === to);

  before(async () => {
    api = await startReceiver((_q, res) => void res.writeHead(201, { 'content-type': 'application/json' }).end('{"sid":"SMxx"}'));
    gw = await startTestGateway({ BOTGATE_PLATFORM__TWILIO_API_BASE: api.url }, { start: false });
    await gw.bots.load(DEMO_BOT_FILE);
    const dir = mkdtempSync(join(tmpdir(), 'botgate-twilio-'));
    writeFileSync(join(dir, 'escaper.yaml'), BOT_YAML);
    await gw.bots.load(join(dir, 'escaper.yaml'));
    await gw.start();
    await createConfig('twilio-sms', {});
    await createConfig('twilio-api', { twilio: { reply_mode: 'api' } });
    await createConfig('twilio-escaper', { bot: 'escaper' });
  });
  after(async () => {
    await gw.close();
    await api.close();
  });

  it('answers a signed SMS in TwiML with the bot\'s reply and stores it in the platform format', async () => {
    const from = '+15550100001';
    const config = configs['twilio-sms'];
    assert.equal(config.twilio.reply_mode, 'twiml');
    assert.match(config.incoming_url, new RegExp(`/api/webhook/twilio/${config.id}$`));
    const params = smsParams(from, 'what is my balance');
    const signUrl = `http://${HOST}/api/webhook/twilio/${config.id}`;
    assert.equal(twilio.validateRequest(TOKEN, twilio.getExpectedTwilioSignature(TOKEN, signUrl, params), signUrl, params), true);
    const res = await send(config, params);
    assert.equal(res.status, 200, res.body);
    assert.match(String(res.headers['content-type']), /^text\/xml/);
    assert.equal(res.body, twiml('Your balance is not available right now.'));

    const stored = await storedFor(from);
    const incoming = stored.find((m) => m.message_type === 'incoming');
    assert.equal(incoming.platform, 'twilio');
    assert.equal(incoming.message, 'what is my balance');
    assert.equal(incoming.payload.user_id, from);
    assert.equal(incoming.payload.conversation_id, from);
    assert.equal(incoming.payload.message_id, params.MessageSid);
    assert.equal(incoming.payload.metadata.To, OUR_NUMBER);
    assert.equal(incoming.payload.metadata.AccountSid, SID);
    assert.equal(incoming.payload.metadata.NumMedia, '0');
    const reply = stored.find((m) => m.message_type === 'outgoing');
    assert.deepEqual(reply.payload, { To: from, From: OUR_NUMBER, Body: 'Your balance is not available right now.' });
    assert.equal(reply.reply_to, incoming.id);
    // Answered in the TwiML, so not sent again through the Messages API.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(apiPosts(from).length, 0);
    // The sender is known by phone number (notifications and other channels find the same person).
    const user = await gw.store.users.byIdentity({ kind: 'phone', value: from });
    assert.ok(user);
    assert.deepEqual((await gw.store.users.identities(user.id)).map((i) => i.kind).sort(), ['phone', 'platform']);
  });

  it('renders quick replies as lines to type back, and greets a WhatsApp user by profile name', async () => {
    const from = 'whatsapp:+15550100002';
    const params = smsParams(from, 'hello', { To: 'whatsapp:+14155238886', ProfileName: 'Ada', WaId: '15550100002' });
    const res = await send(configs['twilio-sms'], params);
    assert.equal(res.status, 200, res.body);
    assert.equal(res.body, twiml(
      'Hi Ada! I can take a pizza order, tell you your balance, or help with a failed payment.',
      'What would you like to do?\n- Order a pizza\n- My balance\n- Help',
    ));
    const [incoming] = (await storedFor(from)).filter((m) => m.message_type === 'incoming');
    assert.equal(incoming.payload.user_id, from);
    assert.equal(incoming.payload.username, 'Ada');
    assert.equal(incoming.payload.metadata.WaId, '15550100002');
    const replies = (await storedFor(from)).filter((m) => m.message_type === 'outgoing');
    assert.ok(replies.every((m) => m.payload.From === 'whatsapp:+14155238886'), 'replies come from the WhatsApp sender written to');
    // The history names the user of every message, the replies too (their payload is {To, From, Body}).
    const history = (await gw.api('GET', `/api/webhook/messages?platform=twilio-sms&per_page=1000`)).body.data.filter((m: Json) => m.conversation_id === incoming.conversation_id);
    assert.equal(history.length, 3, JSON.stringify(history));
    assert.deepEqual(history.map((m: Json) => m.user_id), [from, from, from]);
  });

  it('escapes XML in replies, the bot\'s own text and the user\'s words echoed back', async () => {
    const config = configs['twilio-escaper'];
    const from = '+15550100003';
    const hello = await send(config, smsParams(from, 'hello'));
    assert.equal(hello.status, 200, hello.body);
    assert.equal(hello.body, twiml('Tom &amp; Jerry &lt;3 &gt; &quot;quotes&quot; &apos;apos&apos;'));
    assert.equal((await send(config, smsParams(from, 'echo'))).body, twiml('Say something'));
    const evil = '</Message><Redirect>https://evil.example/</Redirect><Message>\u0007';
    const echoed = await send(config, smsParams(from, evil));
    assert.equal(echoed.body, twiml('You said: &lt;/Message&gt;&lt;Redirect&gt;https://evil.example/&lt;/Redirect&gt;&lt;Message&gt;'));
    assert.equal(echoed.body.match(/<Message>/g)?.length, 1);
  });

  it('sends a reply longer than Twilio takes in one message (1,600 characters) as several, in TwiML and through the Messages API', async () => {
    // In TwiML: the echo of a long message is two <Message>s, each within the limit, the text cut at a space.
    const config = configs['twilio-escaper'];
    const from = '+15550100020';
    await send(config, smsParams(from, 'echo'));
    const words = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    const echoed = await send(config, smsParams(from, words));
    assert.equal(echoed.status, 200, echoed.body);
    const parts = [...echoed.body.matchAll(/<Message>([^<]*)<\/Message>/g)].map((m) => m[1]);
    assert.equal(parts.length, 2, echoed.body);
    assert.ok(parts.every((p) => p.length <= TWILIO_MAX_BODY), String(parts.map((p) => p.length)));
    assert.equal(parts.join(' '), `You said: ${words}`);

    // An agent's long message: three Messages API requests, in order, each within the limit.
    const sms = configs['twilio-sms'];
    const user = '+15550100021';
    assert.equal((await send(sms, smsParams(user, 'talk to an agent'))).status, 200);
    const created = await gw.api('POST', '/api/agents', { name: 'lena' });
    const agent = { authorization: `Bearer ${created.body.token}` };
    const session = (await gw.api('GET', '/api/agent/sessions?status=waiting&per_page=100', undefined, agent)).body.data.find((s: Json) => s.user_id === user);
    assert.equal((await gw.api('POST', `/api/agent/sessions/${session.id}/claim`, {}, agent)).status, 200);
    const lines = Array.from({ length: 80 }, (_, i) => `Line ${i}: ${'x'.repeat(40)}`).join('\n');
    const wrote = await gw.api('POST', `/api/agent/sessions/${session.id}/messages`, { text: lines }, agent);
    assert.equal(wrote.status, 202, JSON.stringify(wrote.body));
    const posts = await eventually(() => (apiPosts(user).length >= 3 ? apiPosts(user) : null));
    assert.equal(posts.length, 3);
    assert.ok(posts.every((p) => p.form.Body.length <= TWILIO_MAX_BODY && p.form.Body.startsWith('Line ')), String(posts.map((p) => p.form.Body.slice(0, 8))));
    assert.equal(posts.map((p) => p.form.Body).join('\n'), lines, 'cut at line breaks, in order');
  });

  it('answers a retried MessageSid with the original TwiML and runs its turn once', async () => {
    const from = '+15550100004';
    const params = smsParams(from, 'order a pizza');
    const first = await send(configs['twilio-sms'], params);
    assert.equal(first.body, twiml('How many pizzas would you like?'));
    const again = await send(configs['twilio-sms'], params);
    assert.equal(again.status, 200);
    assert.equal(again.body, first.body);
    const stored = await storedFor(from);
    assert.equal(stored.filter((m) => m.message_type === 'incoming').length, 1);
    assert.equal(stored.filter((m) => m.message_type === 'outgoing').length, 1);
    // The flow moved on once: the next message is the answer to "how many".
    assert.equal((await send(configs['twilio-sms'], smsParams(from, '2'))).body, twiml('Which toppings?\n- Cheese\n- Pepperoni\n- Veggie'));
  });

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
    const json = await gw.app.inject({
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
      gw.app.inject({ method: 'POST', url, payload, headers: { host: HOST, 'content-type': type, 'x-twilio-signature': signature } });
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
    const post = (payload: string) => gw.app.inject({ method: 'POST', url: path, payload, headers: { host: HOST, 'content-type': 'application/json', 'x-twilio-signature': signature } });
    const tampered = await post(raw.replace('balance', 'balances'));
    assert.equal(tampered.statusCode, 401);
    assert.equal(tampered.body, EMPTY);
    const res = await post(raw);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.body, twiml('Your balance is not available right now.'));
  });

  it('sends through the Messages API the replies of turns that run after their request (an earlier message was pending)', async () => {
    const from = '+15550100011';
    const config = configs['twilio-sms'];
    const channel = (await gw.store.channels.get(config.id))!;
    // A message stored with its turn left for later (as after a crash, or while another process had the conversation).
    const pending = twilioRequest(smsParams(from, 'what is my balance'))!;
    await gw.turns.receive(channel, { userKey: from, identities: [], payload: pending as unknown as Record<string, unknown>, eventType: 'message.received' });
    const res = await send(config, smsParams(from, 'when are you open'));
    assert.equal(res.status, 200, res.body);
    // Both turns ran after their requests: neither reply rides in this TwiML; both go out, in order.
    assert.equal(res.body, EMPTY);
    await eventually(() => apiPosts(from).length >= 2);
    assert.deepEqual(apiPosts(from).map((p) => p.form.Body.slice(0, 25)), ['Your balance is not avail', 'Our kitchens are open eve']);
  });

  it('in reply_mode api answers an empty <Response/> and sends the replies to the Messages API with basic auth', async () => {
    const config = configs['twilio-api'];
    const from = '+15550100007';
    const res = await send(config, smsParams(from, 'what is my balance'));
    assert.equal(res.status, 200, res.body);
    assert.equal(res.body, EMPTY);
    await eventually(() => apiPosts(from).length >= 1);
    const [post] = apiPosts(from);
    assert.equal(post.method, 'POST');
    assert.equal(post.url, `/hook/2010-04-01/Accounts/${SID}/Messages.json`);
    assert.equal(post.headers.authorization, `Basic ${Buffer.from(`${SID}:${TOKEN}`).toString('base64')}`);
    assert.match(String(post.headers['content-type']), /^application\/x-www-form-urlencoded/);
    assert.deepEqual(post.form, { To: from, From: OUR_NUMBER, Body: 'Your balance is not available right now.' });
    assert.equal(post.headers['webhook-signature'], undefined, 'Twilio checks no Standard Webhooks signature');
    await eventually(async () => (await storedFor(from)).some((m) => m.message_type === 'outgoing' && m.status === 'sent'));
  });

  it('hands over: the handoff notice in TwiML, the agent\'s words through the Messages API, back to the bot', async () => {
    const config = configs['twilio-sms'];
    const from = 'whatsapp:+15550100008';
    const ours = 'whatsapp:+14155238886';
    const say = (text: string) => send(config, smsParams(from, text, { To: ours }));
    const asked = await say('talk to an agent');
    assert.equal(asked.status, 200, asked.body);
    assert.equal(asked.body, twiml('Connecting you to a person. Please wait a moment.'));

    const created = await gw.api('POST', '/api/agents', { name: 'tina' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const agent = { authorization: `Bearer ${created.body.token}` };
    const waiting = await gw.api('GET', '/api/agent/sessions?status=waiting', undefined, agent);
    const session = waiting.body.data.find((s: Json) => s.user_id === from);
    assert.ok(session, JSON.stringify(waiting.body));
    assert.equal(session.platform, 'twilio');
    assert.equal((await gw.api('POST', `/api/agent/sessions/${session.id}/claim`, {}, agent)).status, 200);
    const wrote = await gw.api('POST', `/api/agent/sessions/${session.id}/messages`, { text: 'Hi, Tina here & happy to help <3' }, agent);
    assert.ok(wrote.status < 300, JSON.stringify(wrote.body));
    await eventually(() => apiPosts(from).length >= 1);
    const [post] = apiPosts(from);
    assert.equal(post.url, `/hook/2010-04-01/Accounts/${SID}/Messages.json`);
    assert.deepEqual(post.form, { To: from, From: ours, Body: 'Hi, Tina here & happy to help <3' });

    // The user's words go to the agent, not the bot: nothing to answer in TwiML.
    assert.equal((await say('my card was declined')).body, EMPTY);
    const read = await gw.api('GET', `/api/agent/sessions/${session.id}/messages`, undefined, agent);
    assert.ok(read.body.messages.some((m: Json) => m.direction === 'incoming' && m.text === 'my card was declined'), JSON.stringify(read.body));

    // The agent closes outside any Twilio request: the bot's goodbye goes through the Messages API too.
    assert.equal((await gw.api('POST', `/api/agent/sessions/${session.id}/close`, {}, agent)).status, 200);
    await eventually(() => apiPosts(from).length >= 2);
    assert.equal(apiPosts(from)[1].form.Body, 'You\'re back with the bot. Anything else I can do?');
    assert.equal((await say('what is my balance')).body, twiml('Your balance is not available right now.'));
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
      const generic = await gw.api('POST', '/api/webhook/config', { name: 'freshchat', outgoing_webhook_url: receiver.url, bot: 'demo' });
      assert.equal(generic.status, 201, JSON.stringify(generic.body));
      assert.equal((await send(generic.body, smsParams('+15550100009', 'hello'))).status, 404);
    } finally {
      await receiver.close();
    }
    const route = await gw.app.inject({ method: 'GET', url: `/api/webhook/twilio/${configs['twilio-sms'].id}` });
    assert.equal(route.statusCode, 405);
    assert.equal(route.headers.allow, 'POST');
    assert.equal(route.body, EMPTY);

    const text = await gw.app.inject({ method: 'POST', url: `/api/webhook/twilio/${configs['twilio-sms'].id}`, payload: 'From=%2B1&Body=hi', headers: { host: HOST, 'content-type': 'text/plain' } });
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
