// /api/agent/…: what an agent does with its token — see waiting and active sessions, read a conversation,
// claim a session (one agent wins; the others get 409), write to the user, close with a state for the bot to
// resume at. Every action is made as the agent the token belongs to.
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { agentView } from '../../handoff/agents.ts';
import { messageText } from '../../handoff/events.ts';
import { BotgateError } from '../../errors.ts';
import { isBlank } from '../../ranges.ts';
import type { AgentRecord, HandoffRecord, MessageRecord } from '../../store/store.ts';
import { bearerToken } from '../admin-guard.ts';
import type { AppDeps } from '../deps.ts';
import { pageRequest, pageResult } from '../paging.ts';
import { IdParams, Nullable, OptionalBody, PageQuery, errors, listOf } from '../schemas.ts';

declare module 'fastify' {
  interface FastifyRequest {
    agent?: AgentRecord;
  }
}

export const HandoffStatusQuery = {
  status: Type.Optional(Type.Union([Type.Literal('waiting'), Type.Literal('active'), Type.Literal('closed')])),
};

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export const SessionView = Type.Object({
  id: Type.String(), status: Type.String(), conversation_id: Type.String(), user_id: Nullable(Type.String()), platform: Nullable(Type.String()),
  channel_id: Nullable(Type.String()), bot_id: Nullable(Type.String()), mode: Nullable(Type.String()), reason: Nullable(Type.String()), agent_id: Nullable(Type.String()),
  resume_state: Nullable(Type.String()), closed_by: Nullable(Type.String()),
  requested_at: Type.String(), assigned_at: Nullable(Type.String()), closed_at: Nullable(Type.String()),
});

export async function sessionView(deps: AppDeps, session: HandoffRecord) {
  const conversation = await deps.store.conversations.get(session.conversationId);
  const channel = conversation ? await deps.store.channels.get(conversation.channelId) : null;
  return {
    id: session.id, status: session.status, conversation_id: session.conversationId, user_id: conversation?.userKey ?? null,
    platform: channel ? (channel.kind === 'kore-webhook' ? 'kore' : channel.provider) : null, channel_id: channel?.id ?? null, bot_id: conversation?.botId ?? null,
    mode: conversation?.mode ?? null, reason: session.reason, agent_id: session.agentId, resume_state: session.resumeState, closed_by: session.closedBy,
    requested_at: iso(session.requestedAt)!, assigned_at: iso(session.assignedAt), closed_at: iso(session.closedAt),
  };
}

const Line = Type.Object({ id: Type.String(), direction: Nullable(Type.String()), text: Type.String(), payload: Type.Unknown(), created_at: Type.String() });
const lineView = (m: MessageRecord) => ({
  id: m.id, direction: m.conversation?.direction ?? null, text: messageText(m.payload), payload: m.payload === null ? null : JSON.parse(m.payload), created_at: new Date(m.createdAt).toISOString(),
});

export const agentSessionRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const tags = ['agent'];
  const security = [{ agentToken: [] }];
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const token = bearerToken(request);
    const agent = token ? await deps.agents.authenticate(token) : null;
    if (!agent) throw new BotgateError('BG_ERR_UNAUTHORIZED', token ? 'The agent token is not valid' : 'Send the agent token as Authorization: Bearer <token>', { headers: { 'www-authenticate': 'Bearer' } });
    request.agent = agent;
  });
  const view = (session: HandoffRecord) => sessionView(deps, session);
  const committedView = async (committed: { handoff: HandoffRecord | null }) => view(committed.handoff!);

  app.get('/me', { schema: { tags, security, summary: 'The agent this token belongs to', response: { 200: Type.Object({ id: Type.String(), name: Type.String(), is_active: Type.Boolean(), created_at: Type.String(), updated_at: Type.String() }), ...errors() } } }, async (request) => agentView(request.agent!));

  app.get('/sessions', {
    schema: {
      tags, security, summary: 'Sessions: waiting ones (anyone may claim them) and active ones, newest first',
      querystring: Type.Object({ ...HandoffStatusQuery, mine: Type.Optional(Type.Boolean({ description: 'only sessions this agent holds or held' })), ...PageQuery }, { additionalProperties: false }),
      response: { 200: listOf(SessionView), ...errors('BG_ERR_VALIDATION') },
    },
  }, async (request) => {
    const q = request.query;
    const page = pageRequest(q, 'hof');
    const filter = { agentId: q.mine ? request.agent!.id : undefined };
    // Without a status: waiting and active ones (the work at hand).
    const rows = await deps.sessions.list({ ...filter, status: q.status ?? 'open' }, page.request);
    const views = new Map<string, Awaited<ReturnType<typeof view>>>();
    for (const row of rows) views.set(row.id, await view(row));
    return pageResult(rows, page, (row) => views.get(row.id)!);
  });

  app.get('/sessions/:id', { schema: { tags, security, summary: 'One session', params: IdParams, response: { 200: SessionView, ...errors('BG_ERR_SESSION_NOT_FOUND') } } }, async (request) => view(await deps.sessions.get(request.params.id)));

  app.get('/sessions/:id/messages', {
    schema: {
      tags, security, summary: 'The conversation\'s messages, oldest first (the newest `limit`)', params: IdParams,
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }, { additionalProperties: false }),
      response: { 200: Type.Object({ session: SessionView, messages: Type.Array(Line) }), ...errors('BG_ERR_SESSION_NOT_FOUND', 'BG_ERR_VALIDATION') },
    },
  }, async (request) => {
    const { session, messages } = await deps.sessions.messages(request.params.id, request.query.limit ?? 100);
    return { session: await view(session), messages: messages.map(lineView) };
  });

  app.post('/sessions/:id/claim', {
    schema: { tags, security, summary: 'Take a waiting session (409 when another agent has it or it closed)', params: IdParams, body: OptionalBody(Type.Object({}, { additionalProperties: false })), response: { 200: SessionView, ...errors('BG_ERR_SESSION_NOT_FOUND', 'BG_ERR_SESSION_TAKEN', 'BG_ERR_SESSION_CLOSED') } },
  }, async (request) => committedView(await deps.sessions.claim(request.params.id, request.agent!)));

  app.post('/sessions/:id/messages', {
    schema: {
      tags, security, summary: 'Write to the user, through the user\'s channel (409 on a closed session or one this agent does not hold)', params: IdParams,
      body: Type.Object({ text: Type.String({ minLength: 1, maxLength: 10_000 }) }, { additionalProperties: false }),
      response: { 202: Type.Object({ session: SessionView, message_ids: Type.Array(Type.String()) }), ...errors('BG_ERR_SESSION_NOT_FOUND', 'BG_ERR_SESSION_TAKEN', 'BG_ERR_SESSION_CLOSED', 'BG_ERR_VALIDATION', 'BG_ERR_UNKNOWN_FIELD') },
    },
  }, async (request, reply) => {
    // The user would get an empty message (as the schema's minLength refuses "").
    if (isBlank(request.body.text)) throw new BotgateError('BG_ERR_VALIDATION', 'body.text is blank (only white space or format characters)');
    const committed = await deps.sessions.send(request.params.id, request.agent!, request.body.text);
    reply.code(202);
    return { session: await committedView(committed), message_ids: committed.published.map((p) => p.message.id) };
  });

  app.post('/sessions/:id/close', {
    schema: {
      tags, security, summary: 'End the session; the bot takes the conversation back, at resume_state when given', params: IdParams,
      body: OptionalBody(Type.Object({ resume_state: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200, description: 'a flow state of the bot, e.g. a satisfaction question' }))) }, { additionalProperties: false })),
      response: { 200: SessionView, ...errors('BG_ERR_SESSION_NOT_FOUND', 'BG_ERR_SESSION_TAKEN', 'BG_ERR_SESSION_CLOSED', 'BG_ERR_VALIDATION', 'BG_ERR_UNKNOWN_FIELD') },
    },
  }, async (request) => committedView(await deps.sessions.close(request.params.id, request.agent!, request.body?.resume_state ?? null)));
};
