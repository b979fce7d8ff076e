// The delivery worker: claims due deliveries with a lease, sends them (signed, pooled, bounded per process
// and per endpoint, rate limited), records every try as an attempt and schedules the next one.
import type { Clock, Random } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { createEmitter } from '../events.ts';
import type { IdPrefix } from '../ids.ts';
import type { ClaimedDelivery, EndpointRecord, LeasedDelivery, Store } from '../store/store.ts';
import { attemptOutcome, attemptRequest, type ResolvedEndpoint } from './attempt.ts';
import type { EndpointService } from './endpoints.ts';
import type { HttpClient, HttpRequest, HttpResult } from './http-client.ts';
import { createAttemptRecorder } from './attempt-recorder.ts';
import type { HandOff, Outbox } from './outbox.ts';
import type { RateLimiter } from './rate-limit.ts';
import { signingKey } from './signer.ts';

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


const ENDPOINT_CACHE_MS = 2000;
const REAP_INTERVAL_MS = 10_000;
/**
 * A handed-off delivery still waiting in memory is given back (stored pending) once its lease would end within this
 * long plus its endpoint's timeout: the sweep (every REAP_INTERVAL_MS) then runs at least once more before the lease
 * ends, so no reaper can take back a delivery this process still holds.
 */
const HANDOFF_MARGIN_MS = 2 * REAP_INTERVAL_MS;
/** An endpoint whose every slot is taken and none of whose tries ended for this long gets no hand-offs (a dead one). */
const HANDOFF_STALL_MS = 1000;

/** An endpoint's handed-off deliveries waiting for a slot, oldest first. */
interface ReadyQueue {
  items: { delivery: LeasedDelivery; timeoutMs: number }[];
  head: number;
}

export type DeliveryWorker = ReturnType<typeof createDeliveryWorker>;

export function createDeliveryWorker(deps: DeliveryWorkerDeps) {
  const { store, clock, config, workerId } = deps;
  const settings = config.delivery;
  const events = createEmitter<WorkerEvents>();
  const fail = (where: string, error: unknown) => events.emit('error', { where, error });

  const cache = new Map<string, ResolvedEndpoint>();
  deps.endpoints.onChange((id) => cache.delete(id));

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

  // Hand-off (outbox.ts): deliveries published in this process, stored leased to this worker, wait here for a slot
  // instead of in the store for a claim. Bounded in number; an endpoint whose work was stored pending meanwhile
  // (`behind`: the queue was full, it was not cached, a retry fell due…) gets none until a claim finds it caught up,
  // so new messages never overtake what waits in the store for long.
  const ready = new Map<string, ReadyQueue>();
  let readyCount = 0;
  const reserved = new Map<string, number>(); // leases taken by publishes not yet committed
  let reservedCount = 0;
  const behind = new Set<string>();
  /** The earliest retry this worker scheduled per endpoint: once due, its hand-offs stop so a claim can send it. */
  const retryDue = new Map<string, number>();
  /** When each endpoint last made progress: a try of it ended, or it got its first slot after none. */
  const progressAt = new Map<string, number>();
  let rotor = 0;

  /** Takes a slot of the endpoint (and of the process) for a try. */
  function occupy(endpointId: string) {
    inFlight++;
    const count = perEndpoint.get(endpointId) ?? 0;
    if (count === 0) progressAt.set(endpointId, clock.now());
    perEndpoint.set(endpointId, count + 1);
  }

  const early = store.capabilities.parallelQueries;
  let heldBack = false;
  const recorder = createAttemptRecorder({
    store, clock, config, workerId, newId: deps.newId, endpoints: deps.endpoints, outbox: deps.outbox, fail,
    onDisabled: (endpointId, reason) => {
      cache.delete(endpointId);
      events.emit('endpoint.disabled', { endpointId, reason });
    },
    // Stored: the successors of finished ordering-key heads may now be claimed, and a loop held back by a full
    // buffer may go on.
    onStored: (batch) => {
      if (batch.some((f) => f.delivery.orderingKey !== null) || (heldBack && recorder.buffered < settings.flush_batch_size)) signal();
    },
  });

  /** The endpoint as cached, when looked up within ENDPOINT_CACHE_MS. */
  function fresh(endpointId: string): ResolvedEndpoint | undefined {
    const cached = cache.get(endpointId);
    return cached && clock.now() - cached.loadedAt < ENDPOINT_CACHE_MS ? cached : undefined;
  }

  async function resolve(endpointId: string): Promise<ResolvedEndpoint | null> {
    const now = clock.now();
    const cached = fresh(endpointId);
    if (cached) return cached;
    const record = await store.endpoints.get(endpointId);
    if (!record) {
      cache.delete(endpointId);
      return null;
    }
    const schedule = record.retrySchedule ?? settings.retry_schedule_seconds;
    const resolved: ResolvedEndpoint = {
      record,
      keys: deps.endpoints.signingSecrets(record, now).map(signingKey),
      authSecret: deps.endpoints.authSecret(record),
      policy: {
        scheduleSeconds: schedule,
        maxAttempts: record.maxAttempts ?? schedule.length,
        jitter: settings.jitter,
        minDelayAfterThrottleSeconds: settings.min_delay_after_throttle_seconds,
      },
      ownLoopback: deps.ownLoopback?.(record) ?? false,
      loadedAt: now,
    };
    cache.set(endpointId, resolved);
    return resolved;
  }

  async function deliver(d: ClaimedDelivery): Promise<void> {
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      inFlight--;
      const left = (perEndpoint.get(d.endpointId) ?? 1) - 1;
      if (left <= 0) perEndpoint.delete(d.endpointId);
      else perEndpoint.set(d.endpointId, left);
      if (readyCount > 0) pump(); // a handed-off delivery takes the slot first; claims wait for an empty queue
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
      const endpoint = fresh(d.endpointId) ?? (await resolve(d.endpointId));
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
      progressAt.set(d.endpointId, clock.now());
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
      if (outcome.next.status === 'pending') retryDue.set(d.endpointId, Math.min(retryDue.get(d.endpointId) ?? Infinity, outcome.next.nextAttemptAt));
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

  /** Starts handed-off deliveries while there are slots, one endpoint after another. */
  function pump() {
    if (!running) return;
    const ids = [...ready.keys()];
    let skipped = 0;
    for (let i = rotor++; readyCount > 0 && inFlight < settings.concurrency && skipped < ids.length; i++) {
      const endpointId = ids[i % ids.length];
      const queue = ready.get(endpointId);
      const count = perEndpoint.get(endpointId) ?? 0;
      if (!queue || count >= settings.per_endpoint_concurrency) {
        skipped++;
        continue;
      }
      skipped = 0;
      const { delivery, timeoutMs } = queue.items[queue.head++];
      readyCount--;
      if (queue.head >= queue.items.length) ready.delete(endpointId);
      else if (queue.head >= 1024 && queue.head * 2 >= queue.items.length) {
        queue.items = queue.items.slice(queue.head);
        queue.head = 0;
      }
      if (delivery.leaseUntil < clock.now() + timeoutMs + HANDOFF_MARGIN_MS / 2) {
        // Its lease could end during the try (held back longer than its lease allowed for): stored pending instead.
        behind.add(endpointId);
        recorder.giveBack(delivery.id);
        continue;
      }
      occupy(endpointId);
      void deliver(delivery);
    }
  }

  /** Gives back (stores pending) the handed-off deliveries waiting for a slot, but those `keep` keeps. */
  function giveBackReady(keep: (item: ReadyQueue['items'][number]) => boolean = () => false) {
    for (const [endpointId, queue] of ready) {
      const kept = queue.items.slice(queue.head).filter((item) => {
        if (keep(item)) return true;
        recorder.giveBack(item.delivery.id);
        behind.add(endpointId);
        return false;
      });
      readyCount -= queue.items.length - queue.head - kept.length;
      if (kept.length === 0) ready.delete(endpointId);
      else ready.set(endpointId, { items: kept, head: 0 });
    }
  }

  const handOff: HandOff = {
    lease: {
      workerId,
      take(endpointId) {
        const now = clock.now();
        const endpoint = cache.get(endpointId);
        const waiting = (ready.get(endpointId)?.items.length ?? 0) - (ready.get(endpointId)?.head ?? 0) + (reserved.get(endpointId) ?? 0);
        const retry = retryDue.get(endpointId);
        if (retry !== undefined && retry <= now) {
          // A retry of it fell due: it waits in the store, so this endpoint's new deliveries go there too, behind it.
          retryDue.delete(endpointId);
          behind.add(endpointId);
        }
        // Every slot taken and no try ended for a while (an endpoint that hangs): its work waits in the store, not in
        // the hand-off budget that healthy endpoints share.
        const stalled = (perEndpoint.get(endpointId) ?? 0) >= settings.per_endpoint_concurrency && now - (progressAt.get(endpointId) ?? now) > HANDOFF_STALL_MS;
        if (
          !running || !endpoint || now - endpoint.loadedAt >= ENDPOINT_CACHE_MS || !endpoint.record.isActive || endpoint.record.rateLimitPerSecond
          || stalled || behind.has(endpointId) || readyCount + reservedCount >= settings.handoff_queue_size || recorder.buffered >= settings.flush_batch_size
        ) {
          behind.add(endpointId); // stored pending: claims serve this endpoint until they find it caught up
          return null;
        }
        reserved.set(endpointId, (reserved.get(endpointId) ?? 0) + 1);
        reservedCount++;
        // Long enough for every delivery ahead of it to take a full try on the endpoint's slots, and its own.
        const ahead = (perEndpoint.get(endpointId) ?? 0) + waiting;
        const rounds = 1 + Math.ceil((ahead + 1) / Math.min(settings.per_endpoint_concurrency, settings.concurrency));
        return now + settings.lease_grace_seconds * 1000 + HANDOFF_MARGIN_MS + rounds * endpoint.record.timeoutSeconds * 1000;
      },
    },
    settle(taken, leased) {
      for (const endpointId of taken) {
        const left = (reserved.get(endpointId) ?? 1) - 1;
        if (left <= 0) reserved.delete(endpointId);
        else reserved.set(endpointId, left);
        reservedCount--;
      }
      if (!running) {
        for (const d of leased) recorder.giveBack(d.id);
        return;
      }
      for (const d of leased) {
        const timeoutMs = (cache.get(d.endpointId)?.record.timeoutSeconds ?? settings.default_timeout_seconds) * 1000;
        let queue = ready.get(d.endpointId);
        if (!queue) ready.set(d.endpointId, (queue = { items: [], head: 0 }));
        queue.items.push({ delivery: d, timeoutMs });
        readyCount++;
      }
      pump();
    },
  };

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
        const endpoint = await resolve(endpointId);
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
        if (count >= cap || ready.has(id)) {
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
      if (claimed.length < limit) {
        for (const id of behind) if (!exclude.includes(id) && !throttledUntil.has(id) && (got.get(id) ?? 0) < (caps[id] ?? cap)) behind.delete(id);
      }
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
    // Handed-off deliveries whose lease would end before the next sweep go back first, so none is reaped while held.
    const now = clock.now();
    giveBackReady((item) => item.delivery.leaseUntil >= now + item.timeoutMs + HANDOFF_MARGIN_MS);
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
      return readyCount;
    },
    /** What the outbox of this process hands deliveries to (outbox.handOffTo). */
    handOff,

    async start() {
      if (running) return;
      running = true;
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
      for (const id of endpointIds ?? ready.keys()) if (ready.has(id)) behind.add(id);
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
      giveBackReady(); // not started: stored pending for the next start (or another process)
      await loopDone;
      const until = performance.now() + deadlineMs;
      while (inFlight > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
      if (inFlight > 0) shutdown.abort();
      while (inFlight > 0) await new Promise((r) => setTimeout(r, 10));
      await recorder.settled();
    },
  };
}
