// /api/bots: loaded bots (load a file, reload it), and /api/bots/{id}/channels.
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { channelView } from '../../channels/channels.ts';
import { botView } from '../../conversation/bot-registry.ts';
import type { AppDeps } from '../deps.ts';
import { IdParams, Nullable, errors } from '../schemas.ts';
import { ChannelBody, ChannelView, ChannelWithSecret } from './channels.ts';

const BotView = Type.Object({
  id: Type.String(), name: Type.String(), description: Nullable(Type.String()), source: Type.String(), version: Type.Integer(),
  intents: Type.Array(Type.String()), states: Type.Integer(), knowledge_pages: Type.Integer(), created_at: Type.String(), updated_at: Type.String(),
});

export const botRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const tags = ['bots'];
  app.get('/bots', { schema: { tags, summary: 'Loaded bots', response: { 200: Type.Object({ data: Type.Array(BotView) }), ...errors() } } }, async () => ({
    data: (await deps.bots.list()).map(botView),
  }));
  app.post('/bots', {
    schema: {
      tags, summary: 'Load a bot file (YAML or JSON) on the gateway\'s machine: 201 with a new bot or version, 200 when the file is the stored version unchanged (it keeps its version); a file with problems is refused with all of them',
      body: Type.Object({ file: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: false }),
      response: { 200: BotView, 201: BotView, ...errors('BG_ERR_BOT_INVALID', 'BG_ERR_VALIDATION') },
    },
  }, async (request, reply) => {
    const record = await deps.bots.load(request.body.file, { requireEndpoints: true });
    reply.code(record.unchanged ? 200 : 201);
    return botView(record);
  });
  app.get('/bots/:id', { schema: { tags, summary: 'One bot', params: IdParams, response: { 200: BotView, ...errors('BG_ERR_BOT_NOT_FOUND') } } }, async (request) => botView(await deps.bots.get(request.params.id)));
  app.post('/bots/:id/reload', {
    schema: {
      tags, summary: 'Read the bot\'s file again: new turns use the new version; a conversation in a removed state starts afresh',
      params: IdParams, response: { 200: BotView, ...errors('BG_ERR_BOT_NOT_FOUND', 'BG_ERR_BOT_INVALID') },
    },
  }, async (request) => botView(await deps.bots.reload(request.params.id, { requireEndpoints: true })));

  app.get('/bots/:id/channels', {
    schema: { tags: ['channels'], summary: 'A bot\'s channels, oldest first (the first answers at /chatbot/hooks/{botId})', params: IdParams, response: { 200: Type.Object({ data: Type.Array(ChannelView) }), ...errors('BG_ERR_BOT_NOT_FOUND') } },
  }, async (request) => {
    await deps.bots.get(request.params.id);
    const channels = await deps.channels.forBot(request.params.id);
    return { data: channels.map((c, i) => channelView(c, i === 0, deps.publicBase())) };
  });
  app.post('/bots/:id/channels', {
    schema: {
      tags: ['channels'], summary: 'Add a channel; an async one gets an endpoint for its POST_URL, whose signing secret is in this answer only',
      params: IdParams, body: ChannelBody, response: { 201: ChannelWithSecret, ...errors('BG_ERR_BOT_NOT_FOUND', 'BG_ERR_APP_NOT_FOUND', 'BG_ERR_VALIDATION', 'BG_ERR_CONFLICT') },
    },
  }, async (request, reply) => {
    const { channel, secret } = await deps.channels.create(request.params.id, request.body);
    const first = (await deps.channels.forBot(channel.botId))[0]?.id === channel.id;
    reply.code(201);
    return { ...channelView(channel, first, deps.publicBase()), secret };
  });
};
