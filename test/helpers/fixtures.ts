// Test fixtures: records with sensible defaults, and id generators.
import { createIdGenerator } from '../../src/ids.ts';
import { systemClock } from '../../src/clock.ts';
import type { EndpointRecord, NewMessage } from '../../src/store/store.ts';

export const newId = createIdGenerator(systemClock);

export function endpointRecord(overrides: Partial<EndpointRecord> = {}): EndpointRecord {
  const now = overrides.createdAt ?? 1_700_000_000_000;
  return {
    id: newId('ep'),
    name: 'receiver',
    provider: null,
    url: 'http://127.0.0.1:9/hook',
    authKind: 'none',
    authPublic: {},
    authSealed: null,
    customHeaders: {},
    contentType: 'json',
    signing: true,
    timeoutSeconds: 15,
    retrySchedule: null,
    maxAttempts: null,
    isActive: true,
    disabledReason: null,
    disabledAt: null,
    eventTypes: null,
    rateLimitPerSecond: null,
    ordered: false,
    secretsSealed: 'sealed',
    failingSince: null,
    lastSuccessAt: null,
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}

export function newMessage(overrides: Partial<NewMessage> = {}): NewMessage {
  return {
    id: newId('msg'),
    eventType: 'order.created',
    payload: JSON.stringify({ n: 1 }),
    orderingKey: null,
    idempotencyKey: null,
    createdAt: 1_700_000_000_000,
    ...overrides,
  };
}

/** Routes to every target whose filter accepts the event type. */
export const routeAll = (targets: { id: string; eventTypes: string[] | null }[], message: NewMessage) =>
  targets.filter((t) => t.eventTypes === null || t.eventTypes.includes(message.eventType)).map((t) => t.id);
