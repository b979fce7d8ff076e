// /api/apps: client ids and secrets a Kore.ai integration signs its JWTs with (the secret shown once).
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { appView } from '../../channels/apps.ts';
import type { AppDeps } from '../deps.ts';
import { pageRequest, pageResult } from '../paging.ts';
import { IdParams, OptionalBody, PageQuery, errors, listOf } from '../schemas.ts';

const AppView = Type.Object({ client_id: Type.String(), name: Type.String(), created_at: Type.String(), updated_at: Type.String() });
const WithSecret = Type.Intersect([AppView, Type.Object({ client_secret: Type.String({ description: 'shown only now' }) })]);

export const appRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const tags = ['apps'];
  app.post('/apps', {
    schema: {
      tags, summary: 'Create an app: a client id and a client secret (in this answer only)',
      body: Type.Object({
        name: Type.String({ minLength: 1, maxLength: 200 }),
        client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._-]+$' })),
        client_secret: Type.Optional(Type.String({ minLength: 16, maxLength: 512 })),
      }, { additionalProperties: false }),
      response: { 201: WithSecret, ...errors('BG_ERR_VALIDATION', 'BG_ERR_UNKNOWN_FIELD', 'BG_ERR_CONFLICT') },
    },
  }, async (request, reply) => {
    const { app: created, secret } = await deps.apps.create({ name: request.body.name, clientId: request.body.client_id, clientSecret: request.body.client_secret });
    reply.code(201);
    return { ...appView(created), client_secret: secret };
  });
  app.get('/apps', { schema: { tags, summary: 'List apps (never their secrets)', querystring: Type.Object(PageQuery, { additionalProperties: false }), response: { 200: listOf(AppView), ...errors('BG_ERR_VALIDATION') } } }, async (request) => {
    const page = pageRequest(request.query);
    return pageResult(await deps.store.apps.list(page.request), page, appView);
  });
  app.get('/apps/:id', { schema: { tags, summary: 'One app', params: IdParams, response: { 200: AppView, ...errors('BG_ERR_APP_NOT_FOUND') } } }, async (request) => appView(await deps.apps.get(request.params.id)));
  app.post('/apps/:id/secret/rotate', {
    schema: {
      tags, summary: 'Replace the client secret (tokens signed with the old one stop verifying)', params: IdParams,
      body: OptionalBody(Type.Object({ client_secret: Type.Optional(Type.String({ minLength: 16, maxLength: 512 })) }, { additionalProperties: false })),
      response: { 200: WithSecret, ...errors('BG_ERR_APP_NOT_FOUND', 'BG_ERR_VALIDATION') },
    },
  }, async (request) => {
    const rotated = await deps.apps.rotateSecret(request.params.id, request.body?.client_secret);
    return { ...appView(rotated.app), client_secret: rotated.secret };
  });
  app.delete('/apps/:id', { schema: { tags, summary: 'Delete an app no channel uses', params: IdParams, response: { 204: Type.Null(), ...errors('BG_ERR_APP_NOT_FOUND', 'BG_ERR_CONFLICT') } } }, async (request, reply) => {
    await deps.apps.delete(request.params.id);
    reply.code(204).send(null);
  });
};
