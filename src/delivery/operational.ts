// What stored attempts set in motion: endpoints disabled (410, or failing without a success for too long) with
// endpoint.disabled, and message.attempt.exhausted (published with the finish itself); neither is ever sent to the
// endpoint it is about.
import type { Config } from '../config/schema.ts';
import type { AttemptOutcome, ClaimedDelivery, FinishAnnouncements, FinishResult, NewMessage, Router } from '../store/store.ts';
import type { EndpointService } from './endpoints.ts';
import { endpointAccepts, OPERATIONAL_EVENT_TYPES } from './event-types.ts';
import type { Outbox } from './outbox.ts';

export interface FinishedAttempt {
  outcome: AttemptOutcome;
  delivery: ClaimedDelivery;
}

/**
 * Routes an operational message to the endpoints subscribed to its type, never to the endpoint it is about; `reached`
 * collects the endpoints it routed to, for the worker's nudge: only their stored work is new, so other endpoints'
 * hand-offs go on (an unnamed nudge would send every endpoint with waiting hand-offs to claims).
 */
function toSubscribers(about: (message: NewMessage) => string | undefined, reached: Set<string>): Router {
  return (targets, message) => {
    const ids = targets.filter((t) => t.id !== about(message) && endpointAccepts(t.eventTypes, message.eventType)).map((t) => t.id);
    for (const id of ids) reached.add(id);
    return ids;
  };
}

/** Says that operational messages were stored for these endpoints (none: nothing to say). */
function nudgeReached(outbox: Outbox, reached: Set<string>): void {
  if (reached.size > 0) outbox.nudge([...reached]);
}

export async function afterAttempts(
  batch: FinishedAttempt[],
  result: FinishResult,
  deps: {
    now: number; config: Config; endpoints: EndpointService; outbox: Outbox; newId: (prefix: 'msg') => string; onDisabled: (endpointId: string, reason: string) => void;
    /** One step that failed (its endpoint deleted meanwhile, the store refusing a write): the others still run. */
    onError: (step: string, error: unknown) => void;
  },
): Promise<void> {
  const { now } = deps;
  const disable = new Map<string, string>();
  for (const { outcome } of batch) {
    if (outcome.attempt.statusCode === 410) disable.set(outcome.attempt.endpointId, 'gone');
  }
  const limit = deps.config.delivery.disable_after_failing_hours * 3600_000;
  for (const [endpointId, since] of Object.entries(result.failingSince)) {
    if (since !== null && now - since >= limit && !disable.has(endpointId)) disable.set(endpointId, 'failing');
  }
  for (const [endpointId, reason] of disable) {
    try {
      // endpoint.disabled is stored with the disable itself, by the caller that flipped it: never one without the other.
      const reached = new Set<string>();
      const { changed } = await deps.endpoints.disable(endpointId, reason, (endpoint) => {
        const since = endpoint.failingSince ?? result.failingSince[endpointId] ?? null;
        const payload = { type: 'endpoint.disabled', endpoint_id: endpointId, name: endpoint.name, reason, failing_since: since === null ? null : new Date(since).toISOString(), timestamp: new Date(now).toISOString() };
        return {
          message: { id: deps.newId('msg'), eventType: 'endpoint.disabled', payload: JSON.stringify(payload), orderingKey: null, idempotencyKey: null, createdAt: now },
          route: toSubscribers(() => endpointId, reached),
        };
      });
      if (!changed) continue; // another process (or an earlier batch) disabled it and announced it
      deps.onDisabled(endpointId, reason);
      nudgeReached(deps.outbox, reached);
    } catch (error) {
      deps.onError('disable', error);
    }
  }
}

/**
 * message.attempt.exhausted for each delivery of the batch that has failed for good (not a one-shot resend, not an
 * operational message itself), published by the store with the finish that fails it: never one without the
 * other. They reach the endpoints subscribed to the type, never the endpoint they are about.
 */
export function exhaustedAnnouncements(batch: FinishedAttempt[], now: number, newId: (prefix: 'msg') => string): (FinishAnnouncements & { nudge: (outbox: Outbox) => void }) | undefined {
  const messages = new Map<string, NewMessage>();
  const about = new Map<string, string>(); // message id → the endpoint it is about
  for (const { outcome, delivery } of batch) {
    if (outcome.next.status !== 'failed' || delivery.oneShot || OPERATIONAL_EVENT_TYPES.has(delivery.eventType)) continue;
    const id = newId('msg');
    about.set(id, delivery.endpointId);
    messages.set(delivery.id, {
      id, eventType: 'message.attempt.exhausted', orderingKey: null, idempotencyKey: null, createdAt: now,
      payload: JSON.stringify({
        type: 'message.attempt.exhausted',
        endpoint_id: delivery.endpointId,
        message_id: delivery.messageId,
        delivery_id: delivery.id,
        event_type: delivery.eventType,
        attempts: delivery.attempts + 1,
        last_status_code: outcome.attempt.statusCode,
        last_error: outcome.attempt.error,
        timestamp: new Date(now).toISOString(),
      }),
    });
  }
  if (!messages.size) return undefined;
  const reached = new Set<string>();
  const route = toSubscribers((message) => about.get(message.id), reached);
  // Once stored: the endpoints the announcements went to (the store routes only those of deliveries it failed).
  return { messages, route, nudge: (outbox) => nudgeReached(outbox, reached) };
}
