// The hand-off: deliveries published in this process, stored leased to its worker (outbox.ts, store PublishLease),
// wait here in memory for a slot instead of in the store for a claim. Bounded in number. An endpoint whose work was
// stored pending meanwhile (`behind`: the queue was full, it was not cached, it hangs, a retry fell due, work was put
// back for it…) gets none until a claim finds it caught up, so new messages never overtake for long what waits in
// the store; claims skip an endpoint while its hand-offs wait (`waiting`).
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { LeasedDelivery, PublishLease } from '../store/store.ts';
import type { ResolvedEndpoint } from './attempt.ts';

/** How often the worker sweeps (with its reaper): hand-offs whose lease would end before the next sweep go back. */
export const HANDOFF_SWEEP_MS = 10_000;
/**
 * A handed-off delivery still waiting is given back (stored pending) once its lease would end within this long plus
 * its endpoint's timeout: the sweep then runs at least once more before the lease ends, so no reaper can take back a
 * delivery this process still holds.
 */
const MARGIN_MS = 2 * HANDOFF_SWEEP_MS;
/**
 * An endpoint whose every slot is taken and none of whose tries ended for this long gets no hand-offs (a dead one), and
 * gives back those it holds. Short, because a burst fills the queue within a second; a slow endpoint taken for a dead
 * one only goes through claims a while.
 */
const STALL_MS = 500;

const sizeOf = (d: LeasedDelivery) => d.payload?.length ?? 0;

/** One publish's hand-off: the lease it stores deliveries under, and what it stored leased (none when it failed). */
export interface HandOffPublish {
  lease: PublishLease;
  settle(leased: LeasedDelivery[]): void;
}

/** Where publishing hands deliveries to (outbox.handOffTo). */
export interface HandOff {
  begin(): HandOffPublish;
}

/** A waiting delivery, and the last moment a try of it may start and still end within its lease. */
interface Waiting {
  delivery: LeasedDelivery;
  startBy: number;
}

export interface HandOffDeps {
  workerId: string;
  clock: Clock;
  settings: Config['delivery'];
  /** The endpoint as the worker read it lately (endpoint-cache.ts `known`), or nothing when it is not known yet. */
  known(endpointId: string): ResolvedEndpoint | undefined;
  /** Tries in flight, of the process and of one endpoint. */
  inFlight(): number;
  inFlightOf(endpointId: string): number;
  /** The worker takes no more work now (its attempt buffer is full). */
  heldBack(): boolean;
  /** Stores a delivery pending again, without an attempt. */
  giveBack(id: string): void;
  /** Starts a try (the worker takes its slots). */
  start(delivery: LeasedDelivery): void;
}

export type HandOffQueue = ReturnType<typeof createHandOffQueue>;

export function createHandOffQueue(deps: HandOffDeps) {
  const { clock, settings } = deps;
  const queues = new Map<string, { items: Waiting[]; head: number }>();
  let queued = 0;
  let queuedSize = 0; // characters of the waiting deliveries' payloads
  const reserved = new Map<string, number>(); // leases taken by publishes not yet committed
  let reservedCount = 0;
  let reservedSize = 0;
  const behind = new Set<string>();
  /** The earliest retry this worker scheduled per endpoint: once due, its hand-offs stop so a claim can send it. */
  const retryDue = new Map<string, number>();
  /** When each endpoint last made progress: a try of it ended, or it got its first slot after none. */
  const progressAt = new Map<string, number>();
  let open = false;
  let rotor = 0;

  const count = (map: Map<string, number>, id: string, by: number) => {
    const n = (map.get(id) ?? 0) + by;
    if (n <= 0) map.delete(id);
    else map.set(id, n);
  };
  const waitingOf = (id: string) => {
    const queue = queues.get(id);
    return (queue ? queue.items.length - queue.head : 0) + (reserved.get(id) ?? 0);
  };

  /** The lease's end for a delivery to this endpoint, or null (stored pending; the endpoint is then behind). */
  function take(endpointId: string, size: number): number | null {
    const now = clock.now();
    const endpoint = deps.known(endpointId);
    const retry = retryDue.get(endpointId);
    if (retry !== undefined && retry <= now) {
      // A retry of it fell due: it waits in the store, so this endpoint's new deliveries go there too, behind it.
      retryDue.delete(endpointId);
      behind.add(endpointId);
    }
    const slots = deps.inFlightOf(endpointId);
    // Every slot taken and no try ended for a while (an endpoint that hangs): its work waits in the store, not in the
    // budget that healthy endpoints share.
    const stalled = slots >= settings.per_endpoint_concurrency && now - (progressAt.get(endpointId) ?? now) > STALL_MS;
    // What it already holds waiting goes to the store as well (stored pending), freeing the budget for the others.
    if (stalled && queues.has(endpointId)) giveBackWaiting(() => false, endpointId);
    if (
      !open || !endpoint || !endpoint.record.isActive || endpoint.record.rateLimitPerSecond || stalled || behind.has(endpointId)
      || queued + reservedCount >= settings.handoff_queue_size || deps.heldBack()
      // Payloads held: within handoff_queue_bytes, but one of any size when none waits.
      || (queued + reservedCount > 0 && queuedSize + reservedSize + size > settings.handoff_queue_bytes)
    ) {
      behind.add(endpointId); // stored pending: claims serve this endpoint until they find it caught up
      return null;
    }
    // Long enough for every delivery ahead of it to take a full try on the endpoint's slots, and its own.
    const rounds = 1 + Math.ceil((slots + waitingOf(endpointId) + 1) / Math.min(settings.per_endpoint_concurrency, settings.concurrency));
    count(reserved, endpointId, 1);
    reservedCount++;
    reservedSize += size;
    return now + settings.lease_grace_seconds * 1000 + MARGIN_MS + rounds * endpoint.record.timeoutSeconds * 1000;
  }

  /** Starts waiting deliveries while there are slots, one endpoint after another. */
  function pump() {
    if (!open || queued === 0) return;
    const ids = [...queues.keys()];
    let skipped = 0;
    for (let i = rotor++; queued > 0 && deps.inFlight() < settings.concurrency && skipped < ids.length; i++) {
      const endpointId = ids[i % ids.length];
      const queue = queues.get(endpointId);
      if (!queue || deps.inFlightOf(endpointId) >= settings.per_endpoint_concurrency) {
        skipped++;
        continue;
      }
      skipped = 0;
      const { delivery, startBy } = queue.items[queue.head++];
      queued--;
      queuedSize -= sizeOf(delivery);
      if (queue.head >= queue.items.length) queues.delete(endpointId);
      else if (queue.head >= 1024 && queue.head * 2 >= queue.items.length) {
        queue.items = queue.items.slice(queue.head);
        queue.head = 0;
      }
      if (clock.now() + MARGIN_MS / 2 > startBy) {
        // Its lease could end during the try (held back longer than its lease allowed for): stored pending instead.
        behind.add(endpointId);
        deps.giveBack(delivery.id);
        continue;
      }
      deps.start(delivery);
    }
  }

  /** Gives back (stores pending) the waiting deliveries (of one endpoint, when named), but those `keep` keeps. */
  function giveBackWaiting(keep: (item: Waiting) => boolean = () => false, only?: string) {
    for (const [endpointId, queue] of queues) {
      if (only !== undefined && endpointId !== only) continue;
      const kept = queue.items.slice(queue.head).filter((item) => {
        if (keep(item)) return true;
        queuedSize -= sizeOf(item.delivery);
        deps.giveBack(item.delivery.id);
        behind.add(endpointId);
        return false;
      });
      queued -= queue.items.length - queue.head - kept.length;
      if (kept.length === 0) queues.delete(endpointId);
      else queues.set(endpointId, { items: kept, head: 0 });
    }
  }

  const handOff: HandOff = {
    begin() {
      const taken: string[] = [];
      let takenSize = 0;
      return {
        lease: {
          workerId: deps.workerId,
          take(endpointId, size) {
            const until = take(endpointId, size);
            if (until !== null) {
              taken.push(endpointId);
              takenSize += size;
            }
            return until;
          },
        },
        settle(leased) {
          for (const endpointId of taken) count(reserved, endpointId, -1);
          reservedCount -= taken.length;
          reservedSize -= takenSize;
          if (!open) {
            for (const d of leased) deps.giveBack(d.id);
            return;
          }
          for (const delivery of leased) {
            const timeoutMs = (deps.known(delivery.endpointId)?.record.timeoutSeconds ?? settings.default_timeout_seconds) * 1000;
            let queue = queues.get(delivery.endpointId);
            if (!queue) queues.set(delivery.endpointId, (queue = { items: [], head: 0 }));
            queue.items.push({ delivery, startBy: delivery.leaseUntil - timeoutMs });
            queued++;
            queuedSize += sizeOf(delivery);
          }
          pump();
        },
      };
    },
  };

  return {
    handOff,
    pump,
    /** Handed-off deliveries waiting for a slot. */
    get queued() {
      return queued;
    },
    /** Whether this endpoint has hand-offs waiting (a claim then skips it). */
    waiting: (endpointId: string) => queues.has(endpointId),
    open() {
      open = true;
    },
    /** Takes no more, and gives back what waits (stored pending for the next start, or another process). */
    close() {
      open = false;
      giveBackWaiting();
    },
    /** The sweep: what would outlive its lease before the next sweep goes back first. */
    sweep() {
      const now = clock.now();
      giveBackWaiting((item) => item.startBy >= now + MARGIN_MS);
    },
    /** Work was stored pending for these endpoints (all, when unnamed): it goes before further hand-offs to them. */
    storedPending(endpointIds?: Iterable<string>) {
      for (const id of endpointIds ?? queues.keys()) if (queues.has(id)) behind.add(id);
    },
    /** After a claim that could take more than it found: the endpoints `caughtUp` names may be handed work again. */
    caughtUp(isCaughtUp: (endpointId: string) => boolean) {
      for (const id of behind) if (isCaughtUp(id)) behind.delete(id);
    },
    retryScheduled(endpointId: string, at: number) {
      retryDue.set(endpointId, Math.min(retryDue.get(endpointId) ?? Infinity, at));
    },
    /** A try of the endpoint ended, or it got its first slot after none. */
    progressed(endpointId: string) {
      progressAt.set(endpointId, clock.now());
    },
  };
}
