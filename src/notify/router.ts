// Where a notification goes: the endpoint its type names, else the user's most recent channel that can carry a
// message later (Kore async POST_URL, a platform's outgoing webhook, Twilio), in bot mode first, then one in a
// handoff (critical types only). The engine asks once per batch.
import type { NewMessage } from '../store/store.ts';
import type { NotificationRecord } from '../store/notify-records.ts';
import type { EventTypeSettings } from './types.ts';

export interface Destination {
  /** A channel id or an endpoint id (stored on the notification). */
  id: string;
  /** The name opt-outs use: the channel's platform ('kore', 'zendesk', 'twilio', …) or the endpoint's name. */
  channel: string;
  /** A conversation waiting for or held by a human agent: only a critical notification is sent there (else `in_handoff`). */
  inHandoff?: boolean;
  /** The outgoing messages carrying the notification's text. */
  build(notification: NotificationRecord, text: string, now: number): NewMessage[];
}

export interface RouterBatch {
  /** Destinations for this user and type, best first (empty: nowhere to send). */
  candidates(userId: string, type: EventTypeSettings): Destination[];
}

export interface NotificationRouter {
  prepare(userIds: string[], types: EventTypeSettings[]): Promise<RouterBatch>;
}

/** Decides without sending anywhere: notifications are recorded as sent, no message leaves (a simulation's choice). */
export const recordOnlyRouter: NotificationRouter = {
  async prepare() {
    const nowhere: Destination = { id: 'record-only', channel: 'record-only', build: () => [] };
    return { candidates: () => [nowhere] };
  },
};
