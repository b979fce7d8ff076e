// The delivery worker's endpoints, ready to send to (secrets opened, retry policy settled), each read from the store at
// most once per ENDPOINT_CACHE_MS; a change made in this process drops its entry at once.
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { EndpointRecord, Store } from '../store/store.ts';
import type { ResolvedEndpoint } from './attempt.ts';
import type { EndpointService } from './endpoints.ts';
import { signingKey } from './signer.ts';

const ENDPOINT_CACHE_MS = 2000;

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
  deps.endpoints.onChange((id) => cache.delete(id));

  /** The endpoint as cached, when read within ENDPOINT_CACHE_MS. */
  function fresh(endpointId: string): ResolvedEndpoint | undefined {
    const cached = cache.get(endpointId);
    return cached && clock.now() - cached.loadedAt < ENDPOINT_CACHE_MS ? cached : undefined;
  }

  return {
    fresh,
    /** The endpoint, read again when not fresh; null when it is gone. */
    async resolve(endpointId: string): Promise<ResolvedEndpoint | null> {
      const cached = fresh(endpointId);
      if (cached) return cached;
      const now = clock.now();
      const record = await deps.store.endpoints.get(endpointId);
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
    },
    /** Drops an endpoint (disabled by a try's answer): read again at its next use. */
    forget(endpointId: string) {
      cache.delete(endpointId);
    },
  };
}
