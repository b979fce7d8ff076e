// The delivery worker's endpoints, ready to send to (secrets opened, retry policy settled), each read from the store at
// most once per ENDPOINT_CACHE_MS; a change made in this process reads its entry again at once.
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { EndpointRecord, Store } from '../store/store.ts';
import type { ResolvedEndpoint } from './attempt.ts';
import type { EndpointService } from './endpoints.ts';
import { signingKey } from './signer.ts';

const ENDPOINT_CACHE_MS = 2000;
/**
 * How old an entry the hand-off still decides by (handoff.ts: active, rate-limited, its timeout) while it is read again
 * in the background: a publish never finds its endpoint missing only because the entry turned stale a moment ago.
 */
const KNOWN_MS = 30_000;

export interface EndpointCacheDeps {
  store: Store;
  endpoints: EndpointService;
  clock: Clock;
  settings: Config['delivery'];
  /** Whether an endpoint is the gateway's own receiver on loopback (worker.ts DeliveryWorkerDeps.ownLoopback). */
  ownLoopback?: (endpoint: EndpointRecord) => boolean;
}

export function createEndpointCache(deps: EndpointCacheDeps) {
  const { clock, settings } = deps;
  const cache = new Map<string, ResolvedEndpoint>();
  const reading = new Map<string, Promise<ResolvedEndpoint | null>>();
  /** Bumped by every change made here: a read begun before it stores nothing (it may have read the old record). */
  const generation = new Map<string, number>();
  const invalidate = (id: string) => {
    cache.delete(id);
    reading.delete(id);
    generation.set(id, (generation.get(id) ?? 0) + 1);
  };
  // Created or changed here: read again before the change is answered, so publishes to it find it read.
  deps.endpoints.onChange((id) => {
    invalidate(id);
    return resolve(id).catch(() => {});
  });

  /** Reads the endpoint again in the background (once at a time); a failure leaves the entry as it was. */
  function refresh(endpointId: string): void {
    if (!reading.has(endpointId)) resolve(endpointId).catch(() => {});
  }

  /** The endpoint as cached, when read within ENDPOINT_CACHE_MS. */
  function fresh(endpointId: string): ResolvedEndpoint | undefined {
    const cached = cache.get(endpointId);
    return cached && clock.now() - cached.loadedAt < ENDPOINT_CACHE_MS ? cached : undefined;
  }

  /** The endpoint, read again when not fresh (one read at a time per endpoint); null when it is gone. */
  function resolve(endpointId: string): Promise<ResolvedEndpoint | null> {
    const cached = fresh(endpointId);
    if (cached) return Promise.resolve(cached);
    let read = reading.get(endpointId);
    if (!read) {
      const done = () => {
        if (reading.get(endpointId) === read) reading.delete(endpointId);
      };
      read = load(endpointId);
      read.then(done, done);
      reading.set(endpointId, read);
    }
    return read;
  }

  async function load(endpointId: string): Promise<ResolvedEndpoint | null> {
    const now = clock.now();
    const begun = generation.get(endpointId);
    const record = await deps.store.endpoints.get(endpointId);
    const current = generation.get(endpointId) === begun;
    if (!record) {
      if (current) cache.delete(endpointId);
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
    if (current) cache.set(endpointId, resolved);
    return resolved;
  }

  return {
    fresh,
    resolve,
    /**
     * The endpoint for deciding a hand-off: fresh, or read within KNOWN_MS and then read again in the background;
     * nothing when it was never read (its first delivery reads it).
     */
    known(endpointId: string): ResolvedEndpoint | undefined {
      const cached = cache.get(endpointId);
      if (!cached) return undefined;
      const age = clock.now() - cached.loadedAt;
      if (age >= ENDPOINT_CACHE_MS) refresh(endpointId);
      return age < KNOWN_MS ? cached : undefined;
    },
    /** Drops an endpoint (disabled by a try's answer): read again at its next use. */
    forget(endpointId: string) {
      invalidate(endpointId);
    },
  };
}
