// The handoff lifecycle messages (handoff.requested, .assigned, .message, .closed), each carrying
// {user_id, conversation_id, platform, message, sender, sender_type, timestamp, session_id}; a request also
// carries the conversation's last 20 messages as a transcript.
import type { IdPrefix } from '../ids.ts';
import type { ConversationRecord, MessageRecord, NewMessage } from '../store/store.ts';

export type HandoffEvent = 'handoff.requested' | 'handoff.assigned' | 'handoff.message' | 'handoff.closed';
export type SenderType = 'user' | 'agent' | 'bot' | 'system';

export interface HandoffEventInput {
  event: HandoffEvent;
  conversation: ConversationRecord;
  /** The user and conversation as the channel's side knows them. */
  address: { userId: string; conversationId: string };
  platform: string;
  sessionId: string;
  message: string;
  sender: string;
  senderType: SenderType;
  /** Where it goes: the channel's endpoint when it takes lifecycle messages, and the endpoints subscribed to them. */
  endpointIds: string[];
  transcript?: MessageRecord[];
  extra?: Record<string, unknown>;
}

export function handoffEvent(input: HandoffEventInput, now: number, newId: (p: IdPrefix) => string): NewMessage {
  const payload: Record<string, unknown> = {
    type: input.event,
    user_id: input.address.userId,
    conversation_id: input.address.conversationId,
    platform: input.platform,
    message: input.message,
    sender: input.sender,
    sender_type: input.senderType,
    timestamp: new Date(now).toISOString(),
    session_id: input.sessionId,
    botgate_conversation_id: input.conversation.id,
    ...input.extra,
  };
  if (input.transcript) payload.transcript = input.transcript.map(transcriptLine);
  return {
    id: newId('msg'), eventType: input.event, payload: JSON.stringify(payload), orderingKey: input.conversation.id,
    idempotencyKey: null, createdAt: now, endpointIds: input.endpointIds,
  };
}

/** A stored conversation message as an agent reads it in a transcript. */
export function transcriptLine(m: MessageRecord): { direction: string | null; text: string; timestamp: string } {
  return { direction: m.conversation?.direction ?? null, text: messageText(m.payload), timestamp: new Date(m.createdAt).toISOString() };
}

/** The human-readable text of a stored message payload, whatever channel format it has. */
export function messageText(payload: string | null): string {
  if (payload === null) return '';
  try {
    const body = JSON.parse(payload) as Record<string, unknown>;
    const candidates = [(body.message as { text?: unknown } | undefined)?.text, body.message, body.text, body.Body, body.answer];
    for (const value of candidates) {
      if (typeof value === 'string') return value;
      if (value && typeof value === 'object' && 'payload' in value) {
        const text = (value as { payload: { text?: unknown } }).payload.text;
        if (typeof text === 'string') return text;
      }
    }
    if (body.endOfTask) return `[end of task: ${String(body.endReason ?? '')}]`;
  } catch {
    return payload;
  }
  return '';
}
