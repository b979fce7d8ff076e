// /api/messages: publish (single and batch, idempotent for 24 h) and the message history.
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { BotgateError } from '../../errors.ts';
import { checkPublishable, EVENT_TYPE_PATTERN } from '../../delivery/event-types.ts';
import type { PublishInput } from '../../delivery/outbox.ts';
import type { MessageRecord, PublishedMessage } from '../../store/store.ts';
import type { AppDeps } from '../deps.ts';
import { pageRequest, pageResult, parseWindow } from '../paging.ts';
import { AnyObject, DeliveryView, IdParams, MessageView, Nullable, PageQuery, TimeRangeQuery, errors, listOf } from '../schemas.ts';
import { deliveryView } from '../../delivery/views.ts';

const PublishBody = Type.Object(
  {
    event_type: Type.String({ minLength: 1, maxLength: 200, pattern: EVENT_TYPE_PATTERN }),
    payload: AnyObject({ description: 'the JSON object sent, byte for byte, to every endpoint' }),
    endpoint_ids: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 100, description: 'only these endpoints (their filters still apply)' })),
    ordering_key: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200, description: 'FIFO key on ordered endpoints' }))),
    idempotency_key: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);

/** What publishing answers (POST /api/messages, each item of a batch, an endpoint's test send). */
export const Published = Type.Object({
  id: Type.String(),
  event_type: Type.String(),
  ordering_key: Nullable(Type.String()),
  delivery_ids: Type.Array(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
});

export function publishedView(p: PublishedMessage) {
  return { id: p.message.id, event_type: p.message.eventType, ordering_key: p.message.orderingKey, delivery_ids: p.deliveryIds, created_at: new Date(p.message.createdAt).toISOString() };
}

export function messageView(m: MessageRecord) {
  return {
    id: m.id,
    event_type: m.eventType,
    payload: m.payload === null ? null : (JSON.parse(m.payload) as Record<string, unknown>),
    ordering_key: m.orderingKey,
    created_at: new Date(m.createdAt).toISOString(),
    expired: m.expired,
    conversation_id: m.conversation?.conversationId ?? null,
    direction: m.conversation?.direction ?? null,
    reply_to: m.conversation?.replyTo ?? null,
  };
}

type PublishBodyValue = { event_type: string; payload: Record<string, unknown>; endpoint_ids?: string[]; ordering_key?: string | null; idempotency_key?: string };

export const messageRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const { outbox, store, config } = deps;
  const tags = ['messages'];

  /**
   * `headerKey`: the request's Idempotency-Key as stored (a batch's, with the item's place), used when the body has none;
   * `field`: where the message is in the body, for errors.
   */
  async function toInput(body: PublishBodyValue, field: string, headerKey?: string): Promise<PublishInput> {
    const input = inputOf(body, field, headerKey);
    for (const id of body.endpoint_ids ?? []) {
      if (!(await store.endpoints.get(id))) throw new BotgateError('BG_ERR_ENDPOINT_NOT_FOUND', `No endpoint ${id}`);
    }
    return input;
  }

  /** toInput without the endpoint ids' check (a message naming none needs no store read). */
  function inputOf(body: PublishBodyValue, field: string, headerKey?: string): PublishInput {
    checkPublishable(`${field}.event_type`, body.event_type);
    return {
      eventType: body.event_type,
      payload: body.payload,
      endpointIds: body.endpoint_ids,
      orderingKey: body.ordering_key ?? null,
      idempotencyKey: body.idempotency_key ? `api:${body.idempotency_key}` : (headerKey ?? null),
    };
  }

  app.post('/messages', {
    config: { jsonAnyKeysUnder: [['payload']] },
    schema: {
      tags, summary: 'Publish a message: stored with one delivery per matching active endpoint before the 202',
      headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }),
      body: PublishBody,
      response: { 202: Published, ...errors('BG_ERR_VALIDATION', 'BG_ERR_EVENT_TYPE_RESERVED', 'BG_ERR_UNKNOWN_FIELD', 'BG_ERR_INVALID_JSON', 'BG_ERR_PAYLOAD_TOO_LARGE', 'BG_ERR_ENDPOINT_NOT_FOUND') },
    },
  }, async (request, reply) => {
    const key = request.headers['idempotency-key'];
    const published = await outbox.publish(await toInput(request.body, 'body', key === undefined ? undefined : `api:${key}`));
    if (!published.duplicate) deps.metrics.countPublished(1);
    reply.code(202).header('idempotent-replayed', String(published.duplicate));
    return publishedView(published);
  });

  app.post('/messages/batch', {
    bodyLimit: config.api.batch_body_limit_bytes,
    config: { jsonAnyKeysUnder: [['messages', '*', 'payload']] },
    schema: {
      tags, summary: `Publish up to ${config.api.max_batch_size} messages in one transaction`,
      headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'the batch\'s key: each message without its own idempotency_key is keyed by it and its place in the batch' })) }),
      body: Type.Object({ messages: Type.Array(PublishBody, { minItems: 1 }) }, { additionalProperties: false }),
      response: { 202: Type.Object({ messages: Type.Array(Published) }), ...errors('BG_ERR_VALIDATION', 'BG_ERR_UNKNOWN_FIELD', 'BG_ERR_BATCH_TOO_LARGE', 'BG_ERR_PAYLOAD_TOO_LARGE', 'BG_ERR_ENDPOINT_NOT_FOUND') },
    },
  }, async (request, reply) => {
    const items = request.body.messages;
    if (items.length > config.api.max_batch_size) {
      throw new BotgateError('BG_ERR_BATCH_TOO_LARGE', `A batch holds at most ${config.api.max_batch_size} messages; this one has ${items.length}`);
    }
    // A retried batch (same Idempotency-Key) gets its original answer: the n-th message's key is the batch's and n.
    const key = request.headers['idempotency-key'];
    const inputs: PublishInput[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      const field = `body.messages.${i}`;
      const itemKey = key === undefined ? undefined : `api-batch:${key}:${i}`;
      inputs.push(item.endpoint_ids ? await toInput(item, field, itemKey) : inputOf(item, field, itemKey));
    }
    const published = await outbox.publishMany(inputs);
    deps.metrics.countPublished(published.filter((p) => !p.duplicate).length);
    reply.code(202).header('idempotent-replayed', String(published.every((p) => p.duplicate)));
    return { messages: published.map(publishedView) };
  });

  app.get('/messages', {
    schema: {
      tags, summary: 'Message history, newest first',
      querystring: Type.Object({
        event_type: Type.Optional(Type.String()),
        endpoint_id: Type.Optional(Type.String()),
        conversation_id: Type.Optional(Type.String()),
        direction: Type.Optional(Type.Union([Type.Literal('incoming'), Type.Literal('outgoing'), Type.Literal('agent_outgoing')])),
        ...TimeRangeQuery,
        ...PageQuery,
      }, { additionalProperties: false }),
      response: { 200: listOf(MessageView), ...errors('BG_ERR_VALIDATION') },
    },
  }, async (request) => {
    const q = request.query;
    const page = pageRequest(q, 'msg');
    const rows = await store.messages.list({
      eventType: q.event_type, endpointId: q.endpoint_id, conversationId: q.conversation_id, direction: q.direction, ...parseWindow(q),
    }, page.request);
    return pageResult(rows, page, messageView);
  });

  app.get('/messages/:id', {
    schema: {
      tags, summary: 'A message with its deliveries',
      params: IdParams,
      response: { 200: Type.Intersect([MessageView, Type.Object({ deliveries: Type.Array(DeliveryView) })]), ...errors('BG_ERR_MESSAGE_NOT_FOUND') },
    },
  }, async (request) => {
    const message = await store.messages.get(request.params.id);
    if (!message) throw new BotgateError('BG_ERR_MESSAGE_NOT_FOUND', `No message ${request.params.id}`);
    return { ...messageView(message), deliveries: (await store.deliveries.forMessage(message.id)).map(deliveryView) };
  });
};
