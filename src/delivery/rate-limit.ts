// Per-endpoint rate limits: fixed one-second windows counted in the store, so every gateway process sharing
// a database draws from the same allowance (open-source Svix stores the limit but does not enforce it).
import type { CountersRepo } from '../store/store.ts';

export interface RateLimiter {
  /** Grants up to `want` sends now; `retryAt` is when the next window opens. */
  take(endpointId: string, perSecond: number, want: number, now: number): Promise<{ granted: number; retryAt: number }>;
}

export function createRateLimiter(counters: CountersRepo): RateLimiter {
  return {
    async take(endpointId, perSecond, want, now) {
      const windowStart = Math.floor(now / 1000) * 1000;
      const count = await counters.add(`delivery:${endpointId}:${windowStart}`, want, windowStart + 5000);
      const before = count - want;
      return { granted: Math.max(0, Math.min(want, perSecond - before)), retryAt: windowStart + 1000 };
    },
  };
}
