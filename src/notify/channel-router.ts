// The gateway's notification router: a type's endpoint (Kore.ai's notify API with auth kind kore_jwt, or any
// webhook), else the user's most recent conversation on a channel that can carry a message later (Kore async,
// a platform's outgoing webhook, Twilio), written into that conversation as an outgoing message; one in a handoff
// only after those in bot mode, and only for a critical type (the engine's choice: batch.ts).
import type { TurnDirectory } from '../conversation/turn-directory.ts';
import type { IdPrefix } from '../ids.ts';
import type { ConversationRecord, EndpointRecord, Identity, NewMessage, Store } from '../store/store.ts';
import type { NotificationRecord } from '../store/notify-records.ts';
import { KORE_NOTIFY_CHANNELS, koreNotifyBody } from './kore-notify.ts';
import type { Destination, NotificationRouter } from './router.ts';
import type { EventTypeSettings } from './types.ts';
import { lastIncoming } from '../conversation/last-incoming.ts';

export const NOTIFICATION_EVENT = 'notification.sent';

/** A type's endpoint as the user's destination; none for Kore.ai's notify API when the user has no email (it addresses users by email). */
function endpointDestination(endpoint: EndpointRecord, identities: Identity[], newId: (p: IdPrefix) => string): Destination | null {
  const kore = endpoint.authKind === 'kore_jwt';
  const emails = identities.filter((i) => i.kind === 'email').map((i) => i.value);
  if (kore && emails.length === 0) return null;
  return {
    id: endpoint.id,
    channel: endpoint.name,
    build(n: NotificationRecord, text: string, now: number): NewMessage[] {
      const payload = kore
        ? koreNotifyBody({
          channel: typeof n.params.kore_channel === 'string' ? n.params.kore_channel : KORE_NOTIFY_CHANNELS[0],
          text,
          identities: emails,
        })
        : JSON.stringify({
          type: NOTIFICATION_EVENT, notification_id: n.id, user_id: n.userId, event_type: n.eventType, variant: n.variant, text, params: n.params,
          identities: identities.map((i) => ({ kind: i.kind, id: i.value })), timestamp: new Date(n.sentAt ?? now).toISOString(),
        });
      // No idempotency key: a notification is published once, in the transaction that decides it.
      return [{ id: newId('msg'), eventType: NOTIFICATION_EVENT, payload, orderingKey: n.userId, idempotencyKey: null, createdAt: now, endpointIds: [endpoint.id] }];
    },
  };
}

export function createChannelRouter(deps: { store: Store; directory: TurnDirectory; newId: (p: IdPrefix) => string }): NotificationRouter {
  const { store, directory, newId } = deps;
  return {
    async prepare(userIds, types) {
      const endpointIds = [...new Set(types.flatMap((t) => (t.endpointId ? [t.endpointId] : [])))];
      const endpoints = new Map<string, EndpointRecord>();
      // A disabled endpoint (by hand, after a 410 or 5 days of failures) still takes its type's notifications: the
      // delivery engine holds them until it is enabled (docs/delivery.md), instead of dropping them as no_channel.
      for (const id of endpointIds) {
        const e = await store.endpoints.get(id);
        if (e) endpoints.set(id, e);
      }
      const identities = endpoints.size ? await store.users.identitiesOf(userIds) : new Map<string, Identity[]>();

      // Each user's latest conversation per channel, newest first: for types without an endpoint, those on channels that
      // carry later messages are the candidates. Those in bot mode come first; those in a handoff (waiting for or with
      // an agent) after them, marked: only a critical notification interrupts a person's conversation.
      const conversations = types.some((t) => !t.endpointId) ? await store.conversations.latestPerChannel(userIds) : [];
      const contexts = await directory.contextFor(new Set(conversations.map((c) => c.channelId)));
      const byUser = new Map<string, Destination[]>();
      const inHandoff = (c: ConversationRecord) => c.mode !== 'bot';
      // Bot mode first (a stable sort keeps each group newest first).
      for (const conversation of conversations.toSorted((a, b) => Number(inHandoff(a)) - Number(inHandoff(b)))) {
        const ctx = contexts.get(conversation.channelId);
        if (!ctx || !conversation.userId || !ctx.adapter.carriesAgentMessages(ctx.channel)) continue;
        // The newest conversation per platform only (in bot mode if there is one): a send takes the first candidate
        // the user has not opted out of, and opting out is per platform, so another one on the same platform is never reached.
        const list = byUser.get(conversation.userId) ?? [];
        if (list.some((d) => d.channel === ctx.adapter.platform(ctx.channel))) continue;
        list.push({ ...conversationDestination(conversation, ctx, await lastIncoming(store, conversation.id)), inHandoff: inHandoff(conversation) });
        byUser.set(conversation.userId, list);
      }

      function conversationDestination(conversation: ConversationRecord, ctx: NonNullable<ReturnType<typeof contexts.get>>, incoming: Record<string, unknown> | null): Destination {
        return {
          id: ctx.channel.id,
          channel: ctx.adapter.platform(ctx.channel),
          build: (_n, text, now) => ctx.adapter.outgoing({
            channel: ctx.channel, conversation, messages: [{ text }], direction: 'outgoing', incoming, replyTo: null, endOfTask: null, newId, now,
          }),
        };
      }

      return {
        candidates(userId: string, type: EventTypeSettings): Destination[] {
          if (type.endpointId) {
            const endpoint = endpoints.get(type.endpointId);
            const destination = endpoint ? endpointDestination(endpoint, identities.get(userId) ?? [], newId) : null;
            return destination ? [destination] : [];
          }
          return byUser.get(userId) ?? [];
        },
      };
    },
  };
}
