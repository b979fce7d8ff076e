// Per-endpoint rate limits, counted in the store so that every gateway process sharing a database draws from the
// same allowance (open-source Svix stores the limit but does not enforce it). The allowance is a sliding second,
// estimated from one-second windows as Cloudflare's limiter does: the sends of the window before count for the part
// of it still inside the last second. Fixed windows alone let twice the limit through around a window's edge (five
// sends at the end of one second, five more at the start of the next, with a busy event loop sending both together).
import type { CountersRepo } from '../store/store.ts';

export interface RateLimiter {
  /** Grants up to `want` sends now; `retryAt` is when the next one may be granted (when some were not). */
  take(endpointId: string, perSecond: number, want: number, now: number): Promise<{ granted: number; retryAt: number }>;
}

/** Counters outlive their window by this much (the next window reads them). */
const KEEP_MS = 5000;

export function createRateLimiter(counters: CountersRepo): RateLimiter {
  return {
    async take(endpointId, perSecond, want, now) {
      const start = Math.floor(now / 1000) * 1000;
      const key = (windowStart: number) => `delivery:${endpointId}:${windowStart}`;
      const left = 1 - (now - start) / 1000; // the share of the window before still inside the last second
      const previous = await counters.add(key(start - 1000), 0, start - 1000 + KEEP_MS);
      const carried = Math.ceil(previous * left);
      // Added first, then what was not granted taken back: two processes asking at once never both see room.
      const count = await counters.add(key(start), want, start + KEEP_MS);
      const granted = Math.max(0, Math.min(want, perSecond - carried - (count - want)));
      if (granted === want) return { granted, retryAt: now };
      const sent = await counters.add(key(start), granted - want, start + KEEP_MS);
      // Room for one more opens once the window before has slid far enough out (or, when this window alone is full, with
      // the next window).
      const room = perSecond - 1 - sent;
      const retryAt = room < 0 || previous === 0 ? start + 1000 : Math.min(start + 1000, Math.ceil(start + 1000 * (1 - room / previous)));
      return { granted, retryAt: Math.max(now + 1, retryAt) };
    },
  };
}
