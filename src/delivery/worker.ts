// The delivery worker: claims due deliveries with a lease, sends them (signed, pooled, bounded per process
// and per endpoint, rate limited), records every try as an attempt and schedules the next one.
import type { Clock, Random } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { createEmitter } from '../events.ts';
import type { IdPrefix } from '../ids.ts';
import type { ClaimedDelivery, EndpointRecord, Store } from '../store/store.ts';
import { attemptOutcome, attemptRequest } from './attempt.ts';
import type { EndpointService } from './endpoints.ts';
import type { HttpClient, HttpRequest, HttpResult } from './http-client.ts';
import { createAttemptRecorder } from './attempt-recorder.ts';
import { createEndpointCache } from './endpoint-cache.ts';
import { createHandOffQueue, HANDOFF_SWEEP_MS } from './handoff.ts';
import type { Outbox } from './outbox.ts';
import type { RateLimiter } from './rate-limit.ts';

export interface AttemptEvent {
  deliveryId: string;
  endpointId: string;
  eventType: string;
  outcome: 'sent' | 'retry' | 'failed';
  statusCode: number | null;
  errorKind: string | null;
  durationMs: number;
}

export type WorkerEvents = {
  attempt: AttemptEvent;
  'endpoint.disabled': { endpointId: string; reason: string };
  error: { where: string; error: unknown };
};

export interface DeliveryWorkerDeps {
  store: Store;
  endpoints: EndpointService;
  outbox: Outbox;
  http: HttpClient;
  rateLimiter: RateLimiter;
  clock: Clock;
  random: Random;
  newId: (prefix: IdPrefix) => string;
  config: Config;
  workerId: string;
  /** Whether an endpoint is the gateway's own receiver on loopback (the bundled demo's), which its tries may reach. */
  ownLoopback?: (endpoint: EndpointRecord) => boolean;
}

/** The reaper's period; the hand-off's sweep runs with it. */
const REAP_INTERVAL_MS = HANDOFF_SWEEP_MS;

export type DeliveryWorker = ReturnType<typeof createDeliveryWorker>;

export function createDeliveryWorker(deps: DeliveryWorkerDeps) {
  const { store, clock, config, workerId } = deps;
  const settings = config.delivery;
  const events = createEmitter<WorkerEvents>();
  const fail = (where: string, error: unknown) => events.emit('error', { where, error });

  const endpointCache = createEndpointCache({ store, endpoints: deps.endpoints, clock, settings, ownLoopback: deps.ownLoopback });

  let running = false;
  let loopDone: Promise<void> = Promise.resolve();
  let inFlight = 0;
  const perEndpoint = new Map<string, number>();
  const throttledUntil = new Map<string, number>();
  const shutdown = new AbortController();
  /** Ends the loop's current wait: new work was published, or an in-flight delivery freed its slot. */
  let wakeUp: (() => void) | null = null;
  /** A wake-up that came while the loop was busy claiming: the next wait returns at once. */
  let wakePending = false;
  const signal = () => {
    if (wakeUp) wakeUp();
    else wakePending = true;
  };
  let reapTimer: NodeJS.Timeout | undefined;
  // Hysteresis: the loop claims when at least half of the process's (or an endpoint's) slots are free.
  const refillThreshold = Math.max(1, Math.floor(Math.min(settings.claim_batch_size, settings.concurrency) / 2));
  const endpointRefill = Math.max(1, Math.floor(settings.per_endpoint_concurrency / 2));
  // Endpoints that likely have more due work than the last claim gave them room for (it filled their room,
  // or they were at their limit, or a publish for them came while they were): the first release that opens
  // half their room wakes the loop, once. Likewise for the whole process when a claim filled its limit.
  const backlog = new Set<string>();
  let processBacklog = false;

  const handOffs = createHandOffQueue({
    workerId, clock, settings, known: endpointCache.known,
    inFlight: () => inFlight,
    inFlightOf: (endpointId) => perEndpoint.get(endpointId) ?? 0,
    heldBack: () => recorder.buffered >= settings.flush_batch_size,
    giveBack: (id) => recorder.giveBack(id),
    start(delivery) {
      occupy(delivery.endpointId);
      void deliver(delivery);
    },
  });

  /** Takes a slot of the endpoint (and of the process) for a try. */
  function occupy(endpointId: string) {
    inFlight++;
    const count = perEndpoint.get(endpointId) ?? 0;
    if (count === 0) handOffs.progressed(endpointId);
    perEndpoint.set(endpointId, count + 1);
  }

  const early = store.capabilities.parallelQueries;
  let heldBack = false;
  const recorder = createAttemptRecorder({
    store, clock, config, workerId, newId: deps.newId, endpoints: deps.endpoints, outbox: deps.outbox, fail,
    onDisabled: (endpointId, reason) => {
      endpointCache.forget(endpointId);
      events.emit('endpoint.disabled', { endpointId, reason });
    },
    // Stored: the successors of finished ordering-key heads may now be claimed, and a loop held back by a full
    // buffer may go on.
    onStored: (batch) => {
      if (batch.some((f) => f.delivery.orderingKey !== null) || (heldBack && recorder.buffered < settings.flush_batch_size)) signal();
    },
  });

  async function deliver(d: ClaimedDelivery): Promise<void> {
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      inFlight--;
      const left = (perEndpoint.get(d.endpointId) ?? 1) - 1;
      if (left <= 0) perEndpoint.delete(d.endpointId);
      else perEndpoint.set(d.endpointId, left);
      handOffs.pump(); // a handed-off delivery takes the slot first; claims wait for an empty queue
      // Claim again once a useful amount of room opened (not on every slot: a claim costs a query).
      const room = settings.per_endpoint_concurrency - Math.max(0, left);
      if (backlog.has(d.endpointId) && room >= endpointRefill) {
        backlog.delete(d.endpointId);
        signal();
      } else if (processBacklog && settings.concurrency - inFlight >= refillThreshold) {
        processBacklog = false;
        signal();
      }
    };
    try {
      const endpoint = endpointCache.fresh(d.endpointId) ?? (await endpointCache.resolve(d.endpointId));
      if (!endpoint || !endpoint.record.isActive) {
        recorder.giveBack(d.id);
        return release();
      }
      const attemptedAt = clock.now();
      let result: HttpResult;
      let sent: HttpRequest | null = null;
      if (d.payload === null) {
        result = { statusCode: null, headers: {}, body: null, durationMs: 0, errorKind: 'expired', error: 'the message payload was purged by retention' };
      } else {
        const request = attemptRequest(d, endpoint, d.payload, { now: clock.now(), userAgent: settings.user_agent, signal: shutdown.signal });
        sent = request instanceof Promise ? await request : request;
        result = await deps.http.send(sent);
      }
      handOffs.progressed(d.endpointId);
      if (result.errorKind === 'aborted') {
        recorder.giveBack(d.id);
        return release();
      }
      const outcome = attemptOutcome(d, endpoint, result, { attemptId: deps.newId('att'), attemptedAt, now: clock.now(), workerId, random: deps.random, sent });
      events.emit('attempt', {
        deliveryId: d.id,
        endpointId: d.endpointId,
        eventType: d.eventType,
        outcome: outcome.next.status === 'sent' ? 'sent' : outcome.next.status === 'pending' ? 'retry' : 'failed',
        statusCode: result.statusCode,
        errorKind: outcome.attempt.errorKind,
        durationMs: result.durationMs,
      });
      if (outcome.next.status === 'pending') handOffs.retryScheduled(d.endpointId, outcome.next.nextAttemptAt);
      recorder.record({ outcome, delivery: d, release });
      // With a store that runs queries in parallel the slot frees now, so the next claim overlaps storing
      // this attempt (the lease keeps the row from being claimed again meanwhile). An in-process store runs
      // one query at a time anyway: there the slot frees once the attempt is stored, and claims come larger.
      if (early) release();
    } catch (error) {
      // Not an answer of the endpoint but our own failure (its secrets unreadable under another master key, an
      // auth header that cannot be made): the delivery goes back without an attempt, due again only in a while,
      // so a lasting fault is logged once a minute instead of retried on every poll.
      fail('deliver', error);
      recorder.defer([d.id]);
      release();
    }
  }

  /** Rate-limited endpoints get only what their window allows; the rest goes back until the next window. */
  async function applyRateLimits(claimed: ClaimedDelivery[]): Promise<ClaimedDelivery[]> {
    const byEndpoint = new Map<string, ClaimedDelivery[]>();
    for (const d of claimed) {
      const list = byEndpoint.get(d.endpointId);
      if (list) list.push(d);
      else byEndpoint.set(d.endpointId, [d]);
    }
    const allowed: ClaimedDelivery[] = [];
    for (const [endpointId, list] of byEndpoint) {
      let undecided = list; // neither allowed nor given back yet
      try {
        const endpoint = await endpointCache.resolve(endpointId);
        const perSecond = endpoint?.record.rateLimitPerSecond;
        if (!perSecond) {
          allowed.push(...list);
          continue;
        }
        const { granted, retryAt } = await deps.rateLimiter.take(endpointId, perSecond, list.length, clock.now());
        allowed.push(...list.slice(0, granted));
        undecided = list.slice(granted);
        if (undecided.length > 0) {
          throttledUntil.set(endpointId, retryAt);
          await store.deliveries.release(undecided.map((d) => d.id), workerId, retryAt);
        }
      } catch (error) {
        // Claimed but not sendable now (the endpoint unreadable, the limiter's store failing): given back for a
        // while rather than left leased until the lease runs out. The other endpoints' deliveries go on.
        fail('rate-limit', error);
        recorder.defer(undecided.map((d) => d.id));
      }
    }
    return allowed;
  }

  async function loop() {
    const cap = settings.per_endpoint_concurrency;
    while (running) {
      const free = settings.concurrency - inFlight;
      // Backpressure: attempts not yet stored hold the loop back, so a slow store is never overrun.
      heldBack = recorder.buffered >= settings.flush_batch_size;
      if (free < refillThreshold || heldBack) {
        // No timer: the release that opens enough room wakes the loop (were processBacklog left false after a
        // partial claim, nothing would, and due retries would wait for the next publish).
        processBacklog = true;
        await idle(null);
        continue;
      }
      const now = clock.now();
      const exclude: string[] = [];
      const caps: Record<string, number> = {};
      for (const [id, until] of throttledUntil) {
        if (until > now) exclude.push(id);
        else throttledUntil.delete(id);
      }
      for (const [id, count] of perEndpoint) {
        if (count >= cap || handOffs.waiting(id)) {
          exclude.push(id);
          backlog.add(id); // it may have more; its releases will say when there is room
        } else caps[id] = cap - count;
      }
      const limit = Math.min(free, settings.claim_batch_size);
      let claimed: ClaimedDelivery[];
      try {
        claimed = await store.deliveries.claim({
          workerId, now, leaseGraceMs: settings.lease_grace_seconds * 1000,
          limit, excludeEndpointIds: exclude, endpointCaps: caps, defaultEndpointCap: cap,
        });
        if (claimed.length > 0) claimed = await applyRateLimits(claimed);
      } catch (error) {
        fail('claim', error);
        await idle();
        continue;
      }
      const got = new Map<string, number>();
      for (const d of claimed) got.set(d.endpointId, (got.get(d.endpointId) ?? 0) + 1);
      // An endpoint this claim could have given more than it found has nothing more due: hand-offs may resume.
      if (claimed.length < limit) handOffs.caughtUp((id) => !exclude.includes(id) && !throttledUntil.has(id) && (got.get(id) ?? 0) < (caps[id] ?? cap));
      if (claimed.length === 0) {
        await idle(untilThrottleEnds(now));
        continue;
      }
      for (const [id, n] of got) if (n >= (caps[id] ?? cap)) backlog.add(id);
      if (claimed.length >= limit) processBacklog = true;
      for (const d of claimed) {
        occupy(d.endpointId);
        void deliver(d);
      }
      // Nothing else is claimable right now: wait for a signal (a release opening room, a publish, the poll).
      await idle(untilThrottleEnds(now));
    }
  }

  /** The poll interval, or less when a rate-limited endpoint may send again sooner. */
  function untilThrottleEnds(now: number): number {
    let wait = settings.poll_interval_ms;
    for (const until of throttledUntil.values()) wait = Math.min(wait, Math.max(1, until - now));
    return wait;
  }

  /** Waits for wake(), a freed slot, or the poll interval (null: no timer, a slot will free). */
  function idle(timeoutMs: number | null = settings.poll_interval_ms): Promise<void> {
    if (wakePending) {
      wakePending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = timeoutMs === null ? undefined : setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        wakeUp = null;
        resolve();
      }
      wakeUp = done;
    });
  }

  async function reap(everything: boolean) {
    handOffs.sweep(); // first: none is reaped while this process holds it
    try {
      await store.deliveries.reapExpiredLeases(everything ? Number.MAX_SAFE_INTEGER : clock.now(), workerId);
    } catch (error) {
      fail('reap', error);
    }
  }

  return {
    events,
    get inFlight() {
      return inFlight;
    },
    /** Handed-off deliveries waiting in memory for a slot. */
    get queued() {
      return handOffs.queued;
    },
    /** What the outbox of this process hands deliveries to (outbox.handOffTo). */
    handOff: handOffs.handOff,

    async start() {
      if (running) return;
      running = true;
      handOffs.open();
      // An embedded store has no other process: every lease left in it belongs to a process that died. A shared one
      // takes back the leases of the processes it can tell have died (PostgreSQL: their liveness lock is free).
      await reap(!store.capabilities.multiProcess);
      reapTimer = setInterval(() => void reap(false), REAP_INTERVAL_MS);
      reapTimer.unref();
      loopDone = loop().catch((error) => fail('loop', error));
    },

    /** New deliveries were stored (for these endpoints, when known): look now rather than at the next poll. */
    wake(endpointIds?: string[]) {
      // Work stored pending (a resend, a recover, an enabled endpoint, what a publish could not hand off) goes before
      // further hand-offs to the same endpoints (all, when unnamed), as it would in the store.
      handOffs.storedPending(endpointIds);
      // Work only for endpoints already at their limit cannot be claimed now; their freed slots will wake us.
      if (endpointIds && endpointIds.every((id) => (perEndpoint.get(id) ?? 0) >= settings.per_endpoint_concurrency)) {
        for (const id of endpointIds) backlog.add(id);
        return;
      }
      signal();
    },

    /** Stops claiming, lets in-flight tries finish until the deadline, aborts and releases the rest. */
    async stop(deadlineMs = settings.shutdown_deadline_seconds * 1000) {
      if (!running) return;
      running = false;
      clearInterval(reapTimer);
      wakeUp?.();
      handOffs.close();
      await loopDone;
      const until = performance.now() + deadlineMs;
      while (inFlight > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
      if (inFlight > 0) shutdown.abort();
      while (inFlight > 0) await new Promise((r) => setTimeout(r, 10));
      await recorder.settled();
    },
  };
}
