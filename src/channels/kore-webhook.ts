// POST /chatbot/hooks/{botId}[/hookInstance/{webHookId}]: the Kore.ai-compatible webhook channel. The JWT is
// checked, the message stored (then an async channel answers 200 at once), the turn runs; a sync channel
// answers with the bot's replies. Errors in Kore's shape: {"errors":[{"msg","code"}],"bg_code"}.
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { TurnService } from '../conversation/turns.ts';
import { BotgateError } from '../errors.ts';
import { emailValue } from '../identities.ts';
import { registerErrorFormat, registerErrorPrefix } from '../http/error-bodies.ts';
import { installJsonParser } from '../http/validation.ts';
import { isBlank } from '../ranges.ts';
import type { ChannelRecord, MessageRecord, Received } from '../store/store.ts';
import type { AppService } from './apps.ts';
import type { ChannelService } from './channels.ts';
import type { KoreRequest } from './kore-adapter.ts';
import { bearerOf, checkClaims, KoreAuthError, verifyKoreToken } from './kore-auth.ts';
import { koreSyncBody, type KoreText } from './kore-format.ts';

registerErrorFormat('kore', (error) => ({ errors: [{ msg: error.message, code: error.statusCode }], bg_code: error.code }));
registerErrorPrefix('/chatbot/', 'kore');

const Loose = (properties: Parameters<typeof Type.Object>[0], required = false) => {
  const schema = Type.Object(properties, { additionalProperties: true });
  return required ? schema : Type.Optional(schema);
};

// Lenient about fields we do not read (Kore.ai clients send more than this); strict about the ones we do.
const KoreBody = Type.Object(
  {
    session: Loose({ new: Type.Optional(Type.Boolean()) }),
    message: Loose({ text: Type.String(), attachments: Type.Optional(Type.Array(Type.Object({}, { additionalProperties: true }), { maxItems: 20 })) }, true),
    from: Loose({
      id: Type.String({ minLength: 1, maxLength: 256 }),
      userInfo: Loose({ firstName: Type.Optional(Type.String()), lastName: Type.Optional(Type.String()), email: Type.Optional(Type.String()) }),
    }, true),
    to: Loose({ id: Type.Optional(Type.String()), groupInfo: Loose({ id: Type.Optional(Type.String()), name: Type.Optional(Type.String()) }) }),
    customData: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { additionalProperties: true },
);

const KoreError = Type.Object({ errors: Type.Array(Type.Object({ msg: Type.String(), code: Type.Integer() })), bg_code: Type.String() });

export interface KoreWebhookDeps {
  config: Config;
  clock: Clock;
  apps: AppService;
  channels: ChannelService;
  turns: TurnService;
}

export const koreWebhookRoutes: FastifyPluginAsyncTypebox<{ deps: KoreWebhookDeps }> = async (app, { deps }) => {
  // A Kore.ai client's message is taken, not refused and lost: a number a double cannot hold (a long id in
  // customData) is kept as the string of its digits.
  installJsonParser(app, { lossyNumbers: 'text' });
  const routeOptions = {
    bodyLimit: deps.config.kore.body_limit_bytes,
    config: { errorFormat: 'kore' },
  };
  const common = {
    tags: ['kore.ai channel'],
    summary: 'A user message from a Kore.ai Webhook channel client (Authorization: bearer <JWT signed with the app client secret>)',
    description: 'Sync channel: answers {"text": string | [...], "endOfTask"?, "endReason"?}. Async channel: answers 200 with an empty body and sends the replies to POST_URL.',
    security: [],
    body: KoreBody,
    response: { 200: Type.Unknown(), 400: KoreError, 401: KoreError, 404: KoreError, 413: KoreError, 415: KoreError },
  };

  // The channel and the token are checked before the body is read (onRequest): a caller without a valid token
  // learns nothing about the body the route wants — not its fields, nor its size, type or JSON; the userIdentity
  // claim is checked against from.id once the body is read.
  const checked = new WeakMap<object, ChannelRecord>();
  const onRequest = async (request: { params: unknown; headers: { authorization?: string }; raw: object }) => {
    const { botId, webHookId } = request.params as { botId: string; webHookId?: string };
    const channel = await deps.channels.resolve(botId, webHookId);
    await authenticate(channel, null, request.headers.authorization);
    checked.set(request.raw, channel);
  };

  async function handle(channel: ChannelRecord, body: KoreRequest, authorization: string | undefined) {
    // A blank id is no one (every blank id would be one user); a blank text may come with attachments, as an empty one.
    if (isBlank(body.from.id)) throw new BotgateError('BG_ERR_VALIDATION', 'body.from.id is blank (only white space or format characters)');
    await authenticate(channel, body.from.id, authorization);
    const email = body.from.userInfo?.email === undefined ? null : emailValue(body.from.userInfo.email);
    const received = await deps.turns.handle(channel, {
      userKey: body.from.id,
      identities: [{ kind: 'kore', value: `${channel.botId}:${body.from.id}` }, ...(email ? [{ kind: 'email', value: email }] : [])],
      payload: body as unknown as Record<string, unknown>,
      eventType: 'message.received',
    });
    return { channel, received };
  }

  // Tokens whose signature verified, with the key that verified them: a client reuses its token for many
  // requests, and the HMAC (through WebCrypto) costs more than the rest of the check. Claims are checked anew.
  const verified = new Map<string, { key: Uint8Array; claims: Record<string, unknown> }>();

  /** The token of a request to this channel; `fromId` null: all but its userIdentity claim (the body is not read yet). */
  async function authenticate(channel: ChannelRecord, fromId: string | null, authorization: string | undefined) {
    const token = bearerOf(authorization);
    if (!token) throw new BotgateError('BG_ERR_TOKEN_INVALID', 'Send Authorization: bearer <JWT signed with the app client secret>');
    const key = await deps.apps.signingKey(channel.appId);
    if (!key) throw new BotgateError('BG_ERR_TOKEN_INVALID', 'The channel\'s app no longer exists');
    const expected = { clientId: channel.appId, fromId, skewSeconds: deps.config.kore.clock_skew_seconds, now: deps.clock.now() };
    try {
      const cached = verified.get(token);
      if (cached && cached.key === key) {
        checkClaims(cached.claims, expected);
        return;
      }
      const { claims } = await verifyKoreToken(token, key, expected);
      if (verified.size > 10_000) verified.clear();
      verified.set(token, { key, claims });
    } catch (error) {
      if (error instanceof KoreAuthError) throw new BotgateError('BG_ERR_TOKEN_INVALID', error.message);
      throw error;
    }
  }

  /**
   * Sync: the replies of this message's turn — committed with the message in the common case; else (earlier
   * messages of the conversation were waiting) those committed when its turn is done or the timeout hits.
   */
  async function syncAnswer(channel: ChannelRecord, received: Received) {
    let replies: MessageRecord[];
    if (received.turn) {
      replies = received.turn.published.map((p) => p.message).filter((m) => m.conversation?.replyTo === received.message.id);
    } else {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        deps.turns.process(received.conversation.id),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, channel.syncTimeoutSeconds * 1000))),
      ]);
      clearTimeout(timer);
      replies = await deps.turns.replies(received.message.id);
    }
    const texts: KoreText[] = [];
    let end: { reason: string } | null = null;
    for (const reply of replies) {
      const body = JSON.parse(reply.payload ?? '{}') as { text?: KoreText; endOfTask?: boolean; endReason?: string };
      if (body.text !== undefined) texts.push(body.text);
      if (body.endOfTask) end = { reason: body.endReason ?? 'Fulfilled' };
    }
    return koreSyncBody(texts, end);
  }

  const handler = async (request: { body: unknown; headers: { authorization?: string }; raw: object }, reply: { code(n: number): unknown; send(b?: unknown): unknown; header(k: string, v: string): unknown }) => {
    const { channel, received } = await handle(checked.get(request.raw)!, request.body as KoreRequest, request.headers.authorization);
    if (channel.mode === 'async') {
      // Stored (with its turn, in the common case): acknowledge; replies go to POST_URL through the delivery engine.
      reply.code(200);
      return reply.send('');
    }
    return syncAnswer(channel, received);
  };

  const BotId = Type.String({ minLength: 1, maxLength: 100 });
  app.post('/chatbot/hooks/:botId', { ...routeOptions, onRequest, schema: { ...common, params: Type.Object({ botId: BotId }) } }, handler);
  app.post('/chatbot/hooks/:botId/hookInstance/:webHookId', { ...routeOptions, onRequest, schema: { ...common, params: Type.Object({ botId: BotId, webHookId: BotId }) } }, handler);
};
