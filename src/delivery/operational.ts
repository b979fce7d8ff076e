// What stored attempts set in motion: endpoints disabled (410, or failing without a success for too long) and
// the operational messages endpoint.disabled and message.attempt.exhausted, never sent to the endpoint they are about.
import type { Config } from '../config/schema.ts';
import type { AttemptOutcome, ClaimedDelivery, FinishResult } from '../store/store.ts';
import type { EndpointService } from './endpoints.ts';
import { OPERATIONAL_EVENT_TYPES, type Outbox } from './outbox.ts';

export interface FinishedAttempt {
  outcome: AttemptOutcome;
  delivery: ClaimedDelivery;
}

export async function afterAttempts(
  batch: FinishedAttempt[],
  result: FinishResult,
  deps: {
    now: number; config: Config; endpoints: EndpointService; outbox: Outbox; onDisabled: (endpointId: string, reason: string) => void;
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
      const { endpoint, changed } = await deps.endpoints.disable(endpointId, reason);
      if (!changed) continue; // another process (or an earlier batch) disabled it and announced it
      deps.onDisabled(endpointId, reason);
      const since = endpoint.failingSince ?? result.failingSince[endpointId] ?? null;
      await deps.outbox.publish({
        eventType: 'endpoint.disabled',
        payload: { type: 'endpoint.disabled', endpoint_id: endpointId, name: endpoint.name, reason, failing_since: since === null ? null : new Date(since).toISOString(), timestamp: new Date(now).toISOString() },
        excludeEndpointIds: [endpointId],
      });
    } catch (error) {
      deps.onError('disable', error);
    }
  }
  for (const { outcome, delivery } of batch) {
    if (outcome.next.status !== 'failed' || delivery.oneShot || OPERATIONAL_EVENT_TYPES.has(delivery.eventType)) continue;
    await publishExhausted(outcome, delivery).catch((error) => deps.onError('exhausted', error));
  }

  function publishExhausted(outcome: AttemptOutcome, delivery: ClaimedDelivery) {
    return deps.outbox.publish({
      eventType: 'message.attempt.exhausted',
      payload: {
        type: 'message.attempt.exhausted',
        endpoint_id: delivery.endpointId,
        message_id: delivery.messageId,
        delivery_id: delivery.id,
        event_type: delivery.eventType,
        attempts: delivery.attempts + 1,
        last_status_code: outcome.attempt.statusCode,
        last_error: outcome.attempt.error,
        timestamp: new Date(now).toISOString(),
      },
      excludeEndpointIds: [delivery.endpointId],
    });
  }
}
