// What both backends store for a published message's delivery to one endpoint (sqlite/messages.ts,
// postgres/messages.ts): its ordering key and, when the publish's lease takes it, the lease.
import type { EndpointTarget, LeasedDelivery, NewMessage, PublishLease } from './store.ts';

export interface NewDelivery {
  /** On an ordered endpoint the message's key ('' for the whole endpoint), unless the message stands outside every sequence. */
  orderingKey: string | null;
  /** Stored leased to the publishing process's worker (status sending) when set; a delivery in a sequence never is. */
  leased: LeasedDelivery | null;
}

export function newDelivery(id: string, message: NewMessage, target: EndpointTarget, lease: PublishLease | undefined): NewDelivery {
  const orderingKey = target.ordered && !message.unordered ? (message.orderingKey ?? '') : null;
  const leaseUntil = lease && orderingKey === null ? lease.take(target.id, message.payload.length) : null;
  const leased = leaseUntil === null ? null : {
    id, messageId: message.id, endpointId: target.id, eventType: message.eventType, attempts: 0, oneShot: false, orderingKey: null, payload: message.payload, leaseUntil,
  };
  return { orderingKey, leased };
}

/** The targets by id, made once per list: a batch routes every message over the same list. */
const byIdOf = new WeakMap<EndpointTarget[], Map<string, EndpointTarget>>();
export function targetsById(targets: EndpointTarget[]): Map<string, EndpointTarget> {
  let byId = byIdOf.get(targets);
  if (!byId) byIdOf.set(targets, (byId = new Map(targets.map((t) => [t.id, t]))));
  return byId;
}
