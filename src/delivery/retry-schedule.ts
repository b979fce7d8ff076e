// When to try a failed delivery again: Svix's schedule as data, ±jitter, at least a minute after a timeout
// or a 429, and Retry-After honoured within [delay, 2×delay] (DESIGN.md, "Retries").
import type { Random } from '../clock.ts';

export interface RetryPolicy {
  /** Delay in seconds before each attempt; [0] is the first attempt (normally 0). */
  scheduleSeconds: readonly number[];
  /** Attempts in all; defaults to the schedule's length (further attempts repeat its last delay). */
  maxAttempts: number;
  jitter: number;
  minDelayAfterThrottleSeconds: number;
}

export interface FailureHints {
  /** The try timed out, or the receiver answered 429. */
  throttled: boolean;
  /** Seconds the receiver asked for in Retry-After, if any. */
  retryAfterSeconds: number | null;
}

/**
 * The time of the next attempt after `attemptsMade` failed attempts, or null when the delivery is exhausted.
 */
export function nextAttemptAt(policy: RetryPolicy, attemptsMade: number, now: number, hints: FailureHints, random: Random): number | null {
  if (attemptsMade >= policy.maxAttempts) return null;
  const schedule = policy.scheduleSeconds;
  const base = schedule[Math.min(attemptsMade, schedule.length - 1)];
  let delay = base * (1 + policy.jitter * (2 * random() - 1));
  if (hints.throttled) delay = Math.max(delay, policy.minDelayAfterThrottleSeconds);
  if (hints.retryAfterSeconds !== null) delay = Math.min(Math.max(hints.retryAfterSeconds, delay), 2 * delay);
  return now + Math.round(delay * 1000);
}

/** Parses Retry-After: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | null {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return null;
  if (/^\s*\d+\s*$/.test(text)) return Number(text);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return null;
  return Math.max(0, (date - now) / 1000);
}
