// The Kore.ai webhook channel as the turn engine sees it: a stored request reads as turn input, and bot (or
// agent) messages become outgoing messages — for an async channel each one a delivery to POST_URL
// ({"text", "to": from.id, "from": botId}, in order per conversation), with endOfTask as a separate final message;
// a sync channel's replies are stored for the history, the end of a task with the last of them.
import type { TurnInput } from '../conversation/bot.ts';
import type { ChannelAdapter } from '../conversation/turns.ts';
import type { NewMessage } from '../store/store.ts';
import { KORE_MESSAGE_EVENT } from './channels.ts';
import { koreText } from './kore-format.ts';

/** The request body as the schema admits it (wire names of Kore.ai). */
export interface KoreRequest {
  session?: { new?: boolean };
  message: { text: string; attachments?: unknown[] };
  from: { id: string; userInfo?: { firstName?: string; lastName?: string; email?: string } };
  to?: { id?: string; groupInfo?: { id?: string; name?: string } };
  customData?: Record<string, unknown>;
}

export const koreAdapter: ChannelAdapter = {
  turnInput(payload): TurnInput {
    const request = payload as unknown as KoreRequest;
    const info = request.from.userInfo ?? {};
    return {
      text: request.message.text,
      newSession: request.session?.new === true,
      context: {
        user: { id: request.from.id, firstName: info.firstName, lastName: info.lastName, email: info.email },
        customData: request.customData ?? {},
        group: request.to?.groupInfo ?? null,
      },
    };
  },

  outgoing({ channel, conversation, messages, direction, replyTo, endOfTask, newId, now }) {
    const link = { conversationId: conversation.id, direction, replyTo };
    const bodies: Record<string, unknown>[] = messages.map((m) => ({ text: koreText(m) }));
    const async = channel.mode === 'async' && channel.endpointId !== null;
    if (endOfTask) {
      const end = { endOfTask: true, endReason: endOfTask.reason };
      // Async: the end travels as a separate final message (Kore.ai's protocol). Sync: it is part of the one answer,
      // so it is stored with the last reply, as answered (one row fewer per finished task).
      if (async || !bodies.length) bodies.push(end);
      else Object.assign(bodies[bodies.length - 1], end);
    }
    return bodies.map((body): NewMessage => ({
      id: newId('msg'),
      eventType: KORE_MESSAGE_EVENT,
      payload: JSON.stringify(async ? { ...body, to: conversation.userKey, from: channel.botId } : body),
      orderingKey: conversation.id,
      idempotencyKey: null,
      createdAt: now,
      // Sync replies travel in the HTTP answer: stored for the history, delivered nowhere.
      endpointIds: async ? [channel.endpointId!] : [],
      conversation: link,
    }));
  },

  // Kore.ai itself requires an async channel for agent transfer: a sync one has nowhere to send an agent's words.
  carriesAgentMessages: (channel) => channel.mode === 'async' && channel.endpointId !== null,
  platform: () => 'kore',
  address: (conversation) => ({ userId: conversation.userKey, conversationId: conversation.id }),
  receivesHandoffEvents: () => false,
};
