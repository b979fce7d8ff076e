// /api/channels/{id}: one channel — show, change (app, POST_URL, access token, timeout), delete.
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { channelView } from '../../channels/channels.ts';
import type { AppDeps } from '../deps.ts';
import { IdParams, Nullable, errors } from '../schemas.ts';

export const ChannelView = Type.Object({
  id: Type.String(), name: Nullable(Type.String()), bot_id: Type.String(), kind: Type.String(), mode: Type.String(), app_id: Type.String(),
  endpoint_id: Nullable(Type.String()), sync_timeout_seconds: Type.Number(), url: Type.String(), created_at: Type.String(), updated_at: Type.String(),
});
export const ChannelWithSecret = Type.Intersect([ChannelView, Type.Object({ secret: Nullable(Type.String({ description: 'async: the whsec_ secret deliveries to POST_URL are signed with (shown only now)' })) })]);

const settings = {
  name: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
  app_id: Type.String({ minLength: 1 }),
  post_url: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 2048 }))),
  access_token: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 4096 }))),
  sync_timeout_seconds: Type.Optional(Type.Number({ minimum: 0.1, maximum: 300 })),
};
export const ChannelBody = Type.Object({ kind: Type.Optional(Type.Literal('kore-webhook')), mode: Type.Union([Type.Literal('sync'), Type.Literal('async')]), ...settings }, { additionalProperties: false });
const ChannelPatch = Type.Partial(Type.Object(settings), { additionalProperties: false });

export const channelRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const tags = ['channels'];
  const view = async (id: string) => {
    const channel = await deps.channels.get(id);
    const first = (await deps.channels.forBot(channel.botId))[0]?.id === channel.id;
    return channelView(channel, first, deps.publicBase());
  };
  app.get('/channels/:id', { schema: { tags, summary: 'One channel', params: IdParams, response: { 200: ChannelView, ...errors('BG_ERR_CHANNEL_NOT_FOUND') } } }, async (request) => view(request.params.id));
  app.patch('/channels/:id', {
    schema: { tags, summary: 'Change a channel', params: IdParams, body: ChannelPatch, response: { 200: ChannelView, ...errors('BG_ERR_CHANNEL_NOT_FOUND', 'BG_ERR_APP_NOT_FOUND', 'BG_ERR_VALIDATION', 'BG_ERR_CONFLICT') } },
  }, async (request) => {
    await deps.channels.update(request.params.id, request.body);
    deps.turns.forgetChannel(request.params.id);
    return view(request.params.id);
  });
  app.delete('/channels/:id', { schema: { tags, summary: 'Delete a channel (and the endpoint of an async one; 409 while an event type sends through that endpoint)', params: IdParams, response: { 204: Type.Null(), ...errors('BG_ERR_CHANNEL_NOT_FOUND', 'BG_ERR_CONFLICT') } } }, async (request, reply) => {
    await deps.channels.delete(request.params.id);
    deps.turns.forgetChannel(request.params.id);
    reply.code(204).send(null);
  });
};
