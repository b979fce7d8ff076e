// The generic platform webhook as the turn engine sees it: a stored request reads as turn input, and each bot or
// agent message becomes one delivery to the platform's outgoing webhook URL,
// {user_id, conversation_id, platform, message, response_type, timestamp} (signed, retried, in order per
// conversation). The platform's own conversation_id is echoed back when it sent one.
import type { BotMessage, TurnInput } from '../conversation/bot.ts';
import type { ChannelAdapter } from '../conversation/turns.ts';
import type { ChannelRecord, ConversationRecord, NewMessage } from '../store/store.ts';

/** The event type of the replies delivered to a platform's outgoing webhook. */
export const PLATFORM_MESSAGE_EVENT = 'platform.message';

/** The request body of POST /api/webhook/incoming as stored. */
export interface PlatformRequest {
  user_id: string;
  username?: string;
  message: string;
  platform?: string;
  conversation_id?: string;
  timestamp?: string;
  metadata?: Record<string, unknown>;
  message_id?: string;
}

export type ResponseType = 'text' | 'quick_replies' | 'buttons' | 'agent';

/** One bot message as the platform reads it (in the reply delivery and in the webhook's answer). */
export function platformMessage(message: BotMessage, agent: boolean): { message: string; response_type: ResponseType; quick_replies?: string[]; buttons?: unknown[] } {
  if (agent) return { message: message.text, response_type: 'agent' };
  if (message.quickReplies?.length) return { message: message.text, response_type: 'quick_replies', quick_replies: message.quickReplies };
  if (message.buttons?.length) return { message: message.text, response_type: 'buttons', buttons: message.buttons };
  return { message: message.text, response_type: 'text' };
}

/** The platform name of a platform channel (its provider, else its name). */
export const platformName = (channel: ChannelRecord): string => channel.provider ?? channel.name ?? 'platform';

function address(conversation: ConversationRecord, incoming: Record<string, unknown> | null) {
  const theirs = incoming?.conversation_id;
  return { userId: conversation.userKey, conversationId: typeof theirs === 'string' && theirs ? theirs : conversation.id };
}

export const platformAdapter: ChannelAdapter = {
  turnInput(payload): TurnInput {
    const request = payload as unknown as PlatformRequest;
    return {
      text: request.message,
      newSession: false,
      context: {
        user: { id: request.user_id, firstName: request.username },
        customData: request.metadata ?? {},
        group: null,
      },
    };
  },

  outgoing({ channel, conversation, messages, direction, incoming, replyTo, newId, now }) {
    const to = address(conversation, incoming);
    return messages.map((m): NewMessage => ({
      id: newId('msg'),
      eventType: PLATFORM_MESSAGE_EVENT,
      payload: JSON.stringify({
        user_id: to.userId,
        conversation_id: to.conversationId,
        platform: platformName(channel),
        ...platformMessage(m, direction === 'agent_outgoing'),
        timestamp: new Date(now).toISOString(),
      }),
      orderingKey: conversation.id,
      idempotencyKey: null,
      createdAt: now,
      endpointIds: channel.endpointId ? [channel.endpointId] : [],
      conversation: { conversationId: conversation.id, direction, replyTo },
    }));
  },

  carriesAgentMessages: (channel) => channel.endpointId !== null,
  platform: platformName,
  address,
  receivesHandoffEvents: () => true,
};
