// Publishing: a message and one delivery per matching active endpoint stored in one transaction (the
// transactional outbox), with idempotency keys; every later issue publishes through here in-process.
import type { Clock } from '../clock.ts';
import { createGroupCommit } from '../group-commit.ts';
import type { Config } from '../config/schema.ts';
import type { IdPrefix } from '../ids.ts';
import type { EndpointTarget, NewMessage, PublishedMessage, Store } from '../store/store.ts';
import { endpointAccepts } from './event-types.ts';
import type { HandOff } from './handoff.ts';

export interface PublishInput {
  eventType: string;
  /** Any JSON object; serialised once, and that exact text is what every attempt sends. */
  payload: Record<string, unknown>;
  endpointIds?: string[];
  orderingKey?: string | null;
  idempotencyKey?: string | null;
  /** Deliver to the explicit endpoints even if their event_types filter does not list the type (test sends). */
  ignoreFilters?: boolean;
  /** Not queued behind an ordered endpoint's earlier deliveries (test sends). */
  unordered?: boolean;
}

export type Outbox = ReturnType<typeof createOutbox>;

/** A message waiting to be stored, and how it was asked for. */
interface Pending {
  input: PublishInput;
  message: NewMessage;
}

export function createOutbox(deps: { store: Store; clock: Clock; newId: (p: IdPrefix) => string; config: Config }) {
  const listeners = new Set<(endpointIds?: string[]) => void>();
  /** Deliveries became due; `endpointIds` says for which endpoints when known (all of them when absent). */
  const nudge = (endpointIds?: string[]) => listeners.forEach((listener) => listener(endpointIds));
  const ttlMs = deps.config.api.idempotency_ttl_hours * 3600_000;
  let handOff: HandOff | null = null;

  /** Stores the messages of every publish waiting together: one transaction (and on PostgreSQL one round of statements). */
  async function store(items: Pending[]): Promise<PublishedMessage[]> {
    const now = deps.clock.now();
    const options = new Map<string, PublishInput>();
    const messages: NewMessage[] = items.map(({ input, message }) => {
      options.set(message.id, input);
      return message;
    });
    const routed = new Map<string, number>(); // endpoint → deliveries stored for it
    const route = (targets: EndpointTarget[], message: NewMessage) => {
      const input = options.get(message.id)!;
      const all = Boolean(input.ignoreFilters && input.endpointIds);
      const ids: string[] = [];
      for (const t of targets) {
        if (!all && !endpointAccepts(t.eventTypes, message.eventType)) continue;
        ids.push(t.id);
        routed.set(t.id, (routed.get(t.id) ?? 0) + 1);
      }
      return ids;
    };
    // The process's worker may take deliveries at once: stored leased to it, handed to it after the commit (handoff.ts).
    const handing = handOff?.begin();
    let published: PublishedMessage[];
    try {
      published = await deps.store.messages.publish(messages, route, { now, idempotencyTtlMs: ttlMs, lease: handing?.lease });
    } catch (error) {
      handing?.settle([]);
      throw error;
    }
    const leased = published.flatMap((p) => p.leased ?? []);
    handing?.settle(leased);
    // The worker looks for what was stored pending (not handed to it), for those endpoints only.
    for (const d of leased) routed.set(d.endpointId, routed.get(d.endpointId)! - 1);
    const waiting = [...routed].filter(([, n]) => n > 0).map(([id]) => id);
    if (waiting.length > 0) nudge(waiting);
    return published;
  }

  // Publishes that arrive while one is being stored (or within the same turn of the event loop) are stored together:
  // a burst of API calls costs one transaction, not one each. Refused together (a conflict, a lost connection that
  // did not commit), each caller's messages are tried again on their own, so one bad publish fails only its caller.
  const grouped = createGroupCommit(store, { maxGroup: deps.config.api.max_batch_size });

  async function publishMany(inputs: PublishInput[]): Promise<PublishedMessage[]> {
    const now = deps.clock.now();
    return grouped(inputs.map((input) => ({
      input,
      message: {
        id: deps.newId('msg'),
        eventType: input.eventType,
        payload: JSON.stringify(input.payload),
        orderingKey: input.orderingKey ?? null,
        idempotencyKey: input.idempotencyKey ?? null,
        createdAt: now,
        endpointIds: input.endpointIds,
        unordered: input.unordered,
      },
    })));
  }

  return {
    publishMany,
    async publish(input: PublishInput): Promise<PublishedMessage> {
      const [published] = await publishMany([input]);
      return published;
    },
    /** Says that deliveries became due (published, resent, requeued): the worker looks at once. */
    nudge,
    onWork(listener: (endpointIds?: string[]) => void) {
      listeners.add(listener);
    },
    /** Publishes from now on offer their deliveries to this worker (a gateway's, in this process). */
    handOffTo(worker: HandOff) {
      handOff = worker;
    },
  };
}
