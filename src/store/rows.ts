// Row ↔ record mapping shared by both backends (SQLite gives 0/1 and JSON text, PostgreSQL booleans and
// BIGINT strings): every column passes through these normalisers.
import type { AgentRecord, HandoffRecord, AppRecord, AttemptRecord, BotRecord, ChannelRecord, ClaimedDelivery, ConversationRecord, DeliveryRecord, EndpointRecord, JobRecord, MessageDirection, MessageRecord, PurgeCursor, UserRecord } from './store.ts';
import type { DecisionRecord, FeedRecord, NotificationRecord } from './notify-records.ts';

type Row = Record<string, unknown>;

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const bool = (v: unknown): boolean => v === true || v === 1 || v === '1' || v === 't';
function json<T>(v: unknown, fallback: T): T {
  if (v === null || v === undefined) return fallback;
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}

export function endpointFromRow(r: Row): EndpointRecord {
  return {
    id: String(r.id),
    name: String(r.name),
    provider: strOrNull(r.provider),
    url: String(r.url),
    authKind: String(r.auth_kind),
    authPublic: json(r.auth_public, {}),
    authSealed: strOrNull(r.auth_sealed),
    customHeaders: json(r.custom_headers, {}),
    contentType: r.content_type === 'form' ? 'form' : 'json',
    signing: bool(r.signing),
    timeoutSeconds: num(r.timeout_seconds),
    retrySchedule: json<number[] | null>(r.retry_schedule, null),
    maxAttempts: numOrNull(r.max_attempts),
    isActive: bool(r.is_active),
    disabledReason: strOrNull(r.disabled_reason),
    disabledAt: numOrNull(r.disabled_at),
    eventTypes: json<string[] | null>(r.event_types, null),
    rateLimitPerSecond: numOrNull(r.rate_limit_per_second),
    ordered: bool(r.ordered),
    secretsSealed: String(r.secrets_sealed),
    failingSince: numOrNull(r.failing_since),
    lastSuccessAt: numOrNull(r.last_success_at),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

/** Column values of an endpoint record, JSON as text, booleans as the backend wants them. */
export function endpointColumns(e: Partial<EndpointRecord>, boolValue: (b: boolean) => unknown): Row {
  const columns: Row = {};
  const set = (key: string, value: unknown) => {
    if (value !== undefined) columns[key] = value;
  };
  set('id', e.id);
  set('name', e.name);
  set('provider', e.provider);
  set('url', e.url);
  set('auth_kind', e.authKind);
  set('auth_public', e.authPublic === undefined ? undefined : JSON.stringify(e.authPublic));
  set('auth_sealed', e.authSealed);
  set('custom_headers', e.customHeaders === undefined ? undefined : JSON.stringify(e.customHeaders));
  set('content_type', e.contentType);
  set('signing', e.signing === undefined ? undefined : boolValue(e.signing));
  set('timeout_seconds', e.timeoutSeconds);
  set('retry_schedule', e.retrySchedule === undefined ? undefined : e.retrySchedule === null ? null : JSON.stringify(e.retrySchedule));
  set('max_attempts', e.maxAttempts);
  set('is_active', e.isActive === undefined ? undefined : boolValue(e.isActive));
  set('disabled_reason', e.disabledReason);
  set('disabled_at', e.disabledAt);
  set('event_types', e.eventTypes === undefined ? undefined : e.eventTypes === null ? null : JSON.stringify(e.eventTypes));
  set('rate_limit_per_second', e.rateLimitPerSecond);
  set('ordered', e.ordered === undefined ? undefined : boolValue(e.ordered));
  set('secrets_sealed', e.secretsSealed);
  set('failing_since', e.failingSince);
  set('last_success_at', e.lastSuccessAt);
  set('created_at', e.createdAt);
  set('updated_at', e.updatedAt);
  return columns;
}

export function messageFromRow(r: Row): MessageRecord {
  return {
    id: String(r.id),
    eventType: String(r.event_type),
    payload: strOrNull(r.payload),
    orderingKey: strOrNull(r.ordering_key),
    idempotencyKey: strOrNull(r.idempotency_key),
    createdAt: num(r.created_at),
    expired: bool(r.expired),
    conversation: r.conversation_id === null || r.conversation_id === undefined
      ? null
      : { conversationId: String(r.conversation_id), direction: String(r.direction) as MessageDirection, replyTo: strOrNull(r.reply_to) },
    turnStatus: (strOrNull(r.turn_status) as MessageRecord['turnStatus']) ?? null,
  };
}

export function appFromRow(r: Row): AppRecord {
  return { id: String(r.id), name: String(r.name), secretSealed: String(r.secret_sealed), createdAt: num(r.created_at), updatedAt: num(r.updated_at) };
}

export function botFromRow(r: Row): BotRecord {
  return {
    id: String(r.id), name: String(r.name), source: String(r.source), version: num(r.version), definition: String(r.definition),
    knowledge: String(r.knowledge), createdAt: num(r.created_at), updatedAt: num(r.updated_at),
  };
}

export function channelFromRow(r: Row): ChannelRecord {
  return {
    id: String(r.id), name: strOrNull(r.name), botId: String(r.bot_id), kind: String(r.kind), mode: r.mode === 'async' ? 'async' : 'sync',
    appId: String(r.app_id), endpointId: strOrNull(r.endpoint_id), syncTimeoutSeconds: num(r.sync_timeout_seconds),
    provider: strOrNull(r.provider), inboundTokenHash: strOrNull(r.inbound_token_hash), settings: json(r.settings, {}),
    createdAt: num(r.created_at), updatedAt: num(r.updated_at),
  };
}

export function handoffFromRow(r: Row): HandoffRecord {
  return {
    id: String(r.id), conversationId: String(r.conversation_id), status: String(r.status) as HandoffRecord['status'], reason: strOrNull(r.reason),
    agentId: strOrNull(r.agent_id), resumeState: strOrNull(r.resume_state), closedBy: strOrNull(r.closed_by), requestedAt: num(r.requested_at),
    assignedAt: numOrNull(r.assigned_at), closedAt: numOrNull(r.closed_at), updatedAt: num(r.updated_at),
  };
}

export function agentFromRow(r: Row): AgentRecord {
  return { id: String(r.id), name: String(r.name), tokenHash: String(r.token_hash), isActive: bool(r.is_active), createdAt: num(r.created_at), updatedAt: num(r.updated_at) };
}

export function userFromRow(r: Row): UserRecord {
  return { id: String(r.id), tz: strOrNull(r.tz), preferences: json(r.preferences, {}), createdAt: num(r.created_at), updatedAt: num(r.updated_at) };
}

export function conversationFromRow(r: Row): ConversationRecord {
  return {
    id: String(r.id), botId: String(r.bot_id), channelId: String(r.channel_id), userKey: String(r.user_key), userId: strOrNull(r.user_id),
    mode: String(r.mode) as ConversationRecord['mode'], state: strOrNull(r.state), memory: json(r.memory, {}), lastPrompt: json(r.last_prompt, []),
    createdAt: num(r.created_at), updatedAt: num(r.updated_at), lastMessageAt: num(r.last_message_at),
  };
}

export function deliveryFromRow(r: Row): DeliveryRecord {
  return {
    id: String(r.id),
    seq: num(r.seq),
    messageId: String(r.message_id),
    endpointId: String(r.endpoint_id),
    eventType: String(r.event_type),
    orderingKey: strOrNull(r.ordering_key),
    status: String(r.status) as DeliveryRecord['status'],
    attempts: num(r.attempts),
    nextAttemptAt: numOrNull(r.next_attempt_at),
    lockedBy: strOrNull(r.locked_by),
    lockedUntil: numOrNull(r.locked_until),
    oneShot: bool(r.one_shot),
    lastStatusCode: numOrNull(r.last_status_code),
    lastError: strOrNull(r.last_error),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    sentAt: numOrNull(r.sent_at),
  };
}

/** A leased delivery as a worker gets it, with its message's payload (null: purged by retention). */
export function claimedFromRow(r: Row, payload: unknown): ClaimedDelivery {
  return {
    id: String(r.id),
    messageId: String(r.message_id),
    endpointId: String(r.endpoint_id),
    eventType: String(r.event_type),
    attempts: num(r.attempts),
    oneShot: bool(r.one_shot),
    orderingKey: strOrNull(r.ordering_key),
    payload: strOrNull(payload),
  };
}

export function attemptFromRow(r: Row): AttemptRecord {
  return {
    id: String(r.id),
    deliveryId: String(r.delivery_id),
    messageId: String(r.message_id),
    endpointId: String(r.endpoint_id),
    attemptedAt: num(r.attempted_at),
    statusCode: numOrNull(r.status_code),
    durationMs: num(r.duration_ms),
    errorKind: strOrNull(r.error_kind),
    error: strOrNull(r.error),
    responseBody: strOrNull(r.response_body),
    expired: bool(r.expired),
  };
}

export function jobFromRow(r: Row): JobRecord {
  return {
    id: String(r.id),
    kind: String(r.kind),
    params: json(r.params, {}),
    progress: json(r.progress, {}),
    status: String(r.status) as JobRecord['status'],
    total: num(r.total),
    done: num(r.done),
    error: strOrNull(r.error),
    lockedBy: strOrNull(r.locked_by),
    lockedUntil: numOrNull(r.locked_until),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

export function notificationFromRow(r: Row): NotificationRecord {
  return {
    id: String(r.id), userId: String(r.user_id), eventType: String(r.event_type), status: String(r.status) as NotificationRecord['status'],
    reason: strOrNull(r.reason), critical: bool(r.critical), variant: strOrNull(r.variant), text: strOrNull(r.text), params: json(r.params, {}),
    eventKey: String(r.event_key), occurredAt: num(r.occurred_at), dueAt: numOrNull(r.due_at), expiresAt: num(r.expires_at),
    sentAt: numOrNull(r.sent_at), clickedAt: numOrNull(r.clicked_at), destination: strOrNull(r.destination), messageId: strOrNull(r.message_id),
    createdAt: num(r.created_at), updatedAt: num(r.updated_at),
  };
}

export function decisionFromRow(r: Row): DecisionRecord {
  return {
    id: String(r.id), userId: String(r.user_id), eventType: String(r.event_type), decision: String(r.decision) as DecisionRecord['decision'],
    reason: String(r.reason), score: numOrNull(r.score), variant: strOrNull(r.variant), notificationId: strOrNull(r.notification_id),
    eventKey: String(r.event_key), params: json(r.params, {}), occurredAt: num(r.occurred_at), decidedAt: num(r.decided_at), duplicateOf: strOrNull(r.duplicate_of),
  };
}

export function feedFromRow(r: Row): FeedRecord {
  return {
    id: String(r.id), name: String(r.name), cron: String(r.cron), tz: String(r.tz), eventType: String(r.event_type),
    userIds: json<string[] | null>(r.user_ids, null), params: json(r.params, {}), isActive: bool(r.is_active),
    nextRunAt: numOrNull(r.next_run_at), lastRunAt: numOrNull(r.last_run_at), createdAt: num(r.created_at), updatedAt: num(r.updated_at),
  };
}

/** A user's preferences JSON with an opt-out of a type on every channel added (once). */
export function withOptOut(preferences: string, eventType: string): string {
  const prefs = JSON.parse(preferences || '{}') as { opt_outs?: { event_type: string; channel: string }[] };
  const optOuts = prefs.opt_outs ?? [];
  if (!optOuts.some((o) => o.event_type === eventType && o.channel === '*')) optOuts.push({ event_type: eventType, channel: '*' });
  return JSON.stringify({ ...prefs, opt_outs: optOuts });
}

/** Where a retention batch's window of old messages ends: its last row, or null when the window was not full (no more). */
export function purgeCursor(window: Record<string, unknown>[], limit: number): PurgeCursor | null {
  const last = window.at(-1);
  return window.length < limit || !last ? null : { createdAt: Number(last.created_at), id: String(last.id) };
}
