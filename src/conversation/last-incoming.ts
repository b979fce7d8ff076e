// The payload of a conversation's newest incoming message: replies written outside a turn (an agent's, a
// notification) are built against it, as platforms answer the message they were sent.
import type { Store } from '../store/store.ts';

export async function lastIncoming(store: Store, conversationId: string): Promise<Record<string, unknown> | null> {
  const [last] = await store.messages.list({ conversationId, direction: 'incoming' }, { limit: 1 });
  return last?.payload ? (JSON.parse(last.payload) as Record<string, unknown>) : null;
}
