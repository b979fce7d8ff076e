// /api/users: the people notifications are decided for — time zone, preferences, linked identities — and
// everything stored about one of them (export), or all of it removed (delete).
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { BotgateError } from '../../errors.ts';
import { emailValue, phoneValue } from '../../identities.ts';
import { decayed } from '../../notify/engagement.ts';
import { zoneOrRefuse } from '../../notify/local-time.ts';
import type { Identity, Store, UserRecord } from '../../store/store.ts';
import type { AppDeps } from '../deps.ts';
import { AnyObject, Nullable, Timestamp, errors } from '../schemas.ts';
import { DecisionRecordView, NotificationView, decisionRecordView, notificationView } from './notify-admin.ts';
import { DAY } from '../../notify/batch.ts';

const IDENTITY_KINDS = ['email', 'kore', 'platform', 'phone'] as const;

const UserParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });

const Preferences = Type.Object({
  muted: Type.Optional(Type.Boolean({ description: 'every non-critical type muted' })),
  opt_outs: Type.Optional(Type.Array(Type.Object({
    event_type: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.:-]*\\*?$', description: "a type, a prefix* pattern or '*' (patterns: non-critical types only)" }),
    channel: Type.String({ minLength: 1, maxLength: 100, description: "a channel's platform (kore, zendesk, twilio, …) or an endpoint's name (any case), or '*' for all" }),
  }, { additionalProperties: false }), { maxItems: 500 })),
}, { additionalProperties: false });

const IdentityView = Type.Object({
  kind: Type.Union(IDENTITY_KINDS.map((k) => Type.Literal(k)), { description: 'kore ids are `{botId}:{from.id}`, platform ids `{provider}:{user_id}`' }),
  id: Type.String({ minLength: 1, maxLength: 320 }),
}, { additionalProperties: false });

const UserView = Type.Object({
  id: Type.String(),
  tz: Nullable(Type.String({ description: 'IANA zone; null: notify.default_tz' })),
  preferences: Preferences,
  identities: Type.Array(Type.Object({ kind: Type.String(), id: Type.String() })),
  created_at: Timestamp,
  updated_at: Timestamp,
});

const UserBody = Type.Object({
  tz: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 100, description: 'IANA zone (Europe/Berlin); null: back to notify.default_tz' }))),
  preferences: Type.Optional(Preferences),
  identities: Type.Optional(Type.Array(IdentityView, { maxItems: 50, description: 'attached to the user (identities it has already stay)' })),
}, { additionalProperties: false });

const UserExport = Type.Object({
  exported_at: Timestamp,
  user: UserView,
  conversations: Type.Array(AnyObject()),
  messages: Type.Array(AnyObject({ description: 'messages of the user\'s conversations' })),
  decisions: Type.Array(DecisionRecordView),
  notifications: Type.Array(NotificationView),
  engagement: Type.Array(Type.Object({ event_type: Type.String(), shown: Type.Number(), clicked: Type.Number() }, { description: 'decayed to exported_at' })),
  handoffs: Type.Array(AnyObject({ description: 'the handoff sessions of the user\'s conversations (agent, reason, times)' })),
});

const iso = (t: number) => new Date(t).toISOString();

export function userView(user: UserRecord, identities: Identity[]) {
  return {
    id: user.id, tz: user.tz, preferences: user.preferences, identities: identities.map((i) => ({ kind: i.kind, id: i.value })),
    created_at: iso(user.createdAt), updated_at: iso(user.updatedAt),
  };
}

/** A stored row as JSON: numeric `*_at` columns (epoch ms) become ISO times. */
function rowView(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    const ms = typeof value === 'number' || typeof value === 'bigint' || (typeof value === 'string' && /^\d+$/.test(value)) ? Number(value) : null;
    out[key] = key.endsWith('_at') && ms !== null ? iso(ms) : value;
  }
  return out;
}

const userNotFound = (id: string) => new BotgateError('BG_ERR_USER_NOT_FOUND', `No user ${id}`);

/** A user as the API and the CLI show it; BG_ERR_USER_NOT_FOUND when unknown. */
export async function showUser(store: Store, id: string) {
  const user = await store.users.get(id);
  if (!user) throw userNotFound(id);
  return userView(user, await store.users.identities(user.id));
}

/** Everything stored about a user, as the API and the CLI show it; BG_ERR_USER_NOT_FOUND when unknown. */
export async function exportUser(deps: Pick<AppDeps, 'store' | 'clock' | 'notify'>, id: string) {
  const data = await deps.store.notify.exportUser(id);
  if (!data) throw userNotFound(id);
  const now = deps.clock.now();
  const halfLife = data.halfLifeMs ?? deps.notify.settings.halfLifeDays * DAY;
  return {
    exported_at: iso(now),
    user: userView(data.user, data.identities),
    conversations: data.conversations.map(rowView),
    messages: data.messages.map(rowView),
    decisions: data.decisions.map(decisionRecordView),
    notifications: data.notifications.map(notificationView),
    engagement: data.engagement.map((e) => ({ event_type: e.eventType, ...decayed(e, now, halfLife, data.shift) })),
    handoffs: data.handoffs.map(rowView),
  };
}

/** An identity in the one spelling identities are stored in (the channels write them so), or a 400 saying what it should be. */
function normalized(i: { kind: string; id: string }, index: number): Identity {
  const refuse = (what: string) => new BotgateError('BG_ERR_VALIDATION', `identities[${index}].id: ${JSON.stringify(i.id)} is not ${what}`);
  if (i.kind === 'email') return { kind: i.kind, value: emailValue(i.id) ?? throwError(refuse('an email address')) };
  if (i.kind === 'phone') return { kind: i.kind, value: phoneValue(i.id) ?? throwError(refuse('a phone number (6 to 16 digits, + first when international)')) };
  // kore: {botId}:{from.id}; platform: {provider}:{user_id}.
  if (!/^[^:]+:./s.test(i.id)) throw refuse(i.kind === 'kore' ? 'a Kore.ai identity ({botId}:{from.id})' : 'a platform identity ({provider}:{user_id})');
  return { kind: i.kind, value: i.id };
}

function throwError(error: Error): never {
  throw error;
}

export const userRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const { store, clock } = deps;
  const tags = ['users'];

  app.get('/users/:id', {
    schema: { tags, summary: 'A user: time zone, notification preferences, linked identities', params: UserParams, response: { 200: UserView, ...errors('BG_ERR_USER_NOT_FOUND') } },
  }, async (request) => showUser(store, request.params.id));

  app.put('/users/:id', {
    schema: {
      tags, summary: 'Create or change a user (fields left out stay as they are; 201 when created)', params: UserParams, body: UserBody,
      response: { 200: UserView, 201: UserView, ...errors('BG_ERR_VALIDATION', 'BG_ERR_UNKNOWN_FIELD', 'BG_ERR_CONFLICT') },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    const body = request.body;
    const tz = typeof body.tz === 'string' ? zoneOrRefuse(body.tz, 'body.tz') : body.tz;
    const now = clock.now();
    // 201 only for the request whose own write made the user (of two racing to create it, one).
    let created = false;
    if (body.identities?.length) {
      const attached = await store.users.attach(id, body.identities.map(normalized), now);
      if (attached.conflict) throw new BotgateError('BG_ERR_CONFLICT', `The identity ${attached.conflict.kind} ${attached.conflict.value} belongs to another user`);
      created = attached.created;
    }
    const put = await store.notify.putUser(id, { tz, preferences: body.preferences, touch: (body.identities?.length ?? 0) > 0 }, now);
    const user = put.user;
    reply.code(created || put.created ? 201 : 200);
    return userView(user, await store.users.identities(id));
  });

  app.get('/users/:id/export', {
    schema: { tags, summary: 'Everything stored about a user: identities, conversations and messages, decisions, notifications, engagement', params: UserParams, response: { 200: UserExport, ...errors('BG_ERR_USER_NOT_FOUND') } },
  }, async (request) => exportUser(deps, request.params.id));

  app.delete('/users/:id', {
    schema: { tags, summary: 'Delete a user and everything stored about them (conversations, messages, decisions, notifications)', params: UserParams, response: { 204: Type.Null(), ...errors('BG_ERR_USER_NOT_FOUND') } },
  }, async (request, reply) => {
    if (!(await store.notify.deleteUser(request.params.id))) throw userNotFound(request.params.id);
    reply.code(204).send(null);
  });
};
