// How deliveries and attempts look to API and CLI users (snake_case, ISO times).
import type { AttemptRecord, DeliveryRecord } from '../store/store.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function deliveryView(d: DeliveryRecord) {
  return {
    id: d.id,
    message_id: d.messageId,
    endpoint_id: d.endpointId,
    event_type: d.eventType,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.status === 'pending' ? iso(d.nextAttemptAt) : null,
    last_status_code: d.lastStatusCode,
    last_error: d.lastError,
    one_shot: d.oneShot,
    ordering_key: d.orderingKey,
    created_at: iso(d.createdAt)!,
    updated_at: iso(d.updatedAt)!,
    sent_at: iso(d.sentAt),
  };
}

export function attemptView(a: AttemptRecord) {
  return {
    id: a.id,
    delivery_id: a.deliveryId,
    attempted_at: iso(a.attemptedAt)!,
    status_code: a.statusCode,
    duration_ms: a.durationMs,
    error_kind: a.errorKind,
    error: a.error,
    response_body: a.responseBody,
    expired: a.expired,
  };
}
