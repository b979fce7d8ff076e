// The state filter of message views, as SQL both backends understand.
import type { MessageState } from './store.ts';

/** A message's state as the message views show it (DESIGN: received, pending, sent, failed). */
export function stateCondition(state: MessageState): string {
  const has = (statuses: string) => `EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = messages.id AND d.status IN (${statuses}))`;
  switch (state) {
    case 'received': return "direction = 'incoming'";
    case 'failed': return `direction <> 'incoming' AND ${has("'failed'")}`;
    case 'pending': return `direction <> 'incoming' AND NOT ${has("'failed'")} AND ${has("'pending', 'sending'")}`;
    case 'sent': return `direction <> 'incoming' AND NOT ${has("'failed', 'pending', 'sending'")}`;
  }
}
