// Event types: what a published type may be, which types botgate alone publishes, and what an endpoint's
// event_types filter is (`null` or `*`: every type; `x.*`: every `x.…` type; a name: that type; `[]`: none, only
// what names the endpoint).
import { BotgateError } from '../errors.ts';

/** What an event type is made of (POST /api/messages, bot webhooks). */
export const EVENT_TYPE_PATTERN = '^[A-Za-z0-9_.:-]+$';
const EVENT_TYPE = new RegExp(EVENT_TYPE_PATTERN);
/** A filter entry matching every type under a prefix: `order.*`. */
const PREFIX_PATTERN = /^[A-Za-z0-9_.:-]+\.\*$/;

/** Operational messages about the delivery engine itself go only to endpoints whose filter lists them (by name or `x.*`). */
export const OPERATIONAL_EVENT_TYPES: ReadonlySet<string> = new Set(['message.attempt.exhausted', 'endpoint.disabled']);

/**
 * Types botgate publishes itself, which receivers take as its word: the operational ones, a conversation's messages
 * (incoming, and replies to a channel's POST_URL or a platform's webhook), the handoff lifecycle and notifications.
 * API clients may not publish them (BG_ERR_EVENT_TYPE_RESERVED).
 */
const RESERVED_EVENT_TYPES: ReadonlySet<string> = new Set([
  ...OPERATIONAL_EVENT_TYPES, 'message.received', 'kore.message', 'platform.message', 'twilio.message', 'notification.sent',
]);
const RESERVED_PREFIXES = ['handoff.'];

export function isReservedEventType(eventType: string): boolean {
  return RESERVED_EVENT_TYPES.has(eventType) || RESERVED_PREFIXES.some((prefix) => eventType.startsWith(prefix));
}

/** Refuses (400 BG_ERR_EVENT_TYPE_RESERVED) a type only botgate publishes, naming the field it came in. */
export function checkPublishable(field: string, eventType: string): void {
  if (isReservedEventType(eventType)) {
    throw new BotgateError('BG_ERR_EVENT_TYPE_RESERVED', `${field}: ${eventType} is published by botgate itself (docs/delivery.md, "Event types"); choose another type`);
  }
}

/** Does an endpoint's event_types filter take this type? `*` (like null) takes every type but the operational ones. */
export function endpointAccepts(eventTypes: string[] | null, eventType: string): boolean {
  if (eventTypes === null) return !OPERATIONAL_EVENT_TYPES.has(eventType);
  return eventTypes.some((pattern) =>
    pattern === eventType
    || (pattern === '*' && !OPERATIONAL_EVENT_TYPES.has(eventType))
    || (pattern.endsWith('.*') && eventType.startsWith(pattern.slice(0, -1))));
}

/**
 * Refuses a filter entry that could match nothing it seems to say (a `*` anywhere but alone or after a final dot:
 * `a*b`, `**`, `*.x`; a character no event type has), naming it: such an endpoint would silently receive nothing.
 */
export function checkEventTypeFilter(eventTypes: unknown): void {
  if (eventTypes === undefined || eventTypes === null) return;
  if (!Array.isArray(eventTypes) || eventTypes.length > 500) throw new BotgateError('BG_ERR_VALIDATION', 'event_types must be null or a list of at most 500 types');
  for (const [i, entry] of eventTypes.entries()) {
    const ok = typeof entry === 'string' && entry.length <= 200 && (entry === '*' || EVENT_TYPE.test(entry) || PREFIX_PATTERN.test(entry));
    if (!ok) {
      throw new BotgateError('BG_ERR_VALIDATION', `event_types.${i}: ${JSON.stringify(entry)} is not an event type ([A-Za-z0-9_.:-], up to 200 characters), a prefix pattern such as "order.*", or "*"`);
    }
  }
}
