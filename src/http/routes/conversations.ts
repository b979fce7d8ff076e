// /api/conversations: who talked to which bot on which channel, where each conversation stands.
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { BotgateError } from '../../errors.ts';
import type { ConversationRecord } from '../../store/store.ts';
import type { AppDeps } from '../deps.ts';
import { pageRequest, pageResult } from '../paging.ts';
import { IdParams, Nullable, PageQuery, errors, listOf } from '../schemas.ts';

const ConversationView = Type.Object({
  id: Type.String(), bot_id: Type.String(), channel_id: Type.String(), user_key: Type.String(), user_id: Nullable(Type.String()),
  mode: Type.String(), state: Nullable(Type.String()), memory: Type.Record(Type.String(), Type.String()),
  created_at: Type.String(), updated_at: Type.String(), last_message_at: Type.String(),
});

export function conversationView(c: ConversationRecord) {
  return {
    id: c.id, bot_id: c.botId, channel_id: c.channelId, user_key: c.userKey, user_id: c.userId, mode: c.mode, state: c.state, memory: c.memory,
    created_at: new Date(c.createdAt).toISOString(), updated_at: new Date(c.updatedAt).toISOString(), last_message_at: new Date(c.lastMessageAt).toISOString(),
  };
}

export const conversationRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const tags = ['conversations'];
  app.get('/conversations', {
    schema: {
      tags, summary: 'Conversations, newest first (their messages: GET /api/messages?conversation_id=…)',
      querystring: Type.Object({ bot_id: Type.Optional(Type.String()), channel_id: Type.Optional(Type.String()), user_id: Type.Optional(Type.String()), user_key: Type.Optional(Type.String()), ...PageQuery }, { additionalProperties: false }),
      response: { 200: listOf(ConversationView), ...errors('BG_ERR_VALIDATION') },
    },
  }, async (request) => {
    const q = request.query;
    const page = pageRequest(q, 'conv');
    const rows = await deps.store.conversations.list({ botId: q.bot_id, channelId: q.channel_id, userId: q.user_id, userKey: q.user_key }, page.request);
    return pageResult(rows, page, conversationView);
  });
  app.get('/conversations/:id', { schema: { tags, summary: 'One conversation', params: IdParams, response: { 200: ConversationView, ...errors('BG_ERR_CONVERSATION_NOT_FOUND') } } }, async (request) => {
    const conversation = await deps.store.conversations.get(request.params.id);
    if (!conversation) throw new BotgateError('BG_ERR_CONVERSATION_NOT_FOUND', `No conversation ${request.params.id}`);
    return conversationView(conversation);
  });
};
