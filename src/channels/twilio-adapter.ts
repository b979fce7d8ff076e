// Twilio SMS and WhatsApp as the turn engine sees them: a Twilio webhook request is stored in the generic
// platform format, and bot or agent messages become SMS/WhatsApp texts — answered as TwiML in the webhook's
// response (reply_mode twiml), or sent as one Messages API request each ({To, From, Body}, form-encoded,
// in order per conversation) when they cannot ride on a Twilio request: reply_mode api, agent messages, and
// messages no user request is waiting for (an agent closing, a handoff timing out).
import type { BotMessage, TurnInput } from '../conversation/bot.ts';
import { isBlank } from '../ranges.ts';
import type { ChannelAdapter } from '../conversation/turns.ts';
import type { NewMessage } from '../store/store.ts';
import type { PlatformRequest } from './platform-adapter.ts';
import { settingsOf } from './platform-settings.ts';
import { TWILIO_MESSAGE_EVENT } from './platforms.ts';

/** Twilio's webhook parameters (twilio.com/docs/messaging/guides/webhook-request): form fields, all strings. */
export type TwilioParams = Record<string, string | string[] | undefined>;

/** One outgoing text as stored and as posted to the Messages API (its form fields). */
export interface TwilioMessage {
  To: string;
  From?: string;
  Body: string;
}

const first = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

/**
 * A Twilio webhook request in the platform format: the sender's number (`whatsapp:+…` on WhatsApp) is the user
 * and the conversation; every other parameter — To, AccountSid, NumMedia, MediaUrl0…, WaId, FromCountry… —
 * stays in metadata for templates (`{{customData.To}}`). Null when it is not an incoming message (no From, a blank one, or no Body).
 */
export function twilioRequest(params: TwilioParams): PlatformRequest | null {
  const from = first(params.From);
  const body = first(params.Body);
  // A blank sender is no one (an empty Body is a media-only message, and is taken).
  if (isBlank(from) || body === undefined) return null;
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(params)) {
    const v = first(value);
    if (name !== 'Body' && v !== undefined) metadata[name] = v;
  }
  return {
    user_id: from,
    message: body,
    conversation_id: from,
    username: first(params.ProfileName) || undefined,
    message_id: first(params.MessageSid) ?? first(params.SmsMessageSid) ?? first(params.SmsSid),
    metadata,
  };
}

/**
 * A bot message as plain text: SMS has no buttons, so each choice becomes a line the user can type back —
 * the quick reply itself, or a button's title with the payload to send when they differ (the engine matches
 * what is typed, not a line number, so options are not renumbered). Plain ASCII dashes: a single non-GSM
 * character (a bullet) would make every SMS segment UCS-2, 70 characters instead of 160.
 */
export function twilioText(message: BotMessage): string {
  const lines = [message.text];
  for (const reply of message.quickReplies ?? []) lines.push(`- ${reply}`);
  for (const button of message.buttons ?? []) {
    if ('url' in button) lines.push(`- ${button.title}: ${button.url}`);
    else if (button.payload.trim().toLowerCase() === button.title.trim().toLowerCase()) lines.push(`- ${button.title}`);
    else lines.push(`- ${button.title} (reply ${button.payload})`);
  }
  return lines.join('\n');
}

/** The longest Body Twilio takes in one message, on the Messages API and in a TwiML <Message> (error 21617 past it). */
export const TWILIO_MAX_BODY = 1600;

/**
 * A text as the messages Twilio can carry: one when it fits, else parts of at most TWILIO_MAX_BODY characters, cut
 * at the last line break (else space) in a part's second half, never inside a surrogate pair; sent in order.
 */
export function twilioBodies(text: string, max = TWILIO_MAX_BODY): string[] {
  const parts: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const head = rest.slice(0, max);
    const newline = head.lastIndexOf('\n');
    const space = head.lastIndexOf(' ');
    let cut = newline >= max / 2 ? newline : space >= max / 2 ? space : max;
    const code = rest.charCodeAt(cut - 1);
    if (cut === max && code >= 0xd800 && code <= 0xdbff) cut -= 1;
    const part = rest.slice(0, cut).trimEnd();
    if (part) parts.push(part);
    rest = rest.slice(cut).replace(/^[ \n]+/, '');
  }
  if (rest || parts.length === 0) parts.push(rest);
  return parts;
}

const address = (conversation: { id: string; userKey: string }) => ({ userId: conversation.userKey, conversationId: conversation.id });

export const twilioAdapter: ChannelAdapter = {
  turnInput(payload): TurnInput {
    const request = payload as unknown as PlatformRequest;
    return {
      text: request.message,
      newSession: false,
      context: {
        user: { id: request.user_id, firstName: request.username },
        customData: request.metadata ?? {},
        group: null,
      },
    };
  },

  outgoing({ channel, conversation, messages, direction, incoming, replyTo, newId, now, answering }) {
    // Our number is the one the user last wrote to (a config may front several numbers or a WhatsApp sender).
    const ours = (incoming?.metadata as Record<string, unknown> | undefined)?.To;
    const to = typeof incoming?.user_id === 'string' ? incoming.user_id : conversation.userKey;
    // Only a reply made while its request is being answered rides in that request's TwiML; anything else (a
    // turn run later: after an earlier message, or recovered) must be sent, or no one would ever see it.
    const inAnswer = settingsOf(channel).twilio?.replyMode !== 'api' && direction === 'outgoing' && replyTo !== null && answering === true;
    const viaApi = !inAnswer && channel.endpointId !== null;
    // A text longer than Twilio takes in one message goes as several (it would refuse the whole, and it be lost).
    return messages.flatMap((m) => twilioBodies(twilioText(m))).map((body): NewMessage => ({
      id: newId('msg'),
      eventType: TWILIO_MESSAGE_EVENT,
      payload: JSON.stringify({ To: to, From: typeof ours === 'string' ? ours : undefined, Body: body } satisfies TwilioMessage),
      orderingKey: conversation.id,
      idempotencyKey: null,
      createdAt: now,
      endpointIds: viaApi ? [channel.endpointId!] : [],
      conversation: { conversationId: conversation.id, direction, replyTo },
    }));
  },

  carriesAgentMessages: (channel) => channel.endpointId !== null,
  platform: (channel) => channel.provider ?? 'twilio',
  address,
  // Twilio's Messages API takes texts for the user, not lifecycle messages: subscribers of handoff.* get them.
  receivesHandoffEvents: () => false,
};
