// /api/agents: the people who take conversations over (each one's token shown once), and /api/handoffs: every
// handoff session, for the admin's overview.
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { agentView } from '../../handoff/agents.ts';
import type { AppDeps } from '../deps.ts';
import { pageRequest, pageResult } from '../paging.ts';
import { IdParams, OptionalBody, PageQuery, errors, listOf } from '../schemas.ts';
import { HandoffStatusQuery, SessionView, sessionView } from './sessions.ts';

const AgentView = Type.Object({ id: Type.String(), name: Type.String(), is_active: Type.Boolean(), created_at: Type.String(), updated_at: Type.String() });
const WithToken = Type.Intersect([AgentView, Type.Object({ token: Type.String({ description: 'the agent sends it as Authorization: Bearer on /api/agent/… (shown only now)' }) })]);

export const agentRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const tags = ['agents'];
  app.post('/agents', {
    schema: { tags, summary: 'Add an agent: an id and a token (in this answer only)', body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }), response: { 201: WithToken, ...errors('BG_ERR_VALIDATION', 'BG_ERR_UNKNOWN_FIELD') } },
  }, async (request, reply) => {
    const { agent, token } = await deps.agents.create(request.body.name);
    reply.code(201);
    return { ...agentView(agent), token };
  });
  app.get('/agents', { schema: { tags, summary: 'Agents (never their tokens)', querystring: Type.Object(PageQuery, { additionalProperties: false }), response: { 200: listOf(AgentView), ...errors('BG_ERR_VALIDATION') } } }, async (request) => {
    const page = pageRequest(request.query, 'agt');
    return pageResult(await deps.agents.list(page.request), page, agentView);
  });
  app.get('/agents/:id', { schema: { tags, summary: 'One agent', params: IdParams, response: { 200: AgentView, ...errors('BG_ERR_AGENT_NOT_FOUND') } } }, async (request) => agentView(await deps.agents.get(request.params.id)));
  app.patch('/agents/:id', {
    schema: {
      tags, summary: 'Rename an agent, or deactivate one (its token stops working)', params: IdParams,
      body: Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), is_active: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
      response: { 200: AgentView, ...errors('BG_ERR_AGENT_NOT_FOUND', 'BG_ERR_VALIDATION', 'BG_ERR_UNKNOWN_FIELD') },
    },
  }, async (request) => agentView(await deps.agents.update(request.params.id, request.body)));
  app.post('/agents/:id/token/rotate', {
    schema: { tags, summary: 'Issue a new token (the old one stops working at once)', params: IdParams, body: OptionalBody(Type.Object({}, { additionalProperties: false })), response: { 200: WithToken, ...errors('BG_ERR_AGENT_NOT_FOUND') } },
  }, async (request) => {
    const { agent, token } = await deps.agents.rotateToken(request.params.id);
    return { ...agentView(agent), token };
  });

  app.get('/handoffs', {
    schema: { tags, summary: 'Handoff sessions, newest first', querystring: Type.Object({ ...HandoffStatusQuery, agent_id: Type.Optional(Type.String()), ...PageQuery }, { additionalProperties: false }), response: { 200: listOf(SessionView), ...errors('BG_ERR_VALIDATION') } },
  }, async (request) => {
    const page = pageRequest(request.query, 'hof');
    const rows = await deps.sessions.list({ status: request.query.status, agentId: request.query.agent_id }, page.request);
    const views = new Map<string, Awaited<ReturnType<typeof sessionView>>>();
    for (const row of rows) views.set(row.id, await sessionView(deps, row));
    return pageResult(rows, page, (row) => views.get(row.id)!);
  });
};
