// What the Twilio tests share: the account, Twilio's request parameters for an SMS, TwiML as the gateway answers, and a
// gateway with three Twilio configs (the demo bot answering in TwiML, the demo through the Messages API, a bot whose
// replies need escaping) and a loopback receiver standing for Twilio's Messages API.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import twilio from 'twilio';
import { DEMO_BOT_FILE } from '../../src/provision.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
export type Json = any;

export const SID = 'AC0123456789abcdef0123456789abcdef';
export const TOKEN = 'twilio-auth-token-0123456789abcdef';
export const HOST = 'sms-gateway.test';
export const OUR_NUMBER = '+15550001111';
export const EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>';
export const twiml = (...texts: string[]) => `<?xml version="1.0" encoding="UTF-8"?><Response>${texts.map((t) => `<Message>${t}</Message>`).join('')}</Response>`;

let sidCounter = 0;
/** Twilio's parameters for an incoming SMS (twilio.com/docs/messaging/guides/webhook-request). */
export function smsParams(from: string, body: string, extra: Record<string, string> = {}): Record<string, string> {
  const sid = `SM${String(++sidCounter).padStart(32, '0')}`;
  return {
    ToCountry: 'US', ToState: 'CA', SmsMessageSid: sid, NumMedia: '0', ToCity: '', FromZip: '', SmsSid: sid, FromState: 'CA',
    SmsStatus: 'received', FromCity: '', Body: body, FromCountry: 'US', To: OUR_NUMBER, ToZip: '', NumSegments: '1',
    MessageSid: sid, AccountSid: SID, From: from, ApiVersion: '2010-04-01', ...extra,
  };
}

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

export interface TwilioRig {
  gw: TestGateway;
  /** Twilio's Messages API, as a loopback receiver. */
  api: Receiver;
  createConfig(name: string, body: Record<string, unknown>): Promise<Json>;
  /** POSTs Twilio's form as Twilio would: signed over `signUrl` (default: the URL the server sees). */
  send(config: Json, params: Record<string, string>, opts?: { token?: string; signUrl?: string; signed?: Record<string, string>; signature?: string | null; host?: string }): Promise<{ status: number; body: string; headers: Record<string, unknown> }>;
  /** The stored messages (either way) of the user with this number. */
  storedFor(from: string): Promise<Json[]>;
  /** What reached the Messages API for a user (form fields). */
  apiPosts(to: string): (Receiver['requests'][number] & { form: Record<string, string> })[];
  close(): Promise<void>;
}

/** The gateway and Messages API of the Twilio tests; `configs` gets twilio-sms, twilio-api, twilio-escaper and every config made later. */
export async function startTwilio(configs: Record<string, Json>): Promise<TwilioRig> {
  const api = await startReceiver((_q, res) => void res.writeHead(201, { 'content-type': 'application/json' }).end('{"sid":"SMxx"}'));
  const gw = await startTestGateway({ BOTGATE_PLATFORM__TWILIO_API_BASE: api.url }, { start: false });
  const rig: TwilioRig = {
    gw,
    api,
    async createConfig(name, body) {
      const created = await gw.api('POST', '/api/webhook/config', { name, provider: 'twilio', bot: 'demo', ...body, twilio: { account_sid: SID, auth_token: TOKEN, ...(body.twilio as object) } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      configs[name] = created.body;
      return created.body;
    },
    async send(config, params, opts = {}) {
      const path = `/api/webhook/twilio/${config.id}`;
      const signUrl = opts.signUrl ?? `http://${opts.host ?? HOST}${path}`;
      const signature = opts.signature === undefined ? twilio.getExpectedTwilioSignature(opts.token ?? TOKEN, signUrl, opts.signed ?? params) : opts.signature;
      const res = await gw.app.inject({
        method: 'POST', url: path, payload: new URLSearchParams(params).toString(),
        headers: { host: opts.host ?? HOST, 'content-type': 'application/x-www-form-urlencoded', ...(signature === null ? {} : { 'x-twilio-signature': signature }) },
      });
      return { status: res.statusCode, body: res.body, headers: res.headers };
    },
    async storedFor(from) {
      const list = await gw.api('GET', '/api/webhook/messages?per_page=1000');
      assert.equal(list.status, 200);
      return list.body.data.filter((m: Json) => m.payload?.user_id === from || m.payload?.To === from);
    },
    apiPosts: (to) => api.requests.map((r) => ({ ...r, form: Object.fromEntries(new URLSearchParams(r.body)) })).filter((r) => r.form.To === to),
    async close() {
      await gw.close();
      await api.close();
    },
  };
  await gw.bots.load(DEMO_BOT_FILE);
  const dir = mkdtempSync(join(tmpdir(), 'botgate-twilio-'));
  writeFileSync(join(dir, 'escaper.yaml'), BOT_YAML);
  await gw.bots.load(join(dir, 'escaper.yaml'));
  await gw.start();
  await rig.createConfig('twilio-sms', {});
  await rig.createConfig('twilio-api', { twilio: { reply_mode: 'api' } });
  await rig.createConfig('twilio-escaper', { bot: 'escaper' });
  return rig;
}
