// What the delivery worker's tries leave to store, written in batches off the sending path: finished attempts
// (with the exhausted announcements, in the same transaction), deliveries given back now (shutdown, an inactive
// endpoint) or in a minute (our own failure), and what stored attempts set in motion (endpoints disabled).
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { IdPrefix } from '../ids.ts';
import type { AttemptOutcome, FinishAnnouncements, Store } from '../store/store.ts';
import type { EndpointService } from './endpoints.ts';
import { afterAttempts, exhaustedAnnouncements, type FinishedAttempt } from './operational.ts';
import type { Outbox } from './outbox.ts';

/** Waits before storing finished attempts again after a failure; then they are given up to their leases. */
const FINISH_RETRY_MS = [100, 1000, 5000];
/** A delivery that failed on our side before an answer (not the endpoint's fault) is due again after this. */
const DEFER_AFTER_ERROR_MS = 60_000;

/** A finished attempt, and what frees its slot once it is stored. */
export type Recorded = FinishedAttempt & { release: () => void };

export interface AttemptRecorderDeps {
  store: Store;
  clock: Clock;
  config: Config;
  workerId: string;
  newId: (prefix: IdPrefix) => string;
  endpoints: EndpointService;
  outbox: Outbox;
  fail: (where: string, error: unknown) => void;
  onDisabled: (endpointId: string, reason: string) => void;
  /** A batch was stored (or given up to its leases): the worker may claim again. */
  onStored: (batch: Recorded[]) => void;
}

export type AttemptRecorder = ReturnType<typeof createAttemptRecorder>;

export function createAttemptRecorder(deps: AttemptRecorderDeps) {
  const { store, clock, config, workerId, fail } = deps;
  const batchSize = config.delivery.flush_batch_size;
  const buffer: Recorded[] = [];
  const toRelease: string[] = [];
  /** Given back after our own failure: due again in DEFER_AFTER_ERROR_MS. */
  const toDefer: string[] = [];
  let flushScheduled = false;
  let flushing: Promise<void> | null = null;
  /** What stored attempts set in motion (endpoints disabled, endpoint.disabled), awaited by settled(). */
  const following = new Set<Promise<void>>();

  function scheduleFlush() {
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(() => {
      flushScheduled = false;
      void flush();
    });
  }

  /**
   * Stores finished attempts, trying again after a failure (a dropped connection, a busy database): a try that
   * got its answer but was never recorded would be sent again once its lease ran out. Meanwhile the buffer fills
   * and holds the loop back. (After an ambiguous failure on PostgreSQL an attempt row may be stored twice; the
   * lease check keeps the delivery's own row from moving twice.)
   */
  async function finishStubbornly(outcomes: AttemptOutcome[], announce: FinishAnnouncements | undefined) {
    for (let retry = 0; ; retry++) {
      try {
        return await store.deliveries.finish(outcomes, clock.now(), announce);
      } catch (error) {
        if (retry >= FINISH_RETRY_MS.length) throw error;
        fail('finish', error);
        await new Promise((resolve) => setTimeout(resolve, FINISH_RETRY_MS[retry]));
      }
    }
  }

  /** Writes what is waiting, in batches. */
  async function flush(): Promise<void> {
    if (flushing) return flushing.then(() => (buffer.length || toRelease.length || toDefer.length ? flush() : undefined));
    flushing = (async () => {
      while (buffer.length > 0 || toRelease.length > 0 || toDefer.length > 0) {
        for (const [ids, dueAt] of [[toRelease.splice(0), clock.now()], [toDefer.splice(0), clock.now() + DEFER_AFTER_ERROR_MS]] as const) {
          if (ids.length === 0) continue;
          try {
            await store.deliveries.release(ids, workerId, dueAt);
          } catch (error) {
            fail('release', error); // the leases expire and are reaped
          }
        }
        const batch = buffer.splice(0, batchSize);
        if (batch.length === 0) continue;
        try {
          const announce = exhaustedAnnouncements(batch, clock.now(), deps.newId);
          const result = await finishStubbornly(batch.map((f) => f.outcome), announce);
          announce?.nudge(deps.outbox); // message.attempt.exhausted deliveries were stored with it
          const after = afterAttempts(batch, result, {
            now: clock.now(), config, endpoints: deps.endpoints, outbox: deps.outbox, newId: deps.newId, onDisabled: deps.onDisabled,
            onError: (step, error) => fail(`after-attempts ${step}`, error),
          })
            .catch((error) => fail('after-attempts', error))
            .finally(() => following.delete(after));
          following.add(after);
        } catch (error) {
          fail('finish', error); // not recorded after its retries: the leases expire and the deliveries are tried again
        }
        for (const f of batch) f.release();
        deps.onStored(batch);
      }
    })();
    try {
      await flushing;
    } finally {
      flushing = null;
    }
  }

  return {
    /** Attempts finished and waiting to be stored (the worker holds back past a batch of them). */
    get buffered() {
      return buffer.length;
    },
    /** A finished attempt to store. */
    record(finished: Recorded) {
      buffer.push(finished);
      scheduleFlush();
    },
    /** A delivery given back without an attempt, due at once (shutdown, an inactive endpoint). */
    giveBack(id: string) {
      toRelease.push(id);
      scheduleFlush();
    },
    /** Deliveries given back without an attempt after our own failure, due again in a minute. */
    defer(ids: string[]) {
      toDefer.push(...ids);
      scheduleFlush();
    },
    flush,
    /** Everything written, and what it set in motion done (shutdown). */
    async settled() {
      await flush();
      await Promise.all(following);
    },
  };
}
