// What the Twilio tests share: the account, Twilio's request parameters for an SMS, and TwiML as the gateway answers.
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
