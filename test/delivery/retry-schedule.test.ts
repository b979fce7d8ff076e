// The retry policy as data, checked with a fixed random source (DESIGN.md, "Retries").
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nextAttemptAt, parseRetryAfter, type RetryPolicy } from '../../src/delivery/retry-schedule.ts';
import { SVIX_RETRY_SCHEDULE_SECONDS } from '../../src/config/schema.ts';

const policy: RetryPolicy = { scheduleSeconds: SVIX_RETRY_SCHEDULE_SECONDS, maxAttempts: 8, jitter: 0.2, minDelayAfterThrottleSeconds: 60 };
const none = { throttled: false, retryAfterSeconds: null };
const mid = () => 0.5; // no jitter
const T = 1_000_000;

describe('retry schedule', () => {
  it("follows Svix's schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then gives up", () => {
    const delays = [1, 2, 3, 4, 5, 6, 7].map((made) => (nextAttemptAt(policy, made, T, none, mid)! - T) / 1000);
    assert.deepEqual(delays, [5, 300, 1800, 7200, 18000, 36000, 36000]);
    assert.equal(nextAttemptAt(policy, 8, T, none, mid), null);
  });

  it('jitters by ±20%', () => {
    assert.equal(nextAttemptAt(policy, 2, T, none, () => 0)! - T, 240_000);
    assert.equal(nextAttemptAt(policy, 2, T, none, () => 0.999999)! - T, 360_000);
  });

  it('waits at least 60 s after a timeout or a 429', () => {
    assert.equal(nextAttemptAt(policy, 1, T, { throttled: true, retryAfterSeconds: null }, mid)! - T, 60_000);
    assert.equal(nextAttemptAt(policy, 2, T, { throttled: true, retryAfterSeconds: null }, mid)! - T, 300_000);
  });

  it('honours Retry-After within [delay, 2×delay]', () => {
    const at = (made: number, retryAfter: number, throttled = true) => (nextAttemptAt(policy, made, T, { throttled, retryAfterSeconds: retryAfter }, mid)! - T) / 1000;
    assert.equal(at(1, 90), 90);
    assert.equal(at(1, 10), 60, 'never sooner than the delay');
    assert.equal(at(1, 500), 120, 'never later than twice the delay');
    assert.equal(at(2, 400, false), 400);
  });

  it('repeats the last delay when max_attempts exceeds the schedule', () => {
    const short = { ...policy, scheduleSeconds: [0, 10], maxAttempts: 4 };
    assert.equal(nextAttemptAt(short, 3, T, none, mid)! - T, 10_000);
    assert.equal(nextAttemptAt(short, 4, T, none, mid), null);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    assert.equal(parseRetryAfter('120', 0), 120);
    assert.equal(parseRetryAfter(new Date(T + 30_000).toUTCString(), T), 30);
    assert.equal(parseRetryAfter('soon', T), null);
    assert.equal(parseRetryAfter(undefined, T), null);
  });
});
