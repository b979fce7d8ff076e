// Twilio SMS and WhatsApp: requests signed by the official `twilio` package are answered in TwiML with the bot's
// replies (escaped), retries of a MessageSid get the same answer and run once, anything tampered is 401 with an
// empty <Response/> and stores nothing; in reply_mode api, and for agent messages always, the texts go to the
// Messages API (a loopback receiver here) as form posts with basic auth. What the webhook refuses, rate limits and a
// config's public_url: twilio-verification.test.ts; config checks and the gateway's public_url: twilio-config.test.ts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import twilio from 'twilio';
import { eventually } from '../helpers/gateway.ts';
import { TWILIO_MAX_BODY, twilioRequest } from '../../src/channels/twilio-adapter.ts';
import { EMPTY, HOST, OUR_NUMBER, SID, TOKEN, smsParams, twiml, startTwilio, type Json, type TwilioRig } from './twilio-helpers.ts';

describe('twilio channel', () => {
  let rig: TwilioRig;
  const configs: Record<string, Json> = {};
  const send = (...args: Parameters<TwilioRig['send']>) => rig.send(...args);
  const storedFor = (from: string) => rig.storedFor(from);
  const apiPosts = (to: string) => rig.apiPosts(to);
  before(async () => {
    rig = await startTwilio(configs);
  });
  after(() => rig.close());

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
    const user = await rig.gw.store.users.byIdentity({ kind: 'phone', value: from });
    assert.ok(user);
    assert.deepEqual((await rig.gw.store.users.identities(user.id)).map((i) => i.kind).sort(), ['phone', 'platform']);
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
    const history = (await rig.gw.api('GET', `/api/webhook/messages?platform=twilio-sms&per_page=1000`)).body.data.filter((m: Json) => m.conversation_id === incoming.conversation_id);
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
    const created = await rig.gw.api('POST', '/api/agents', { name: 'lena' });
    const agent = { authorization: `Bearer ${created.body.token}` };
    const session = (await rig.gw.api('GET', '/api/agent/sessions?status=waiting&per_page=100', undefined, agent)).body.data.find((s: Json) => s.user_id === user);
    assert.equal((await rig.gw.api('POST', `/api/agent/sessions/${session.id}/claim`, {}, agent)).status, 200);
    const lines = Array.from({ length: 80 }, (_, i) => `Line ${i}: ${'x'.repeat(40)}`).join('\n');
    const wrote = await rig.gw.api('POST', `/api/agent/sessions/${session.id}/messages`, { text: lines }, agent);
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

  it('sends through the Messages API the replies of turns that run after their request (an earlier message was pending)', async () => {
    const from = '+15550100011';
    const config = configs['twilio-sms'];
    const channel = (await rig.gw.store.channels.get(config.id))!;
    // A message stored with its turn left for later (as after a crash, or while another process had the conversation).
    const pending = twilioRequest(smsParams(from, 'what is my balance'))!;
    await rig.gw.turns.receive(channel, { userKey: from, identities: [], payload: pending as unknown as Record<string, unknown>, eventType: 'message.received' });
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

    const created = await rig.gw.api('POST', '/api/agents', { name: 'tina' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const agent = { authorization: `Bearer ${created.body.token}` };
    const waiting = await rig.gw.api('GET', '/api/agent/sessions?status=waiting', undefined, agent);
    const session = waiting.body.data.find((s: Json) => s.user_id === from);
    assert.ok(session, JSON.stringify(waiting.body));
    assert.equal(session.platform, 'twilio');
    assert.equal((await rig.gw.api('POST', `/api/agent/sessions/${session.id}/claim`, {}, agent)).status, 200);
    const wrote = await rig.gw.api('POST', `/api/agent/sessions/${session.id}/messages`, { text: 'Hi, Tina here & happy to help <3' }, agent);
    assert.ok(wrote.status < 300, JSON.stringify(wrote.body));
    await eventually(() => apiPosts(from).length >= 1);
    const [post] = apiPosts(from);
    assert.equal(post.url, `/hook/2010-04-01/Accounts/${SID}/Messages.json`);
    assert.deepEqual(post.form, { To: from, From: ours, Body: 'Hi, Tina here & happy to help <3' });

    // The user's words go to the agent, not the bot: nothing to answer in TwiML.
    assert.equal((await say('my card was declined')).body, EMPTY);
    const read = await rig.gw.api('GET', `/api/agent/sessions/${session.id}/messages`, undefined, agent);
    assert.ok(read.body.messages.some((m: Json) => m.direction === 'incoming' && m.text === 'my card was declined'), JSON.stringify(read.body));

    // The agent closes outside any Twilio request: the bot's goodbye goes through the Messages API too.
    assert.equal((await rig.gw.api('POST', `/api/agent/sessions/${session.id}/close`, {}, agent)).status, 200);
    await eventually(() => apiPosts(from).length >= 2);
    assert.equal(apiPosts(from)[1].form.Body, 'You\'re back with the bot. Anything else I can do?');
    assert.equal((await say('what is my balance')).body, twiml('Your balance is not available right now.'));
  });
});
