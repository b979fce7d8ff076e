// Event types: what a published type may be, and what an endpoint's event_types filter is (`null` or `*`: every
// type; `x.*`: every `x.…` type; a name: that type; `[]`: none, only what names the endpoint).
import { BotgateError } from '../errors.ts';

/** What an event type is made of (POST /api/messages, bot webhooks). */
export const EVENT_TYPE_PATTERN = '^[A-Za-z0-9_.:-]+$';
const EVENT_TYPE = new RegExp(EVENT_TYPE_PATTERN);
/** A filter entry matching every type under a prefix: `order.*`. */
const PREFIX_PATTERN = /^[A-Za-z0-9_.:-]+\.\*$/;

/** Operational messages about the delivery engine itself go only to endpoints whose filter lists them (by name or `x.*`). */
export const OPERATIONAL_EVENT_TYPES: ReadonlySet<string> = new Set(['message.attempt.exhausted', 'endpoint.disabled']);

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
