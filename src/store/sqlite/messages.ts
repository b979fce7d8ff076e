// SQLite: the outbox. A message and its deliveries are inserted in one transaction, with idempotency keys.
import { messageFromRow } from '../rows.ts';
import { stateCondition } from '../message-state.ts';
import type { EndpointTarget, LeasedDelivery, MessagesRepo, NewMessage, PublishedMessage, PublishOptions, Router } from '../store.ts';
import type { SqliteDb } from './db.ts';
import { pageClause } from './paging.ts';
import { newDelivery, targetsById } from '../new-delivery.ts';

/** Publishes inside the caller's transaction (the outbox's one transaction, or a conversation turn's). */
export type PublishInTx = (messages: NewMessage[], route: Router, options: PublishOptions) => PublishedMessage[];

const INSERT_DELIVERY_SQL = `
INSERT INTO deliveries (id, message_id, endpoint_id, event_type, ordering_key, status, next_attempt_at, created_at, updated_at, locked_by, locked_until)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

export function createMessagesRepo(db: SqliteDb, newId: (prefix: 'dlv') => string): MessagesRepo & { publishInTx: PublishInTx } {
  // Named endpoints are targets whatever their state: a disabled one keeps the delivery until it is enabled (a
  // channel's replies must not vanish while its POST_URL is off). Routing by event type picks active ones only.
  const loadTargets = (explicit: string[] | undefined): EndpointTarget[] => {
    const rows = explicit
      ? db.all(`SELECT id, event_types, ordered FROM endpoints WHERE id IN (SELECT value FROM json_each(?))`, [JSON.stringify(explicit)])
      : db.all('SELECT id, event_types, ordered FROM endpoints WHERE is_active = 1');
    return rows.map((r) => ({ id: String(r.id), eventTypes: r.event_types ? JSON.parse(String(r.event_types)) : null, ordered: r.ordered === 1 }));
  };

  const existing = (key: string, notBefore: number): PublishedMessage | null => {
    const row = db.get('SELECT message_id FROM idempotency_keys WHERE key = ? AND created_at >= ?', [key, notBefore]);
    if (!row) return null;
    const message = db.get('SELECT * FROM messages WHERE id = ?', [String(row.message_id)]);
    if (!message) return null;
    const deliveryIds = db.all('SELECT id FROM deliveries WHERE message_id = ? ORDER BY seq', [String(row.message_id)]).map((r) => String(r.id));
    return { message: messageFromRow(message), deliveryIds, duplicate: true };
  };

  const publishInTx: PublishInTx = (messages, route, { now, idempotencyTtlMs, lease }) => {
    let activeTargets: EndpointTarget[] | null = null;
    // Messages naming the same endpoints (a batch of notifications, a turn's replies) read them once.
    const named = new Map<string, EndpointTarget[]>();
    const results: PublishedMessage[] = [];
    for (const message of messages) {
      if (message.idempotencyKey) {
        const seen = existing(message.idempotencyKey, now - idempotencyTtlMs);
        if (seen) {
          results.push(seen);
          continue;
        }
      }
      let targets: EndpointTarget[];
      if (!message.endpointIds) targets = activeTargets ??= loadTargets(undefined);
      else if (message.endpointIds.length === 0) targets = [];
      else {
        const key = message.endpointIds.join('\u0000');
        targets = named.get(key) ?? loadTargets(message.endpointIds);
        named.set(key, targets);
      }
      results.push(insertOne(message, targets, route, lease));
    }
    return results;
  };

  return {
    publishInTx,
    async publish(messages, route, options) {
      return db.tx(() => publishInTx(messages, route, options));
    },
    async get(id) {
      const row = db.get('SELECT * FROM messages WHERE id = ?', [id]);
      return row ? messageFromRow(row) : null;
    },
    async list(filter, page) {
      const where: string[] = [];
      const params: Record<string, string | number> = {};
      if (filter.eventType !== undefined) {
        where.push('event_type = :event_type');
        params.event_type = filter.eventType;
      }
      if (filter.endpointId !== undefined) {
        where.push('id IN (SELECT message_id FROM deliveries WHERE endpoint_id = :endpoint_id)');
        params.endpoint_id = filter.endpointId;
      }
      if (filter.conversationId !== undefined) {
        where.push('conversation_id = :conversation_id');
        params.conversation_id = filter.conversationId;
      }
      if (filter.direction !== undefined) {
        where.push('direction = :direction');
        params.direction = filter.direction;
      }
      if (filter.channelIds !== undefined) {
        const names = filter.channelIds.map((id, i) => {
          params[`channel_${i}`] = id;
          return `:channel_${i}`;
        });
        where.push(names.length ? `conversation_id IN (SELECT id FROM conversations WHERE channel_id IN (${names.join(', ')}))` : '0');
      }
      if (filter.state !== undefined) where.push(stateCondition(filter.state));
      if (filter.since !== undefined) {
        where.push('created_at >= :since');
        params.since = filter.since;
      }
      if (filter.until !== undefined) {
        where.push('created_at < :until');
        params.until = filter.until;
      }
      const { clause, extra } = pageClause(page, where);
      return db.all(`SELECT * FROM messages ${clause}`, { ...params, ...extra }).map(messageFromRow);
    },
  };

  function insertOne(message: NewMessage, targets: EndpointTarget[], route: Router, lease: PublishOptions['lease']): PublishedMessage {
    const link = message.conversation ?? null;
    const turnStatus = link?.direction === 'incoming' ? (message.turnStatus ?? 'pending') : null;
    db.run(
      `INSERT INTO messages (id, event_type, payload, ordering_key, idempotency_key, created_at, conversation_id, direction, reply_to, turn_status)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [message.id, message.eventType, message.payload, message.orderingKey, message.idempotencyKey, message.createdAt,
        link?.conversationId ?? null, link?.direction ?? null, link?.replyTo ?? null, turnStatus],
    );
    if (message.idempotencyKey) {
      db.run(
        `INSERT INTO idempotency_keys (key, message_id, created_at) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET message_id = excluded.message_id, created_at = excluded.created_at`,
        [message.idempotencyKey, message.id, message.createdAt],
      );
    }
    const byId = targetsById(targets);
    const deliveryIds: string[] = [];
    const leased: LeasedDelivery[] = [];
    for (const endpointId of route(targets, message)) {
      const target = byId.get(endpointId);
      if (!target) continue;
      const id = newId('dlv');
      const planned = newDelivery(id, message, target, lease);
      db.run(INSERT_DELIVERY_SQL, [
        id, message.id, endpointId, message.eventType, planned.orderingKey, planned.leased ? 'sending' : 'pending', message.createdAt, message.createdAt,
        message.createdAt, planned.leased ? lease!.workerId : null, planned.leased?.leaseUntil ?? null,
      ]);
      deliveryIds.push(id);
      if (planned.leased) leased.push(planned.leased);
    }
    return {
      message: {
        id: message.id, eventType: message.eventType, payload: message.payload, orderingKey: message.orderingKey, idempotencyKey: message.idempotencyKey,
        createdAt: message.createdAt, expired: false, conversation: link, turnStatus,
      },
      deliveryIds,
      duplicate: false,
      leased,
    };
  }
}

