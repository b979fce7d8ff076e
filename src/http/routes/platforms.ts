// /api/webhook/config: platform configs (the inbound token shown once at creation and rotation), and
// /api/webhook/messages: the platform conversations' message history (a view over the stored messages).
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { messageText } from '../../handoff/events.ts';
import type { PlatformInput } from '../../channels/platform-settings.ts';
import { platformView } from '../../channels/platforms.ts';
import type { ChannelRecord, DeliveryRecord, MessageRecord, MessageState } from '../../store/store.ts';
import type { AppDeps } from '../deps.ts';
import { pageRequest, pageResult } from '../paging.ts';
import { IdParams, Nullable, OptionalBody, PageQuery, errors, listOf } from '../schemas.ts';

const Signature = Type.Object({
  preset: Type.Union(['zendesk', 'intercom', 'chatwoot', 'standard_webhooks', 'custom'].map((p) => Type.Literal(p)), { description: 'zendesk, intercom, chatwoot and standard_webhooks need only the secret; custom needs header, algorithm, encoding and content' }),
  secret: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'the signing secret, at least 16 characters (standard_webhooks: whsec_ and base64 of 24 to 64 bytes); write only; on update, absent keeps the current one' })),
  header: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  algorithm: Type.Optional(Type.Union([Type.Literal('sha256'), Type.Literal('sha1')])),
  encoding: Type.Optional(Type.Union([Type.Literal('hex'), Type.Literal('base64')])),
  prefix: Type.Optional(Type.String({ maxLength: 50, description: 'e.g. sha256=' })),
  content: Type.Optional(Type.Union([Type.Literal('{body}'), Type.Literal('{timestamp}{body}'), Type.Literal('{timestamp}.{body}')])),
  timestamp_header: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'unix seconds or ISO 8601; 5 minutes tolerance' })),
  tolerance_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
}, { additionalProperties: false });

const FieldPath = Type.String({ minLength: 1, maxLength: 200, description: 'a dotted path into the payload, e.g. sender.id' });
const Fields = Type.Object({
  user_id: Type.Optional(FieldPath), message: Type.Optional(FieldPath), conversation_id: Type.Optional(FieldPath), username: Type.Optional(FieldPath), message_id: Type.Optional(FieldPath),
}, { additionalProperties: false });

const Twilio = Type.Object({
  account_sid: Type.String({ pattern: '^AC[0-9a-fA-F]{32}$', description: 'the account SID on Twilio\'s console: AC and 32 hex digits' }),
  auth_token: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'write only' })),
  public_url: Type.Optional(Nullable(Type.String({ format: 'uri', maxLength: 2048, description: 'the http(s) webhook URL as configured in Twilio, when a proxy changes it' }))),
  reply_mode: Type.Optional(Type.Union([Type.Literal('twiml'), Type.Literal('api')], { description: 'twiml: replies in the answer (default); api: through the Messages API' })),
}, { additionalProperties: false });

const settings = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  provider: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9._-]+$', description: 'the platform\'s name (freshchat, zendesk, twilio, …); default: name' }),
  bot: Type.String({ minLength: 1, maxLength: 100, description: 'the bot that answers (default: the only bot)' }),
  outgoing_webhook_url: Type.String({ format: 'uri', maxLength: 2048 }),
  auth_token: Nullable(Type.String({ minLength: 1, maxLength: 4096, description: 'sent to the platform as Authorization: Bearer (write only)' })),
  custom_headers: Type.Record(Type.String(), Type.String({ maxLength: 4096 }), { maxProperties: 50 }),
  timeout_seconds: Type.Number({ minimum: 1, maximum: 300 }),
  retry_attempts: Nullable(Type.Integer({ minimum: 0, maximum: 50, description: 'retries after the first attempt (null: the delivery engine\'s schedule)' })),
  is_active: Type.Boolean(),
  rate_limit_per_minute: Nullable(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
  max_message_bytes: Nullable(Type.Integer({ minimum: 16, maximum: 1 << 20 })),
  signature: Nullable(Signature),
  fields: Nullable(Fields),
  twilio: Twilio,
};
const { name, ...optional } = settings;
const CreateBody = Type.Object({ name, ...Object.fromEntries(Object.entries(optional).map(([k, v]) => [k, Type.Optional(v)])) }, { additionalProperties: false });
const UpdateBody = Type.Partial(Type.Object({ ...settings, twilio: Type.Partial(Twilio) }), { additionalProperties: false });

const PlatformView = Type.Object({
  id: Type.String(), name: Nullable(Type.String()), provider: Nullable(Type.String()), bot: Type.String(),
  outgoing_webhook_url: Nullable(Type.String()), auth_token_set: Type.Boolean(), custom_headers: Type.Record(Type.String(), Type.String()),
  timeout_seconds: Nullable(Type.Number()), retry_attempts: Nullable(Type.Integer()), is_active: Type.Boolean(),
  rate_limit_per_minute: Nullable(Type.Integer()), max_message_bytes: Nullable(Type.Integer()),
  signature: Nullable(Type.Object({}, { additionalProperties: true })), fields: Nullable(Type.Object({}, { additionalProperties: true })),
  twilio: Nullable(Type.Object({ account_sid: Type.String(), public_url: Nullable(Type.String()), reply_mode: Type.String() })),
  endpoint_id: Nullable(Type.String()), endpoint_active: Nullable(Type.Boolean()),
  incoming_url: Type.String(), signed_url: Nullable(Type.String()), created_at: Type.String(), updated_at: Type.String(),
});
const WithToken = Type.Intersect([PlatformView, Type.Object({
  inbound_token: Nullable(Type.String({ description: 'the platform sends it as Authorization: Bearer (shown only now); null for Twilio, which signs its requests' })),
  secret: Type.Optional(Type.String({ description: 'the whsec_ secret deliveries to the platform are signed with (shown only now)' })),
})]);

const PlatformMessage = Type.Object({
  id: Type.String(), platform: Nullable(Type.String()), config_id: Nullable(Type.String()), conversation_id: Nullable(Type.String()), user_id: Nullable(Type.String()),
  message_type: Nullable(Type.String()), status: Type.String(), message: Type.String(), payload: Type.Unknown(), reply_to: Nullable(Type.String()), created_at: Type.String(),
});

export const platformRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const { platforms, store } = deps;
  const tags = ['platform configs'];
  const view = async (channel: ChannelRecord) => platformView(channel, channel.endpointId ? await store.endpoints.get(channel.endpointId) : null, deps.publicBase());

  app.post('/webhook/config', {
    schema: { tags, summary: 'Connect a chat platform: creates its outgoing endpoint and an inbound token (in this answer only)', body: CreateBody, response: { 201: WithToken, ...errors('BG_ERR_VALIDATION', 'BG_ERR_UNKNOWN_FIELD', 'BG_ERR_CONFLICT', 'BG_ERR_BOT_NOT_FOUND') } },
  }, async (request, reply) => {
    const created = await platforms.create(request.body as PlatformInput);
    reply.code(201);
    return { ...(await view(created.channel)), inbound_token: created.inboundToken, secret: created.signingSecret };
  });
  app.get('/webhook/config', { schema: { tags, summary: 'Platform configs (never their secrets)', response: { 200: Type.Object({ data: Type.Array(PlatformView) }), ...errors() } } }, async () => {
    const all = await platforms.list();
    return { data: await Promise.all(all.map(view)) };
  });
  app.get('/webhook/config/:id', { schema: { tags, summary: 'One platform config', params: IdParams, response: { 200: PlatformView, ...errors('BG_ERR_PLATFORM_NOT_FOUND') } } }, async (request) => view(await platforms.get(request.params.id)));
  app.put('/webhook/config/:id', {
    schema: { tags, summary: 'Change a platform config (fields left out stay as they are)', params: IdParams, body: UpdateBody, response: { 200: PlatformView, ...errors('BG_ERR_PLATFORM_NOT_FOUND', 'BG_ERR_VALIDATION', 'BG_ERR_UNKNOWN_FIELD', 'BG_ERR_CONFLICT') } },
  }, async (request) => view(await platforms.update(request.params.id, request.body as PlatformInput)));
  app.post('/webhook/config/:id/token/rotate', {
    schema: { tags, summary: 'Issue a new inbound token (the old one stops working at once)', params: IdParams, body: OptionalBody(Type.Object({}, { additionalProperties: false })), response: { 200: Type.Object({ inbound_token: Type.String() }), ...errors('BG_ERR_PLATFORM_NOT_FOUND', 'BG_ERR_VALIDATION') } },
  }, async (request) => ({ inbound_token: await platforms.rotateInboundToken(request.params.id) }));
  app.delete('/webhook/config/:id', { schema: { tags, summary: 'Delete a platform config and its endpoint (409 while an event type sends through that endpoint)', params: IdParams, response: { 204: Type.Null(), ...errors('BG_ERR_PLATFORM_NOT_FOUND', 'BG_ERR_CONFLICT') } } }, async (request, reply) => {
    await platforms.delete(request.params.id);
    reply.code(204).send(null);
  });

  app.get('/webhook/messages', {
    schema: {
      tags, summary: 'Messages of platform conversations, newest first',
      querystring: Type.Object({
        platform: Type.Optional(Type.String({ minLength: 1, description: 'a provider or config name' })),
        message_type: Type.Optional(Type.Union([Type.Literal('incoming'), Type.Literal('outgoing'), Type.Literal('agent_outgoing')])),
        status: Type.Optional(Type.Union([Type.Literal('received'), Type.Literal('pending'), Type.Literal('sent'), Type.Literal('failed')])),
        ...PageQuery,
      }, { additionalProperties: false }),
      response: { 200: listOf(PlatformMessage), ...errors('BG_ERR_VALIDATION') },
    },
  }, async (request) => {
    const q = request.query;
    const all = await platforms.list();
    const wanted = q.platform?.toLowerCase();
    const channels = wanted ? all.filter((c) => c.provider?.toLowerCase() === wanted || c.name?.toLowerCase() === wanted) : all;
    const page = pageRequest(q, 'msg');
    const rows = await store.messages.list({ channelIds: channels.map((c) => c.id), direction: q.message_type, state: q.status as MessageState | undefined }, page.request);
    const byId = new Map(all.map((c) => [c.id, c]));
    // Each conversation's config, and its user: a Twilio reply's payload ({To, From, Body}) names no user_id.
    const conversations = new Map<string, { channel: ChannelRecord | undefined; userKey: string | null }>();
    for (const m of rows) {
      const id = m.conversation?.conversationId;
      if (!id || conversations.has(id)) continue;
      const conversation = await store.conversations.get(id);
      conversations.set(id, { channel: byId.get(conversation?.channelId ?? ''), userKey: conversation?.userKey ?? null });
    }
    const states = new Map<string, MessageState>();
    for (const m of rows) states.set(m.id, q.status ?? stateOf(m, await store.deliveries.forMessage(m.id)));
    return pageResult(rows, page, (m) => {
      const conversation = conversations.get(m.conversation?.conversationId ?? '');
      const channel = conversation?.channel;
      const payload = m.payload === null ? null : (JSON.parse(m.payload) as Record<string, unknown>);
      return {
        id: m.id, platform: channel?.provider ?? null, config_id: channel?.id ?? null, conversation_id: m.conversation?.conversationId ?? null,
        user_id: typeof payload?.user_id === 'string' ? payload.user_id : conversation?.userKey ?? null, message_type: m.conversation?.direction ?? null, status: states.get(m.id)!,
        message: messageText(m.payload), payload, reply_to: m.conversation?.replyTo ?? null, created_at: new Date(m.createdAt).toISOString(),
      };
    });
  });
};

/** received, or of an outgoing message: failed if a delivery failed, pending while one waits, else sent. */
function stateOf(m: MessageRecord, deliveries: DeliveryRecord[]): MessageState {
  if (m.conversation?.direction === 'incoming') return 'received';
  if (deliveries.some((d) => d.status === 'failed')) return 'failed';
  if (deliveries.some((d) => d.status === 'pending' || d.status === 'sending')) return 'pending';
  return 'sent';
}
