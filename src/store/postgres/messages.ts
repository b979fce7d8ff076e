// PostgreSQL: the outbox. A batch of messages and their deliveries is inserted in one transaction, with
// idempotency keys taken by INSERT … ON CONFLICT so two processes publishing one new key store it once.
import { stateCondition } from '../message-state.ts';
import { messageFromRow } from '../rows.ts';
import type { EndpointTarget, LeasedDelivery, MessageRecord, MessagesRepo, NewMessage, PublishedMessage, PublishLease, Router } from '../store.ts';
import { Params, type PgDb, type Sql } from './db.ts';
import { pageClause } from './paging.ts';
import { newDelivery, targetsById } from '../new-delivery.ts';

// Takes each key for the given message unless a fresh entry holds it (a stale one is taken over). Returns
// every key with the message it now names: ours when we got it. A concurrent insert of the same key makes
// this wait for that transaction and then see its row (a unique violation never surfaces); only columns of
// that row may decide, since a sub-select here would read a snapshot older than the row. Keys go in sorted
// order so two batches sharing keys cannot deadlock.
const TAKE_KEYS_SQL = `
INSERT INTO idempotency_keys AS k (key, message_id, created_at)
SELECT key, message_id, created_at FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(key, message_id, created_at)
ORDER BY key
ON CONFLICT (key) DO UPDATE SET
  message_id = CASE WHEN k.created_at < $4 THEN excluded.message_id ELSE k.message_id END,
  created_at = CASE WHEN k.created_at < $4 THEN excluded.created_at ELSE k.created_at END
RETURNING key, message_id`;

// Serializes publishers of one (endpoint, ordering key), so seq order is commit order within a key and a
// claim never sees a later delivery of a key before an earlier one. Keys share 64 lock buckets: a batch of
// thousands of keys holds at most 64 locks (the shared lock table is small); taken in bucket order, so
// batches cannot deadlock; all after the idempotency keys, which a bucket holder never waits for.
const LOCK_ORDERING_KEYS_SQL = `
SELECT count(pg_advisory_xact_lock(hashtext($1), bucket)) FROM (
  SELECT DISTINCT hashtext(k) & 63 AS bucket FROM unnest($2::text[]) AS k ORDER BY 1
) AS buckets`;

const INSERT_MESSAGES_SQL = `
INSERT INTO messages (id, event_type, payload, ordering_key, idempotency_key, created_at, conversation_id, direction, reply_to, turn_status)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[])`;

// WITH ORDINALITY … ORDER BY: seq follows the order of the batch, which FIFO per ordering key relies on.
// A delivery leased to the publishing process's worker (a lease end given) is stored as sending, held by it.
const INSERT_DELIVERIES_SQL = `
INSERT INTO deliveries (id, message_id, endpoint_id, event_type, ordering_key, status, next_attempt_at, created_at, updated_at, locked_by, locked_until)
SELECT id, message_id, endpoint_id, event_type, ordering_key, CASE WHEN locked_until IS NULL THEN 'pending' ELSE 'sending' END, created_at, created_at,
  created_at, CASE WHEN locked_until IS NULL THEN NULL ELSE $8::text END, locked_until
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[]) WITH ORDINALITY
  AS t(id, message_id, endpoint_id, event_type, ordering_key, created_at, locked_until, n)
ORDER BY n`;

/** Publishes inside the caller's transaction (the outbox's one transaction, or a conversation turn's). */
export type PublishInTx = (sql: Sql, messages: NewMessage[], route: Router, notBefore: number, lease?: PublishLease) => Promise<PublishedMessage[]>;

export function createMessagesRepo(db: PgDb, newId: (prefix: 'dlv') => string): MessagesRepo & { publishInTx: PublishInTx } {
  async function publishBatch(sql: Sql, messages: NewMessage[], route: Router, notBefore: number, lease?: PublishLease): Promise<PublishedMessage[]> {
    const keyOwners = await takeKeys(sql, messages, notBefore);
    const fresh = messages.filter((m) => !m.idempotencyKey || keyOwners.get(m.idempotencyKey) === m.id);
    const targets = await loadTargets(sql, fresh);
    const inserted = new Map<string, PublishedMessage>();
    const deliveries: { id: string; message: NewMessage; endpointId: string; orderingKey: string | null; leaseUntil: number | null }[] = [];
    for (const message of fresh) {
      const candidates = message.endpointIds ? explicitTargets(message.endpointIds, targets.byId) : targets.all;
      const byId = targetsById(candidates);
      const deliveryIds: string[] = [];
      const leased: LeasedDelivery[] = [];
      for (const endpointId of route(candidates, message)) {
        const target = byId.get(endpointId);
        if (!target) continue;
        const id = newId('dlv');
        const planned = newDelivery(id, message, target, lease);
        deliveries.push({ id, message, endpointId, orderingKey: planned.orderingKey, leaseUntil: planned.leased?.leaseUntil ?? null });
        deliveryIds.push(id);
        if (planned.leased) leased.push(planned.leased);
      }
      inserted.set(message.id, { message: recordOf(message), deliveryIds, duplicate: false, leased });
    }
    const orderingKeys = deliveries.filter((d) => d.orderingKey !== null).map((d) => `${d.endpointId}\n${d.orderingKey}`);
    if (orderingKeys.length > 0) await sql.get(LOCK_ORDERING_KEYS_SQL, [db.lockName('order'), orderingKeys]);
    if (fresh.length > 0) {
      await sql.run(INSERT_MESSAGES_SQL, [
        fresh.map((m) => m.id), fresh.map((m) => m.eventType), fresh.map((m) => m.payload),
        fresh.map((m) => m.orderingKey), fresh.map((m) => m.idempotencyKey), fresh.map((m) => m.createdAt),
        fresh.map((m) => m.conversation?.conversationId ?? null), fresh.map((m) => m.conversation?.direction ?? null),
        fresh.map((m) => m.conversation?.replyTo ?? null), fresh.map((m) => turnStatusOf(m)),
      ]);
    }
    if (deliveries.length > 0) {
      await sql.run(INSERT_DELIVERIES_SQL, [
        deliveries.map((d) => d.id), deliveries.map((d) => d.message.id), deliveries.map((d) => d.endpointId),
        deliveries.map((d) => d.message.eventType), deliveries.map((d) => d.orderingKey), deliveries.map((d) => d.message.createdAt),
        deliveries.map((d) => d.leaseUntil), lease?.workerId ?? null,
      ]);
    }
    const earlier = await loadEarlier(sql, messages.flatMap((m) => {
      const owner = m.idempotencyKey ? keyOwners.get(m.idempotencyKey) : undefined;
      return owner && owner !== m.id && !inserted.has(owner) ? [owner] : [];
    }));
    return messages.map((m) => {
      const own = inserted.get(m.id);
      if (own) return own;
      const owner = keyOwners.get(m.idempotencyKey!)!;
      const original = inserted.get(owner) ?? earlier.get(owner);
      if (!original) throw new Error(`idempotency key ${m.idempotencyKey} names a missing message ${owner}`);
      return { ...original, duplicate: true };
    });
  }

  return {
    publishInTx: publishBatch,
    async publish(messages, route, { now, idempotencyTtlMs, lease }) {
      if (messages.length === 0) return [];
      return db.tx((sql) => publishBatch(sql, messages, route, now - idempotencyTtlMs, lease));
    },
    async get(id) {
      const row = await db.get('SELECT * FROM messages WHERE id = $1', [id]);
      return row ? messageFromRow(row) : null;
    },
    async list(filter, page) {
      const params = new Params();
      const where: string[] = [];
      if (filter.eventType !== undefined) where.push(`event_type = ${params.add(filter.eventType)}`);
      if (filter.endpointId !== undefined) where.push(`id IN (SELECT message_id FROM deliveries WHERE endpoint_id = ${params.add(filter.endpointId)})`);
      if (filter.conversationId !== undefined) where.push(`conversation_id = ${params.add(filter.conversationId)}`);
      if (filter.direction !== undefined) where.push(`direction = ${params.add(filter.direction)}`);
      if (filter.channelIds !== undefined) where.push(`conversation_id IN (SELECT id FROM conversations WHERE channel_id = ANY(${params.add(filter.channelIds)}))`);
      if (filter.state !== undefined) where.push(stateCondition(filter.state));
      if (filter.since !== undefined) where.push(`created_at >= ${params.add(filter.since)}`);
      if (filter.until !== undefined) where.push(`created_at < ${params.add(filter.until)}`);
      return (await db.all(`SELECT * FROM messages ${pageClause(page, where, params)}`, params.values)).map(messageFromRow);
    },
  };
}

/** Takes the idempotency keys of a batch (the first message carrying a key stands for it): key → message id. */
async function takeKeys(sql: Sql, messages: NewMessage[], notBefore: number): Promise<Map<string, string>> {
  const first = new Map<string, NewMessage>();
  for (const m of messages) if (m.idempotencyKey && !first.has(m.idempotencyKey)) first.set(m.idempotencyKey, m);
  if (first.size === 0) return new Map();
  const takers = [...first.values()];
  const rows = await sql.all(TAKE_KEYS_SQL, [takers.map((m) => m.idempotencyKey), takers.map((m) => m.id), takers.map((m) => m.createdAt), notBefore]);
  return new Map(rows.map((r) => [String(r.key), String(r.message_id)]));
}

/**
 * Endpoints, read once per batch: every active one when a message is routed, and those named whatever their state (a
 * disabled one keeps the delivery until it is enabled: a channel's replies must not vanish while its POST_URL is off).
 */
async function loadTargets(sql: Sql, messages: NewMessage[]): Promise<{ all: EndpointTarget[]; byId: Map<string, EndpointTarget> }> {
  const needAll = messages.some((m) => !m.endpointIds);
  const named = [...new Set(messages.flatMap((m) => m.endpointIds ?? []))];
  if (!needAll && named.length === 0) return { all: [], byId: new Map() };
  const rows = needAll
    ? await sql.all('SELECT id, event_types, ordered, is_active FROM endpoints WHERE is_active OR id = ANY($1::text[]) ORDER BY id', [named])
    : await sql.all('SELECT id, event_types, ordered, is_active FROM endpoints WHERE id = ANY($1::text[]) ORDER BY id', [named]);
  const targets = rows.map((r) => ({
    target: { id: String(r.id), eventTypes: r.event_types ? JSON.parse(String(r.event_types)) : null, ordered: r.ordered === true } as EndpointTarget,
    active: r.is_active === true,
  }));
  return { all: needAll ? targets.filter((t) => t.active).map((t) => t.target) : [], byId: new Map(targets.map((t) => [t.target.id, t.target])) };
}

/** The named endpoints that exist, each once, in the order named. */
function explicitTargets(ids: string[], byId: Map<string, EndpointTarget>): EndpointTarget[] {
  return [...new Set(ids)].flatMap((id) => byId.get(id) ?? []);
}

/** Messages stored by earlier calls, with their delivery ids, for answering duplicates. */
async function loadEarlier(sql: Sql, ids: string[]): Promise<Map<string, PublishedMessage>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const found = new Map<string, PublishedMessage>();
  for (const row of await sql.all('SELECT * FROM messages WHERE id = ANY($1::text[])', [unique])) {
    found.set(String(row.id), { message: messageFromRow(row), deliveryIds: [], duplicate: true });
  }
  for (const row of await sql.all('SELECT message_id, id FROM deliveries WHERE message_id = ANY($1::text[]) ORDER BY seq', [unique])) {
    found.get(String(row.message_id))?.deliveryIds.push(String(row.id));
  }
  return found;
}

function turnStatusOf(m: NewMessage): 'pending' | 'done' | null {
  return m.conversation?.direction === 'incoming' ? (m.turnStatus ?? 'pending') : null;
}

function recordOf(m: NewMessage): MessageRecord {
  return {
    id: m.id, eventType: m.eventType, payload: m.payload, orderingKey: m.orderingKey, idempotencyKey: m.idempotencyKey, createdAt: m.createdAt,
    expired: false, conversation: m.conversation ?? null, turnStatus: turnStatusOf(m),
  };
}
