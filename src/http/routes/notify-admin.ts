// /api/notify: event types and their admin overrides, template variants (stats, freeze), decisions and reason
// analytics, recurring feeds; and /api/producer-keys, the keys producers send events with (shown once).
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { BotgateError } from '../../errors.ts';
import { decayed, probabilityBest } from '../../notify/engagement.ts';
import { typeSettings } from '../../notify/settings.ts';
import { linkUrlProblem, MAX_DIGEST_MINUTES, MAX_HOURS, templateTextProblem, type EventTypeSettings } from '../../notify/types.ts';
import type { DecisionRecord, FeedRecord, NotificationRecord } from '../../store/notify-records.ts';
import type { AppDeps } from '../deps.ts';
import { pageRequest, pageResult, parseTime } from '../paging.ts';
import { AnyObject, IdParams, Nullable, OptionalBody, PageQuery, Timestamp, errors, listOf } from '../schemas.ts';
import { DAY } from '../../notify/batch.ts';

const iso = (t: number) => new Date(t).toISOString();
const isoOrNull = (t: number | null) => (t === null ? null : iso(t));

export const DecisionRecordView = Type.Object({
  id: Type.String(), user_id: Type.String(), event_type: Type.String(), decision: Type.String({ description: 'notify | skip | defer' }),
  reason: Type.String({ description: 'docs/notifications.md lists the reasons' }), score: Nullable(Type.Number()), variant: Nullable(Type.String()),
  notification_id: Nullable(Type.String()), event_key: Type.String(), params: AnyObject(), occurred_at: Timestamp, decided_at: Timestamp, duplicate_of: Nullable(Type.String()),
});

export function decisionRecordView(d: DecisionRecord) {
  return {
    id: d.id, user_id: d.userId, event_type: d.eventType, decision: d.decision, reason: d.reason, score: d.score, variant: d.variant,
    notification_id: d.notificationId, event_key: d.eventKey, params: d.params, occurred_at: iso(d.occurredAt), decided_at: iso(d.decidedAt), duplicate_of: d.duplicateOf,
  };
}

export const NotificationView = Type.Object({
  id: Type.String(), user_id: Type.String(), event_type: Type.String(), status: Type.String({ description: 'pending | sent | dropped' }), reason: Nullable(Type.String()),
  critical: Type.Boolean(), variant: Nullable(Type.String()), text: Nullable(Type.String()), params: AnyObject(), event_key: Type.String(),
  occurred_at: Timestamp, due_at: Nullable(Timestamp), expires_at: Timestamp, sent_at: Nullable(Timestamp), clicked_at: Nullable(Timestamp),
  destination: Nullable(Type.String({ description: 'a channel id or an endpoint id' })), message_id: Nullable(Type.String()), created_at: Timestamp, updated_at: Timestamp,
});

export function notificationView(n: NotificationRecord) {
  return {
    id: n.id, user_id: n.userId, event_type: n.eventType, status: n.status, reason: n.reason, critical: n.critical, variant: n.variant, text: n.text, params: n.params,
    event_key: n.eventKey, occurred_at: iso(n.occurredAt), due_at: isoOrNull(n.dueAt), expires_at: iso(n.expiresAt), sent_at: isoOrNull(n.sentAt),
    clicked_at: isoOrNull(n.clickedAt), destination: n.destination, message_id: n.messageId, created_at: iso(n.createdAt), updated_at: iso(n.updatedAt),
  };
}

// The type settings the API speaks (snake_case) and the engine's names for them.
const FIELDS = {
  critical: 'critical', value: 'value', cost: 'cost', cooldown_hours: 'cooldownHours', ttl_hours: 'ttlHours', dedup_fields: 'dedupFields',
  digest_minutes: 'digestMinutes', templates: 'templates', frozen_variant: 'frozenVariant', endpoint_id: 'endpointId', link_url: 'linkUrl', prior_mean: 'priorMean',
} as const satisfies Record<string, keyof EventTypeSettings>;
type Field = keyof typeof FIELDS;

const Template = Type.Object({ id: Type.String({ minLength: 1, maxLength: 40 }), text: Type.String({ minLength: 1, maxLength: 2000, description: '{{params.x}}, {{user.x}}, {{link}}; {{params.x|fallback}}' }) }, { additionalProperties: false });
const typeFields = {
  critical: Type.Boolean({ description: 'past dedup and explicit opt-outs only: no value test, cap, cooldown or quiet hours' }),
  value: Type.Number({ minimum: 0, description: 'what a click is worth' }),
  cost: Type.Number({ minimum: 0, description: 'what a send costs; sent when value × p̂ × fatigue ≥ cost' }),
  cooldown_hours: Type.Number({ minimum: 0, maximum: MAX_HOURS }),
  ttl_hours: Type.Number({ exclusiveMinimum: 0, maximum: MAX_HOURS }),
  dedup_fields: Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 50 }),
  digest_minutes: Type.Number({ minimum: 0, maximum: MAX_DIGEST_MINUTES }),
  templates: Type.Array(Template, { minItems: 1, maxItems: 20 }),
  frozen_variant: Nullable(Type.String({ minLength: 1, maxLength: 40 })),
  endpoint_id: Nullable(Type.String({ minLength: 1, maxLength: 100, description: 'send this type to an endpoint (e.g. Kore.ai\'s notify API) instead of the user\'s channel' })),
  link_url: Nullable(Type.String({ minLength: 1, maxLength: 2048, description: 'where a tracked link redirects; {{params.x}} allowed' })),
  prior_mean: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, description: 'click-through rate before any data' }),
};
const TypeView = Type.Object({
  name: Type.String(), ...typeFields, templates: Type.Array(Template),
  overridden: Type.Array(Type.String(), { description: 'fields set through the API (DELETE /api/notify/types/{name} goes back to the config)' }),
});
const TypeBody = Type.Partial(Type.Object(typeFields), { additionalProperties: false });
const TypeParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.:-]+\\*?$' }) });
const NoBody = OptionalBody(Type.Object({}, { additionalProperties: false }));

const VariantsView = Type.Object({
  event_type: Type.String(),
  frozen_variant: Nullable(Type.String()),
  half_life_days: Type.Number(),
  data: Type.Array(Type.Object({
    id: Type.String(), text: Type.String(),
    shown: Type.Number({ description: 'decayed count' }), clicked: Type.Number({ description: 'decayed count' }), rate: Nullable(Type.Number()),
    probability_best: Type.Number({ description: 'of being the best variant, under Beta(1 + clicked, 1 + shown − clicked) posteriors' }),
  })),
});

const FeedView = Type.Object({
  id: Type.String(), name: Type.String(), cron: Type.String(), tz: Type.String(), event_type: Type.String(), user_ids: Nullable(Type.Array(Type.String())),
  params: AnyObject(), is_active: Type.Boolean(), next_run_at: Nullable(Timestamp), last_run_at: Nullable(Timestamp), created_at: Timestamp, updated_at: Timestamp,
});
const feedFields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  cron: Type.String({ minLength: 1, maxLength: 200, description: 'a cron expression (5 or 6 fields), in tz' }),
  tz: Nullable(Type.String({ minLength: 1, maxLength: 100, description: 'IANA zone; default (and null) notify.default_tz' })),
  event_type: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.:-]+$' }),
  user_ids: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 100_000, description: 'each gets the event at every run' }),
  params: AnyObject({ description: 'the event\'s params (plus feed: the feed\'s name)' }),
  is_active: Type.Boolean(),
};
const { tz, params, is_active, ...feedRequired } = feedFields;
const FeedBody = Type.Object({ ...feedRequired, tz: Type.Optional(tz), params: Type.Optional(params), is_active: Type.Optional(is_active) }, { additionalProperties: false });
const FeedPatch = Type.Partial(Type.Object(feedFields), { additionalProperties: false });

const ProducerKeyView = Type.Object({ id: Type.String(), name: Type.String(), created_at: Timestamp });
const WithKey = Type.Intersect([ProducerKeyView, Type.Object({ key: Type.String({ description: 'send it as Authorization: Bearer or X-Api-Key on /api/events (shown only now)' }) })]);

function feedView(f: FeedRecord) {
  return {
    id: f.id, name: f.name, cron: f.cron, tz: f.tz, event_type: f.eventType, user_ids: f.userIds, params: f.params, is_active: f.isActive,
    next_run_at: isoOrNull(f.nextRunAt), last_run_at: isoOrNull(f.lastRunAt), created_at: iso(f.createdAt), updated_at: iso(f.updatedAt),
  };
}

function typeView(t: EventTypeSettings, override: Record<string, unknown> | undefined) {
  return {
    name: t.name, critical: t.critical, value: t.value, cost: t.cost, cooldown_hours: t.cooldownHours, ttl_hours: t.ttlHours, dedup_fields: t.dedupFields,
    digest_minutes: t.digestMinutes, templates: t.templates, frozen_variant: t.frozenVariant, endpoint_id: t.endpointId, link_url: t.linkUrl, prior_mean: t.priorMean,
    overridden: (Object.keys(FIELDS) as Field[]).filter((f) => override !== undefined && FIELDS[f] in override),
  };
}

export const notifyAdminRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const { store, clock, notify } = deps;
  const repo = store.notify;
  const tags = ['notifications'];

  /** A configured type (an entry, a matching pattern, or an override), else 404. */
  function known(name: string) {
    const type = notify.engine.type(name);
    if (!type.known) throw new BotgateError('BG_ERR_EVENT_TYPE_NOT_FOUND', `The event type ${name} is not configured (its events get the default type's settings); PUT /api/notify/types/${name} configures it`);
    return type;
  }
  async function view(name: string) {
    return typeView(known(name), (await repo.overrides()).get(name));
  }
  /** The type's stored override (the engine's names), empty when it has none. */
  async function overrideOf(name: string): Promise<Record<string, unknown>> {
    return (await repo.overrides()).get(name) ?? {};
  }
  /**
   * Stores the type's new override, makes the engine use it, and answers the type's view. An empty one is removed
   * from a type the config knows; a type known only by its override keeps it, empty (a PUT configured it).
   */
  async function saveOverride(name: string, override: Record<string, unknown>) {
    const empty = Object.keys(override).length === 0 && typeSettings(notify.settings, name).known;
    if (empty) await repo.deleteOverride(name);
    else await repo.putOverride(name, override, clock.now());
    await notify.engine.reloadOverrides();
    return typeView(known(name), empty ? undefined : override);
  }

  app.get('/notify/types', {
    schema: { tags, summary: 'Every configured event type with its effective settings (config, then overrides)', response: { 200: Type.Object({ data: Type.Array(TypeView) }), ...errors() } },
  }, async () => {
    const overrides = await repo.overrides();
    return { data: (await notify.typeNames()).map((name) => typeView(notify.engine.type(name), overrides.get(name))) };
  });

  app.get('/notify/types/:name', {
    schema: { tags, summary: 'One event type\'s effective settings', params: TypeParams, response: { 200: TypeView, ...errors('BG_ERR_EVENT_TYPE_NOT_FOUND') } },
  }, async (request) => view(request.params.name));

  app.put('/notify/types/:name', {
    schema: {
      tags, summary: 'Override some of a type\'s settings (merged with the earlier override; a new name becomes a configured type)', params: TypeParams, body: TypeBody,
      response: { 200: TypeView, ...errors('BG_ERR_VALIDATION', 'BG_ERR_UNKNOWN_FIELD', 'BG_ERR_ENDPOINT_NOT_FOUND') },
    },
  }, async (request) => {
    const { name } = request.params;
    const body = request.body as Partial<Record<Field, unknown>>;
    const override = { ...(await overrideOf(name)) };
    for (const field of Object.keys(body) as Field[]) if (body[field] !== undefined) override[FIELDS[field]] = body[field];
    const overrides = new Map(await repo.overrides() as Map<string, Partial<EventTypeSettings>>).set(name, override as Partial<EventTypeSettings>);
    const ids = typeSettings(notify.settings, name, overrides).templates.map((t) => t.id);
    if (new Set(ids).size !== ids.length) throw new BotgateError('BG_ERR_VALIDATION', 'body.templates: variant ids must be unique');
    // The type's own frozen variant must be one of its templates (one a pattern froze counts only where it is).
    const frozen = override.frozenVariant;
    if (typeof frozen === 'string' && !ids.includes(frozen)) throw new BotgateError('BG_ERR_VALIDATION', `body.frozen_variant: ${frozen} is not one of the templates (${ids.join(', ')})`);
    (Array.isArray(body.templates) ? (body.templates as { text: string }[]) : []).forEach((t, i) => {
      const problem = templateTextProblem(t.text);
      if (problem) throw new BotgateError('BG_ERR_VALIDATION', `body.templates.${i}.text: ${problem}`);
    });
    const linkProblem = typeof body.link_url === 'string' ? linkUrlProblem(body.link_url) : null;
    if (linkProblem) throw new BotgateError('BG_ERR_VALIDATION', `body.link_url ${linkProblem}`);
    if (typeof body.endpoint_id === 'string' && !(await store.endpoints.get(body.endpoint_id))) throw new BotgateError('BG_ERR_ENDPOINT_NOT_FOUND', `No endpoint ${body.endpoint_id}`);
    return saveOverride(name, override);
  });

  app.delete('/notify/types/:name', {
    schema: { tags, summary: 'Remove a type\'s override: back to its config settings', params: TypeParams, response: { 204: Type.Null(), ...errors('BG_ERR_EVENT_TYPE_NOT_FOUND') } },
  }, async (request, reply) => {
    if (!(await repo.deleteOverride(request.params.name))) throw new BotgateError('BG_ERR_EVENT_TYPE_NOT_FOUND', `The event type ${request.params.name} has no override`);
    await notify.engine.reloadOverrides();
    reply.code(204).send(null);
  });

  app.get('/notify/types/:name/variants', {
    schema: { tags, summary: 'A type\'s template variants: decayed shown/clicked counts, click rate, probability of being the best', params: TypeParams, response: { 200: VariantsView, ...errors('BG_ERR_EVENT_TYPE_NOT_FOUND') } },
  }, async (request) => {
    const type = known(request.params.name);
    const stats = await repo.typeStats(type.name);
    const now = clock.now();
    // The half-life the weights were kept under (the configured one once the engine started).
    const halfLife = stats.halfLifeMs ?? notify.settings.halfLifeDays * DAY;
    const counts = (variant: string) => decayed(stats.variants.get(variant), now, halfLife, stats.shift);
    const ids = type.templates.map((t) => t.id);
    // An estimate for an admin's eyes: Math.random is fine here, nothing is decided on it.
    const best = probabilityBest(ids, counts, Math.random);
    return {
      event_type: type.name, frozen_variant: type.frozenVariant, half_life_days: notify.settings.halfLifeDays,
      data: type.templates.map((t) => {
        const c = counts(t.id);
        return { id: t.id, text: t.text, shown: c.shown, clicked: c.clicked, rate: c.shown > 0 ? c.clicked / c.shown : null, probability_best: best.get(t.id) ?? 0 };
      }),
    };
  });

  app.post('/notify/types/:name/variants/:variant/freeze', {
    schema: {
      tags, summary: 'Always send this variant (no more exploring)', params: Type.Object({ ...TypeParams.properties, variant: Type.String({ minLength: 1, maxLength: 40 }) }),
      body: NoBody, response: { 200: TypeView, ...errors('BG_ERR_EVENT_TYPE_NOT_FOUND', 'BG_ERR_VARIANT_NOT_FOUND') },
    },
  }, async (request) => {
    const { name, variant } = request.params;
    const type = known(name);
    if (!type.templates.some((t) => t.id === variant)) throw new BotgateError('BG_ERR_VARIANT_NOT_FOUND', `The event type ${name} has no variant ${variant} (it has ${type.templates.map((t) => t.id).join(', ')})`);
    return saveOverride(name, { ...(await overrideOf(name)), frozenVariant: variant });
  });

  app.post('/notify/types/:name/variants/unfreeze', {
    schema: { tags, summary: 'Explore the variants again', params: TypeParams, body: NoBody, response: { 200: TypeView, ...errors('BG_ERR_EVENT_TYPE_NOT_FOUND') } },
  }, async (request) => {
    const { name } = request.params;
    known(name);
    const { frozenVariant: _dropped, ...rest } = await overrideOf(name);
    return saveOverride(name, rest);
  });

  app.get('/notify/decisions', {
    schema: {
      tags, summary: 'Decisions, newest first',
      querystring: Type.Object({
        user_id: Type.Optional(Type.String()), event_type: Type.Optional(Type.String()), reason: Type.Optional(Type.String()),
        since: Type.Optional(Type.String({ format: 'date-time', description: 'decided at or after' })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'per_page by another name (wins over it)' })), ...PageQuery,
      }, { additionalProperties: false }),
      response: { 200: listOf(DecisionRecordView), ...errors('BG_ERR_VALIDATION') },
    },
  }, async (request) => {
    const q = request.query;
    const page = pageRequest({ ...q, per_page: q.limit ?? q.per_page }, 'dec');
    const rows = await repo.decisions({ userId: q.user_id, eventType: q.event_type, reason: q.reason, since: parseTime(q.since) }, page.request);
    return pageResult(rows, page, decisionRecordView);
  });

  app.get('/notify/stats', {
    schema: {
      tags, summary: 'Decision counts by event type × decision × reason; and where the notifications made since then ended up', querystring: Type.Object({ since: Type.Optional(Type.String({ format: 'date-time', description: 'default: 7 days ago' })) }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          since: Timestamp,
          totals: Type.Object({ notify: Type.Integer(), skip: Type.Integer(), defer: Type.Integer() }),
          data: Type.Array(Type.Object({ event_type: Type.String(), decision: Type.String(), reason: Type.String(), count: Type.Integer() })),
          outcomes: Type.Array(Type.Object({
            event_type: Type.String(), status: Type.String({ description: 'pending, sent or dropped' }), reason: Nullable(Type.String()), count: Type.Integer(),
          }), { description: 'notifications created since then by type × status × reason: a deferred one sent later, dropped expired, or still pending' }),
        }),
        ...errors('BG_ERR_VALIDATION'),
      },
    },
  }, async (request) => {
    const since = parseTime(request.query.since) ?? clock.now() - 7 * DAY;
    const [rows, outcomes] = await Promise.all([repo.reasonCounts(since), repo.outcomeCounts(since)]);
    const totals = { notify: 0, skip: 0, defer: 0 };
    for (const r of rows) if (r.decision in totals) totals[r.decision as keyof typeof totals] += r.count;
    return {
      since: iso(since), totals, data: rows.map((r) => ({ event_type: r.eventType, decision: r.decision, reason: r.reason, count: r.count })),
      outcomes: outcomes.map((o) => ({ event_type: o.eventType, status: o.status, reason: o.reason, count: o.count })),
    };
  });

  async function feed(id: string): Promise<FeedRecord> {
    const found = await repo.feeds.get(id);
    if (!found) throw new BotgateError('BG_ERR_FEED_NOT_FOUND', `No feed ${id}`);
    return found;
  }

  app.get('/notify/feeds', {
    schema: { tags, summary: 'Recurring feeds: an event for each of their users at every cron run', response: { 200: Type.Object({ data: Type.Array(FeedView) }), ...errors() } },
  }, async () => ({ data: (await repo.feeds.list()).map(feedView) }));

  app.post('/notify/feeds', {
    schema: { tags, summary: 'Create a feed', body: FeedBody, response: { 201: FeedView, ...errors('BG_ERR_VALIDATION', 'BG_ERR_UNKNOWN_FIELD', 'BG_ERR_CONFLICT') } },
  }, async (request, reply) => {
    const created = await notify.createFeed(request.body as Parameters<typeof notify.createFeed>[0]);
    reply.code(201);
    return feedView(created);
  });

  app.get('/notify/feeds/:id', {
    schema: { tags, summary: 'One feed', params: IdParams, response: { 200: FeedView, ...errors('BG_ERR_FEED_NOT_FOUND') } },
  }, async (request) => feedView(await feed(request.params.id)));

  app.patch('/notify/feeds/:id', {
    schema: {
      tags, summary: 'Change a feed (a new cron or tz, or switching it back on, sets the next run from now)', params: IdParams, body: FeedPatch,
      response: { 200: FeedView, ...errors('BG_ERR_FEED_NOT_FOUND', 'BG_ERR_VALIDATION', 'BG_ERR_UNKNOWN_FIELD', 'BG_ERR_CONFLICT') },
    },
  }, async (request) => {
    const current = await feed(request.params.id);
    const b = { ...request.body };
    if (b.tz !== undefined) b.tz = notify.feedZone(b.tz, 'body.tz');
    const now = clock.now();
    const patch: Partial<FeedRecord> = { updatedAt: now };
    if (b.name !== undefined) {
      await notify.refuseTakenFeedName(b.name, current.id);
      patch.name = b.name;
    }
    if (b.event_type !== undefined) patch.eventType = b.event_type;
    if (b.user_ids !== undefined) patch.userIds = b.user_ids;
    if (b.params !== undefined) patch.params = b.params;
    if (b.is_active !== undefined) patch.isActive = b.is_active;
    const cronChanged = b.cron !== undefined && b.cron !== current.cron;
    const tzChanged = b.tz !== undefined && b.tz !== current.tz;
    if (cronChanged || tzChanged || (b.is_active === true && !current.isActive)) {
      const tz = b.tz ?? current.tz;
      patch.nextRunAt = notify.schedule(b.cron ?? current.cron, tz, now, 'body.');
      patch.cron = b.cron ?? current.cron;
      patch.tz = tz;
    }
    const updated = await repo.feeds.update(current.id, patch);
    if (!updated) throw new BotgateError('BG_ERR_FEED_NOT_FOUND', `No feed ${current.id}`);
    return feedView(updated);
  });

  app.delete('/notify/feeds/:id', {
    schema: { tags, summary: 'Delete a feed', params: IdParams, response: { 204: Type.Null(), ...errors('BG_ERR_FEED_NOT_FOUND') } },
  }, async (request, reply) => {
    if (!(await repo.feeds.delete(request.params.id))) throw new BotgateError('BG_ERR_FEED_NOT_FOUND', `No feed ${request.params.id}`);
    reply.code(204).send(null);
  });

  const keyTags = ['producer keys'];
  app.post('/producer-keys', {
    schema: {
      tags: keyTags, summary: 'Create a producer API key (in this answer only)', body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
      response: { 201: WithKey, ...errors('BG_ERR_VALIDATION', 'BG_ERR_UNKNOWN_FIELD') },
    },
  }, async (request, reply) => {
    const created = await notify.createProducerKey(request.body.name);
    reply.code(201);
    return created;
  });

  app.get('/producer-keys', {
    schema: { tags: keyTags, summary: 'Producer API keys (never the keys themselves)', response: { 200: Type.Object({ data: Type.Array(ProducerKeyView) }), ...errors() } },
  }, async () => ({ data: await notify.listProducerKeys() }));

  app.delete('/producer-keys/:id', {
    schema: { tags: keyTags, summary: 'Revoke a producer API key', params: IdParams, response: { 204: Type.Null(), ...errors('BG_ERR_PRODUCER_KEY_NOT_FOUND') } },
  }, async (request, reply) => {
    if (!(await notify.deleteProducerKey(request.params.id))) throw new BotgateError('BG_ERR_PRODUCER_KEY_NOT_FOUND', `No producer key ${request.params.id}`);
    reply.code(204).send(null);
  });
};
