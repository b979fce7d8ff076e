// What producers call (a producer API key: Authorization: Bearer or X-Api-Key): POST /api/events, single or
// batch, and the legacy BotOptimizer routes /kore-webhook and /feedback, kept to their contract (DESIGN.md) but
// decided by the same policy. And the click links /r/{token}, open to anyone holding a signed token.
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox, Static } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BotgateError } from '../../errors.ts';
import { MAX_HOURS, type Decision, type EventInput } from '../../notify/types.ts';
import { hours } from '../../notify/settings.ts';
import { KORE_NOTIFY_CHANNELS } from '../../notify/kore-notify.ts';
import { bearerToken } from '../admin-guard.ts';
import type { AppDeps } from '../deps.ts';
import { AnyObject, Nullable, errors } from '../schemas.ts';
import { DAY } from '../../notify/batch.ts';

const LINK_TTL_MS = 30 * DAY;
/** How far ahead of this clock an occurred_at may be (a producer's clock running fast), not more. */
const FUTURE_SKEW_MS = 5 * 60_000;

/** OpenAPI: these routes take a producer key, not the admin token. */
const PRODUCER = [{ producerKey: [] }];

const EventBody = Type.Object({
  user_id: Type.String({ minLength: 1, maxLength: 200 }),
  event_type: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.:-]+$' }),
  params: Type.Optional(AnyObject({ description: 'facts for templates and dedup fields' })),
  idempotency_key: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  occurred_at: Type.Optional(Type.String({ format: 'date-time', description: 'when it happened: decided as of then (replays); default now; at most 5 minutes ahead' })),
  deliver_at: Type.Optional(Type.String({ format: 'date-time', description: 'hold until then (a scheduled event)' })),
}, { additionalProperties: false });

const DecisionView = Type.Object({
  id: Type.String(),
  user_id: Type.String(),
  event_type: Type.String(),
  decision: Type.Union([Type.Literal('notify'), Type.Literal('skip'), Type.Literal('defer')]),
  reason: Type.String(),
  score: Nullable(Type.Number()),
  variant: Nullable(Type.String()),
  notification_id: Nullable(Type.String()),
  decided_at: Type.String(),
  duplicate_of: Nullable(Type.String()),
});

const DecisionsView = Type.Object({ decisions: Type.Array(DecisionView) });

const view = (d: Decision) => ({
  id: d.id, user_id: d.userId, event_type: d.eventType, decision: d.decision, reason: d.reason, score: d.score, variant: d.variant,
  notification_id: d.notificationId, decided_at: new Date(d.decidedAt).toISOString(), duplicate_of: d.duplicateOf,
});

/**
 * occurred_at is when the event happened (a replay decides as of then); one in the future would put weight on
 * engagement counts that decays for months, so it is refused. deliver_at schedules. params.kore_channel picks the
 * channel of Kore.ai's notify API, which refuses any other: a typo would be retried for days, so it is a 400 now.
 */
function refuseUnusable(events: EventInput[], now: number): EventInput[] {
  events.forEach((e, i) => {
    const field = (name: string) => (events.length > 1 ? `events[${i}].${name}` : name);
    if (e.occurredAt !== null && e.occurredAt !== undefined && e.occurredAt > now + FUTURE_SKEW_MS) {
      throw new BotgateError('BG_ERR_VALIDATION', `${field('occurred_at')} is in the future (${new Date(e.occurredAt).toISOString()}); it says when the event happened; schedule with deliver_at`);
    }
    // As far ahead as a type's TTL may reach: past it, the times a notification carries would not be dates.
    if (e.deliverAt !== null && e.deliverAt !== undefined && e.deliverAt > now + hours(MAX_HOURS)) {
      throw new BotgateError('BG_ERR_VALIDATION', `${field('deliver_at')} is more than a year ahead (${new Date(e.deliverAt).toISOString()})`);
    }
    const channel = e.params.kore_channel;
    if (channel !== undefined && !(KORE_NOTIFY_CHANNELS as readonly unknown[]).includes(channel)) {
      throw new BotgateError('BG_ERR_VALIDATION', `${field('params.kore_channel')} must be ${KORE_NOTIFY_CHANNELS.join(' or ')} (Kore.ai's notify API takes no other), got ${JSON.stringify(channel)}`);
    }
  });
  return events;
}

/** `headerKey`: the request's Idempotency-Key (a batch's with the event's place), used when the body has none. */
function toEvent(body: Static<typeof EventBody>, headerKey?: string): EventInput {
  return {
    userId: body.user_id, eventType: body.event_type, params: body.params ?? {}, idempotencyKey: body.idempotency_key ?? headerKey ?? null,
    occurredAt: body.occurred_at ? Date.parse(body.occurred_at) : null, deliverAt: body.deliver_at ? Date.parse(body.deliver_at) : null,
  };
}

export const notifyProducerRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const tags = ['notifications'];
  // On the producer routes only (not the click links); before the body is read.
  // A callback hook: the key check is synchronous while the keys are cached, so most requests skip a promise.
  const requireProducerKey = (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void) => {
    const header = request.headers['x-api-key'];
    const key = bearerToken(request) ?? (typeof header === 'string' ? header : null);
    const refuse = () => new BotgateError('BG_ERR_UNAUTHORIZED', key ? 'The producer key is not valid' : 'Send a producer key as Authorization: Bearer <key> or X-Api-Key', {
      headers: { 'www-authenticate': 'Bearer' },
    });
    if (!key) return done(refuse());
    const valid = deps.notify.producerKeyValid(key, request.raw.socket);
    if (typeof valid === 'boolean') return done(valid ? undefined : refuse());
    valid.then((ok) => done(ok ? undefined : refuse()), (error: Error) => done(error));
  };

  const maxBatch = deps.config.notify.max_batch;
  // Each answer is serialized by the serializer of its own form: the route's schema is a union of the two, whose
  // serializer would first run a validator over the answer to find out which form it is.
  type Serializer = (payload: { [key: string]: unknown }) => string;
  let serializeOne: Serializer | undefined;
  let serializeBatch: Serializer | undefined;
  app.post('/api/events', {
    onRequest: requireProducerKey,
    bodyLimit: deps.config.api.batch_body_limit_bytes, // a batch route, like POST /api/messages/batch
    schema: {
      tags, security: PRODUCER, summary: 'Events in, one decision each: one event, or {events: [...]} (a batch, in order)',
      headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'the idempotency_key of an event without one; in a batch, <key>:<n> for the n-th event (from 0)' })) }),
      body: Type.Union([EventBody, Type.Object({ events: Type.Array(EventBody, { minItems: 1 }) }, { additionalProperties: false })]),
      response: {
        200: Type.Union([DecisionView, DecisionsView]),
        ...errors('BG_ERR_VALIDATION', 'BG_ERR_UNKNOWN_FIELD', 'BG_ERR_UNAUTHORIZED', 'BG_ERR_BATCH_TOO_LARGE', 'BG_ERR_PAYLOAD_TOO_LARGE', 'BG_ERR_UNSUPPORTED_MEDIA_TYPE'),
      },
    },
  }, async (request, reply) => {
    const body = request.body;
    const key = request.headers['idempotency-key'];
    if ('events' in body) {
      if (body.events.length > maxBatch) throw new BotgateError('BG_ERR_BATCH_TOO_LARGE', `A batch holds at most ${maxBatch} events; this one has ${body.events.length}`);
      const events = body.events.map((e, i) => toEvent(e, key === undefined ? undefined : `${key}:${i}`));
      const decisions = (await deps.notify.engine.decide(refuseUnusable(events, deps.clock.now()))).map(view);
      reply.serializer((serializeBatch ??= reply.compileSerializationSchema(DecisionsView as unknown as Record<string, unknown>, '200')));
      return { decisions };
    }
    const decision = view((await deps.notify.engine.decide(refuseUnusable([toEvent(body, key)], deps.clock.now())))[0]);
    reply.serializer((serializeOne ??= reply.compileSerializationSchema(DecisionView as unknown as Record<string, unknown>, '200')));
    return decision;
  });

  // The legacy BotOptimizer contract: the caller shows the text; botgate sends nothing itself here.
  app.post('/kore-webhook', {
    onRequest: requireProducerKey,
    schema: {
      tags, security: PRODUCER, summary: 'Legacy BotOptimizer: should this event be shown? The text, or skipped with the score',
      body: Type.Object({
        userInfo: Type.Object({ email: Type.String({ minLength: 3, maxLength: 320 }) }),
        eventType: Type.String({ minLength: 1, maxLength: 100 }), // the legacy contract: any name (a config file may use spaces)
        parameters: Type.Optional(AnyObject()),
      }),
      response: {
        200: Type.Union([
          Type.Object({ response: Type.Object({ text: Type.String(), type: Type.Literal('text') }), expectUserResponse: Type.Boolean() }),
          Type.Object({ status: Type.Literal('skipped'), score: Type.Number() }),
        ]),
        ...errors('BG_ERR_VALIDATION', 'BG_ERR_UNAUTHORIZED'),
      },
    },
  }, async (request) => {
    const userId = await deps.notify.userForEmail(request.body.userInfo.email);
    const [d] = await deps.notify.engine.decide([{ userId, eventType: request.body.eventType, params: request.body.parameters ?? {}, respondOnly: true }]);
    if (d.decision === 'notify') return { response: { text: d.text ?? '', type: 'text' as const }, expectUserResponse: true };
    return { status: 'skipped' as const, score: d.score ?? 0 };
  });

  app.post('/feedback', {
    onRequest: requireProducerKey,
    schema: {
      tags, security: PRODUCER, summary: 'Legacy BotOptimizer: the user clicked their latest notification of this type (counted once)',
      body: Type.Object({ user_id: Type.String({ minLength: 1, maxLength: 320 }), event_type: Type.String({ minLength: 1, maxLength: 100 }) }),
      response: { 200: Type.Object({ status: Type.Literal('recorded') }), ...errors('BG_ERR_VALIDATION', 'BG_ERR_UNAUTHORIZED') },
    },
  }, async (request) => {
    // Legacy callers name the user by email; botgate's own user ids work too.
    const userId = (await deps.notify.userByEmail(request.body.user_id)) ?? request.body.user_id;
    await deps.notify.engine.recordFeedback(userId, request.body.event_type);
    return { status: 'recorded' as const };
  });

  app.get('/r/:token', {
    // No automatic HEAD: link scanners and prefetchers send HEAD, and a click is a person's GET.
    exposeHeadRoute: false,
    schema: {
      tags, security: [], summary: 'A tracked link: records the click (once) and redirects', params: Type.Object({ token: Type.String({ minLength: 1 }) }), // no cap here: a long forged token is a 404 too (past the router's 500 characters, a 400)
      // No credential, so no 401 (errors() adds one); the thank-you page is HTML.
      response: {
        200: { description: 'a thank-you page when the notification has no link target', content: { 'text/html': { schema: Type.String() } } },
        302: Type.Null({ description: 'to the notification\'s link target (Location)' }),
        400: Type.Ref('ErrorBody'),
        404: Type.Ref('ErrorBody'),
      },
    },
  }, async (request, reply) => {
    const id = deps.notify.links.verify(request.params.token);
    const notification = id ? await deps.store.notify.notification(id) : null;
    const now = deps.clock.now();
    if (!notification || notification.status !== 'sent' || notification.sentAt === null || now - notification.sentAt > LINK_TTL_MS) {
      throw new BotgateError('BG_ERR_LINK_NOT_FOUND', 'This link is not valid or has expired');
    }
    await deps.notify.engine.recordClickOf(notification, now);
    const target = deps.notify.linkTarget(notification);
    if (target) return reply.redirect(target, 302);
    return reply.code(200).type('text/html; charset=utf-8').send('<!doctype html><meta charset="utf-8"><title>Thanks</title><p>Thanks! You can close this page.</p>');
  });
};
