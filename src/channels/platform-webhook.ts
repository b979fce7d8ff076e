// The generic platform webhook: POST /api/webhook/incoming with the config's inbound token as a bearer token,
// and POST /api/webhook/incoming/{configId} for signed sources (the config's HMAC scheme or Standard
// Webhooks instead of a token). The bot answers in the response, and every reply is also delivered to the
// platform's outgoing webhook URL. Errors: {"success": false, "error": {"code", "message"}}.
import { isUtf8 } from 'node:buffer';
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { BotgateError } from '../errors.ts';
import { installJsonParser, parseJsonBody } from '../http/validation.ts';
import { bearerToken } from '../http/admin-guard.ts';
import { isBlank } from '../ranges.ts';
import { registerErrorFormat, registerErrorPrefix } from '../http/error-bodies.ts';
import type { ChannelRecord, MessageRecord } from '../store/store.ts';
import { signedContentKey, verifySigned, verifyStandardWebhook } from './inbound-signature.ts';
import type { InboundResult, PlatformInbound } from './platform-inbound.ts';
import type { PlatformRequest } from './platform-adapter.ts';
import { settingsOf, signatureScheme, type FieldName } from './platform-settings.ts';
import type { PlatformService } from './platforms.ts';

registerErrorFormat('platform', (error) => ({ success: false, error: { code: error.code, message: error.message } }));
registerErrorPrefix('/api/webhook/incoming', 'platform');

const PlatformError = Type.Object({ success: Type.Literal(false), error: Type.Object({ code: Type.String(), message: Type.String() }) });
const errors = { 400: PlatformError, 401: PlatformError, 403: PlatformError, 404: PlatformError, 413: PlatformError, 415: PlatformError, 429: PlatformError };

const IncomingBody = Type.Object({
  user_id: Type.String({ minLength: 1, maxLength: 256 }),
  username: Type.Optional(Type.String({ maxLength: 256 })),
  message: Type.String({ minLength: 1 }),
  platform: Type.Optional(Type.String({ maxLength: 100 })),
  conversation_id: Type.Optional(Type.String({ maxLength: 256 })),
  timestamp: Type.Optional(Type.String({ maxLength: 64 })),
  metadata: Type.Optional(Type.Object({}, { additionalProperties: true })),
  message_id: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
}, { additionalProperties: false });

const ReplyItem = Type.Object({
  message: Type.String(),
  response_type: Type.String(),
  quick_replies: Type.Optional(Type.Array(Type.String())),
  buttons: Type.Optional(Type.Array(Type.Unknown())),
}, { additionalProperties: true });

const IncomingAnswer = Type.Object({
  success: Type.Literal(true),
  response: Type.Object({
    answer: Type.String({ description: 'the bot\'s replies as text (several are separated by a blank line); empty while an agent has the conversation' }),
    response_type: Type.String({ description: 'text, quick_replies or buttons (the last reply\'s); handoff when the conversation waits for or is held by an agent' }),
    user_info: Type.Object({ user_id: Type.String(), username: Type.Union([Type.String(), Type.Null()]), conversation_id: Type.String(), mode: Type.String() }),
    messages: Type.Array(ReplyItem, { description: 'each reply as delivered to the outgoing webhook' }),
  }),
  message_id: Type.String({ description: 'botgate\'s id of the stored message' }),
  response_id: Type.Union([Type.String(), Type.Null()], { description: 'the id of the first reply (null when none)' }),
  duplicate: Type.Boolean({ description: 'true when this message_id was seen before: the original reply, not processed again' }),
});

declare module 'fastify' {
  interface FastifyRequest {
    platformChannel?: ChannelRecord;
  }
}

export interface PlatformWebhookDeps {
  config: Config;
  clock: Clock;
  platforms: PlatformService;
  inbound: PlatformInbound;
}

/** The webhook's answer from the stored message and its replies. */
export function incomingAnswer(request: PlatformRequest, result: InboundResult) {
  const items = result.replies.map(replyItem).filter((r): r is NonNullable<typeof r> => r !== null);
  const mode = result.received.turn?.conversation.mode ?? result.received.conversation.mode;
  return {
    success: true as const,
    response: {
      answer: items.map((i) => i.message).join('\n\n'),
      response_type: mode !== 'bot' ? 'handoff' : (items.at(-1)?.response_type ?? 'text'),
      user_info: { user_id: request.user_id, username: request.username ?? null, conversation_id: request.conversation_id ?? result.received.conversation.id, mode },
      messages: items,
    },
    message_id: result.received.message.id,
    response_id: result.replies[0]?.id ?? null,
    duplicate: result.received.duplicate,
  };
}

function replyItem(m: MessageRecord) {
  const body = JSON.parse(m.payload ?? '{}') as Record<string, unknown>;
  if (typeof body.message !== 'string') return null;
  const { user_id: _u, conversation_id: _c, platform: _p, timestamp: _t, ...item } = body;
  return item as { message: string; response_type: string };
}

/** A dotted path into a JSON value (`sender.id`, `messages.0.text`). */
function pick(value: unknown, path: string): unknown {
  let at = value;
  for (const key of path.split('.')) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

/** A signed source's payload as the generic format, through the config's field paths (absent: the generic names). */
export function mapFields(body: unknown, fields: Partial<Record<FieldName, string>> | null): PlatformRequest {
  const read = (name: FieldName) => {
    const value = pick(body, fields?.[name] ?? name);
    return typeof value === 'number' ? String(value) : typeof value === 'string' ? value : undefined;
  };
  // As the generic format's schema: ids and names at most 256 characters.
  const short = (name: FieldName) => limitedId(`the ${name} at ${fields?.[name] ?? name}`, read(name));
  const userId = short('user_id');
  const message = read('message');
  if (isBlank(userId)) throw new BotgateError('BG_ERR_VALIDATION', `body has no user id at ${fields?.user_id ?? 'user_id'} (missing or blank)`);
  if (isBlank(message)) throw new BotgateError('BG_ERR_VALIDATION', `body has no message text at ${fields?.message ?? 'message'} (missing or blank)`);
  const metadata = fields ? {} : pick(body, 'metadata');
  return {
    user_id: userId,
    message,
    username: short('username'),
    conversation_id: short('conversation_id'),
    message_id: short('message_id'),
    metadata: metadata && typeof metadata === 'object' ? (metadata as Record<string, unknown>) : {},
  };
}

export const platformWebhookRoutes: FastifyPluginAsyncTypebox<{ deps: PlatformWebhookDeps }> = async (app, { deps }) => {
  const { platforms, inbound } = deps;
  // A platform's message is taken, not refused and lost: a number a double cannot hold (a long id) is kept as the
  // string of its digits, as on the signed sources below.
  installJsonParser(app, { lossyNumbers: 'text' });
  const routeOptions = { bodyLimit: deps.config.platform.body_limit_bytes, config: { errorFormat: 'platform' } };

  // Bearer token first: an unauthenticated request is refused before its body is read.
  const authenticate = async (request: FastifyRequest) => {
    const token = bearerToken(request);
    if (!token) throw new BotgateError('BG_ERR_TOKEN_INVALID', 'Send the platform config\'s inbound token as Authorization: Bearer <token>', { headers: { 'www-authenticate': 'Bearer' } });
    const channel = await platforms.byInboundToken(token);
    if (!channel || channel.kind !== 'platform') throw new BotgateError('BG_ERR_TOKEN_INVALID', 'The inbound token belongs to no platform config', { headers: { 'www-authenticate': 'Bearer' } });
    await inbound.admit(channel);
    request.platformChannel = channel;
  };

  app.post('/api/webhook/incoming', {
    ...routeOptions,
    onRequest: authenticate,
    schema: {
      tags: ['platform webhook'],
      summary: 'A user message from a chat platform (Authorization: Bearer <inbound_token of its platform config>)',
      description: 'The bot answers in the response; each reply is also delivered to the config\'s outgoing_webhook_url as {user_id, conversation_id, platform, message, response_type, timestamp}. A message_id (or metadata.message_id, or an Idempotency-Key header) seen in the last 24 h is answered with the original reply.',
      security: [],
      body: IncomingBody,
      response: { 200: IncomingAnswer, ...errors },
    },
  }, async (request) => {
    const channel = request.platformChannel!;
    const body = request.body as PlatformRequest;
    for (const field of ['user_id', 'message'] as const) {
      if (isBlank(body[field])) throw new BotgateError('BG_ERR_VALIDATION', `body.${field} is blank (only white space or format characters)`);
    }
    if (body.platform !== undefined && !namesPlatform(channel, body.platform)) {
      throw new BotgateError('BG_ERR_PLATFORM_MISMATCH', `The token belongs to platform ${channel.provider}; the body says ${body.platform}`);
    }
    const key = body.message_id ?? metadataId(body.metadata) ?? headerValue('Idempotency-Key', request.headers['idempotency-key']);
    return incomingAnswer(body, await inbound.receive(channel, body, key ?? null));
  });

  // Signed sources: the raw body's bytes are kept for the signature (which covers them as sent), then parsed.
  await app.register(async (plugin) => {
    const signed = plugin.withTypeProvider<TypeBoxTypeProvider>();
    signed.removeContentTypeParser('application/json');
    // The signature is checked before the body's JSON is judged (a forged request is 401 whatever it holds): a
    // parse error waits here until the preValidation hook has verified the signature.
    const unparsable = new WeakMap<object, Error>();
    const rawBodies = new WeakMap<object, Buffer>();
    const verified = new WeakMap<object, { channel: ChannelRecord; scheme: ReturnType<typeof signatureScheme>; signedKey: string | undefined }>();
    signed.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
      rawBodies.set(request, body as Buffer);
      try {
        // As on the generic webhook: bytes that are not UTF-8 would decode to U+FFFD (two ids becoming one).
        if (!isUtf8(body as Buffer)) throw new BotgateError('BG_ERR_VALIDATION', 'The body is not valid UTF-8');
        done(null, parseJsonBody((body as Buffer).toString('utf8'), { lossyNumbers: 'text' }));
      } catch (error) {
        unparsable.set(request, error as Error);
        done(null, {});
      }
    });
    signed.post('/api/webhook/incoming/:id', {
      ...routeOptions,
      preValidation: async (request) => {
        const channel = await platforms.byId((request.params as { id: string }).id);
        if (!channel || channel.kind !== 'platform') throw new BotgateError('BG_ERR_PLATFORM_NOT_FOUND', `No platform config ${(request.params as { id: string }).id}`);
        const signature = settingsOf(channel).signature;
        if (!signature) throw new BotgateError('BG_ERR_SIGNATURE_INVALID', 'This platform config has no signature scheme; use /api/webhook/incoming with its inbound token');
        const secret = platforms.signatureSecret(channel)!;
        const scheme = signatureScheme(signature);
        const now = deps.clock.now();
        const raw = rawBodies.get(request) ?? Buffer.alloc(0);
        const verdict = scheme === 'standard_webhooks'
          ? verifyStandardWebhook(secret, request.headers, raw, now, signature.tolerance_seconds)
          : verifySigned(scheme, secret, request.headers, raw, now);
        if (!verdict.ok) throw new BotgateError('BG_ERR_SIGNATURE_INVALID', `The signature is not valid: ${verdict.reason}`);
        const parseError = unparsable.get(request);
        if (parseError) throw parseError;
        verified.set(request, { channel, scheme, signedKey: scheme === 'standard_webhooks' ? undefined : signedContentKey(scheme, request.headers, raw) });
      },
      schema: {
        tags: ['platform webhook'],
        summary: 'A user message from a signed source (Zendesk, Intercom, Chatwoot, Standard Webhooks or a custom HMAC scheme set on the config)',
        description: 'Verified with the config\'s signature scheme (401 otherwise, and nothing is stored); the payload is read through the config\'s field paths.',
        security: [],
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }),
        body: Type.Object({}, { additionalProperties: true }),
        response: { 200: IncomingAnswer, ...errors },
      },
    }, async (request) => {
      const { channel, scheme, signedKey } = verified.get(request)!;
      await inbound.admit(channel);
      const message = mapFields(request.body, settingsOf(channel).fields);
      // What the signature covers first (the body's ids, Standard Webhooks' webhook-id, else the signed timestamp and
      // body): a replay has the original's key. Idempotency-Key last: no scheme signs it, so a replay could bring a new one.
      const key = message.message_id ?? metadataId(message.metadata)
        ?? (scheme === 'standard_webhooks' ? headerValue('webhook-id', request.headers['webhook-id']) : signedKey)
        ?? headerValue('Idempotency-Key', request.headers['idempotency-key']);
      return incomingAnswer(message, await inbound.receive(channel, message, key ?? null));
    });
  });
};

function namesPlatform(channel: ChannelRecord, platform: string): boolean {
  const wanted = platform.toLowerCase();
  return wanted === channel.provider?.toLowerCase() || wanted === channel.name?.toLowerCase();
}

/** An id or key the store keeps (at most MAX_ID characters), else a 400 naming where it came from. */
const MAX_ID = 256;
function limitedId(where: string, id: string | undefined): string | undefined {
  if (id && id.length > MAX_ID) throw new BotgateError('BG_ERR_VALIDATION', `${where} is longer than ${MAX_ID} characters`);
  return id;
}

function metadataId(metadata: Record<string, unknown> | undefined): string | undefined {
  const raw = metadata?.message_id;
  return limitedId('metadata.message_id', typeof raw === 'string' && raw ? raw : typeof raw === 'number' ? String(raw) : undefined);
}

/** A dedup header's value; one longer than a message_id may be is refused (ignored, the retry would run twice). */
function headerValue(name: string, value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return limitedId(name, v || undefined);
}
