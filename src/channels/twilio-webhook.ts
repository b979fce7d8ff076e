// Twilio SMS and WhatsApp: POST /api/webhook/twilio/{configId}, form-encoded and signed with X-Twilio-Signature
// (HMAC-SHA1 under the config's auth token over the URL Twilio called and the form parameters). The bot answers
// in TwiML (reply_mode twiml) or through the Messages API (reply_mode api, answered with an empty <Response/>).
// Errors are the status code with an empty <Response/>, so Twilio sends the user nothing of them.
import { parse as parseQuery } from 'node:querystring';
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.ts';
import { BotgateError } from '../errors.ts';
import { holdsNul, parseJsonBody } from '../http/validation.ts';
import { registerErrorFormat, registerErrorPrefix } from '../http/error-bodies.ts';
import type { ChannelRecord, MessageRecord, Store } from '../store/store.ts';
import { verifyTwilio, verifyTwilioBody } from './inbound-signature.ts';
import type { InboundResult, PlatformInbound } from './platform-inbound.ts';
import { settingsOf } from './platform-settings.ts';
import type { PlatformService } from './platforms.ts';
import { twilioRequest, type TwilioParams } from './twilio-adapter.ts';

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';
export const EMPTY_TWIML = `${XML_DECLARATION}<Response/>`;
const TWIML_TYPE = 'text/xml; charset=utf-8';

function asTwiml(reply: FastifyReply): FastifyReply {
  return reply.header('content-type', TWIML_TYPE);
}

registerErrorFormat('twilio', (_error, reply) => {
  asTwiml(reply);
  return EMPTY_TWIML;
});
registerErrorPrefix('/api/webhook/twilio', 'twilio');

// Characters XML 1.0 cannot carry at all (C0 controls but tab and newlines, U+FFFE/U+FFFF, lone surrogates):
// one of them would make Twilio reject the whole document.
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&apos;' };

export function escapeXml(text: string): string {
  return text.replace(NOT_XML, '').replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** TwiML answering with these texts, one <Message> each (twilio.com/docs/messaging/twiml). */
export function twiml(texts: string[]): string {
  if (texts.length === 0) return EMPTY_TWIML;
  return `${XML_DECLARATION}<Response>${texts.map((t) => `<Message>${escapeXml(t)}</Message>`).join('')}</Response>`;
}

/** The text of a stored reply ({To, From, Body}). */
function bodyOf(m: MessageRecord): string | null {
  const body = JSON.parse(m.payload ?? '{}') as { Body?: unknown };
  return typeof body.Body === 'string' ? body.Body : null;
}

/**
 * The URL Twilio signed: the config's public_url (the webhook URL as set in Twilio's console, for a gateway
 * behind a proxy), else the gateway's public_url, else what this request names (protocol and Host header; the
 * proxy headers are not trusted). The query string is the one Twilio sent (bodySHA256 for JSON bodies).
 */
export function signedUrl(channel: ChannelRecord, request: FastifyRequest, config: Config): string {
  const q = request.url.indexOf('?');
  const query = q === -1 ? '' : request.url.slice(q);
  const configured = settingsOf(channel).twilio?.publicUrl;
  if (configured) return query ? configured.split('?')[0] + query : configured;
  const base = config.public_url ? config.public_url.replace(/\/$/, '') : `${request.protocol}://${request.host}`;
  return base + request.url;
}

/** A JSON body's top-level values as Twilio parameters (strings; numbers and booleans as text). */
function jsonParams(body: unknown): TwilioParams {
  const params: TwilioParams = {};
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return params;
  for (const [name, value] of Object.entries(body)) {
    if (typeof value === 'string') params[name] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') params[name] = String(value);
  }
  return params;
}

/**
 * A request Twilio made for another account than the config's (its AccountSid) is refused, even signed right: the
 * config answers for its own account only (the signature is the auth token's, which a leaked token or a token shared
 * between accounts would not keep apart). SIDs' hex digits are compared in either case; a request naming no account
 * is judged by its signature alone.
 */
function checkAccount(channel: ChannelRecord, params: TwilioParams): void {
  const account = settingsOf(channel).twilio?.accountSid;
  if (!account) return;
  const other = [params.AccountSid ?? []].flat().find((sid) => sid.toLowerCase() !== account.toLowerCase());
  if (other !== undefined) throw new BotgateError('BG_ERR_ACCOUNT_MISMATCH', `The request is for Twilio account ${other}, not this config's ${account}`);
}

const isJson = (request: FastifyRequest) => /^application\/json\b/i.test(request.headers['content-type'] ?? '');

const TwimlString = (description: string) => ({ description, content: { 'text/xml': { schema: Type.String({ examples: [EMPTY_TWIML] }) } } });
const errorAnswer = TwimlString('an empty <Response/> with the status code (Twilio sends the user nothing)');

const TwilioBody = Type.Object({
  From: Type.Optional(Type.String({ description: 'the sender: +15551234567, or whatsapp:+15551234567 on WhatsApp' })),
  To: Type.Optional(Type.String({ description: 'our number (the replies are sent from it)' })),
  Body: Type.Optional(Type.String({ description: 'the text (empty for a media-only message)' })),
  MessageSid: Type.Optional(Type.String({ description: 'deduplicates Twilio\'s retries' })),
  AccountSid: Type.Optional(Type.String()),
  NumMedia: Type.Optional(Type.String()),
  ProfileName: Type.Optional(Type.String({ description: 'WhatsApp profile name (the user\'s first name in templates)' })),
  WaId: Type.Optional(Type.String()),
}, { additionalProperties: true, description: 'Twilio\'s webhook parameters; every one but Body is kept in the message metadata (customData in templates)' });

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: string;
  }
}

export interface TwilioWebhookDeps {
  config: Config;
  platforms: PlatformService;
  inbound: PlatformInbound;
  store: Store;
}

export const twilioWebhookRoutes: FastifyPluginAsyncTypebox<{ deps: TwilioWebhookDeps }> = async (app, { deps }) => {
  const { platforms, inbound } = deps;

  /**
   * The replies this request's TwiML carries: those of a turn run with it. A turn run later (after an earlier
   * message of the user, or recovered) sent its replies through the Messages API; a MessageSid seen before is
   * answered with what the original answer carried, its replies that have no delivery.
   */
  async function inAnswer(result: InboundResult): Promise<MessageRecord[]> {
    if (result.received.turn) return result.replies;
    const kept: MessageRecord[] = [];
    for (const r of result.replies) if ((await deps.store.deliveries.list({ messageId: r.id }, { limit: 1 })).length === 0) kept.push(r);
    return kept;
  }

  // This plugin's own parsers (encapsulated): the raw body is kept, since the signature covers it. Twilio sends
  // no text/plain: Fastify's default parser for it would turn a wrong content type into a 400 instead of a 415.
  // A body that cannot be taken waits until the signature is verified (preValidation): an unsigned request is 401
  // whatever it holds, as is one whose parameters the schema would refuse.
  const unparsable = new WeakMap<object, Error>();
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    const form = parseQuery(body as string);
    if (holdsNul(form)) unparsable.set(request, new BotgateError('BG_ERR_VALIDATION', 'Text may not contain the NUL character (U+0000)'));
    done(null, form);
  });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    try {
      done(null, parseJsonBody(body as string, { lossyNumbers: 'text' }));
    } catch (error) {
      unparsable.set(request, error as Error);
      done(null, {});
    }
  });

  const verified = new WeakMap<object, ChannelRecord>();
  /** The config (404), Twilio's signature (401), its account (403), the config's state and rate limit (403, 429), then the body (400). */
  const preValidation = async (request: FastifyRequest) => {
    const { id } = request.params as { id: string };
    const channel = await platforms.byId(id);
    if (!channel || channel.kind !== 'twilio') throw new BotgateError('BG_ERR_PLATFORM_NOT_FOUND', `No Twilio config ${id}`);
    const token = platforms.twilioAuthToken(channel) ?? '';
    const url = signedUrl(channel, request, deps.config);
    const given = request.headers['x-twilio-signature'];
    const signature = Array.isArray(given) ? given[0] : given;
    const valid = isJson(request)
      ? verifyTwilioBody(token, url, request.rawBody ?? '', signature)
      : verifyTwilio(token, url, (request.body ?? {}) as Record<string, string | string[]>, signature);
    if (!valid) throw new BotgateError('BG_ERR_SIGNATURE_INVALID', signature ? 'X-Twilio-Signature does not match this config\'s auth token and URL' : 'X-Twilio-Signature is missing');
    checkAccount(channel, isJson(request) ? jsonParams(request.body) : ((request.body ?? {}) as TwilioParams));
    await inbound.admit(channel);
    const parseError = unparsable.get(request);
    if (parseError) throw parseError;
    verified.set(request, channel);
  };

  app.post('/api/webhook/twilio/:id', {
    bodyLimit: deps.config.platform.body_limit_bytes,
    config: { errorFormat: 'twilio' },
    preValidation,
    schema: {
      tags: ['platform webhook'],
      summary: 'An SMS or WhatsApp message from Twilio (set this URL as the number\'s "A message comes in" webhook)',
      description: 'Verified with X-Twilio-Signature under the config\'s auth token (401 otherwise, and nothing is stored). reply_mode twiml: the bot\'s replies in the TwiML answer; api: an empty <Response/>, the replies sent through the Messages API. Agent messages always go through the Messages API. A MessageSid seen before is answered with the original TwiML.',
      security: [],
      consumes: ['application/x-www-form-urlencoded', 'application/json'],
      params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }),
      body: TwilioBody,
      response: {
        200: TwimlString('TwiML: <Response><Message>…</Message>…</Response>, or an empty <Response/>'),
        400: errorAnswer, 401: errorAnswer, 403: errorAnswer, 404: errorAnswer, 413: errorAnswer, 415: errorAnswer, 429: errorAnswer,
      },
    },
  }, async (request, reply) => {
    const channel = verified.get(request)!;
    const json = isJson(request);
    const message = twilioRequest(json ? jsonParams(request.body) : ((request.body ?? {}) as TwilioParams));
    if (!message) throw new BotgateError('BG_ERR_VALIDATION', 'Not an incoming message: From and Body are required');
    const result = await inbound.receive(channel, message, message.message_id ?? null);
    const texts = settingsOf(channel).twilio?.replyMode === 'api' ? [] : (await inAnswer(result)).map(bodyOf).filter((t): t is string => t !== null);
    asTwiml(reply);
    return twiml(texts);
  });
};
