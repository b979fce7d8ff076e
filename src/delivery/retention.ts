// Retention: message payloads and attempt response bodies older than N days are purged in batches (rows
// stay, marked expired); idempotency keys and rate counters past their life are forgotten.
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { PurgeCursor, Store } from '../store/store.ts';

export function createRetentionTask(deps: { store: Store; clock: Clock; config: Config; onError?: (error: unknown) => void }) {
  const { store, clock, config } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | null = null;

  async function runOnce(): Promise<{ messages: number; attempts: number; idempotencyKeys: number }> {
    const now = clock.now();
    const before = now - config.retention.days * 86_400_000;
    const total = { messages: 0, attempts: 0, idempotencyKeys: 0 };
    // The cursor walks past payloads still to be sent (a long-disabled endpoint's backlog): each is read once a run.
    for (let after: PurgeCursor | null = null, messagesDone = false; ;) {
      const batch = await store.retention.purge(before, config.retention.batch_size, after);
      total.messages += batch.messages;
      total.attempts += batch.attempts;
      if (!messagesDone) {
        messagesDone = !batch.next;
        after = batch.next ?? after;
      }
      if (messagesDone && batch.attempts < config.retention.batch_size) break;
      await new Promise((resolve) => setImmediate(resolve)); // let deliveries through between batches
    }
    total.idempotencyKeys = await store.retention.purgeIdempotencyKeys(now - config.api.idempotency_ttl_hours * 3_600_000);
    await store.counters.purgeExpired(now);
    return total;
  }

  return {
    runOnce,
    start() {
      const tick = () => {
        if (running) return;
        running = runOnce().catch((error) => deps.onError?.(error)).finally(() => (running = null));
      };
      timer = setInterval(tick, config.retention.interval_minutes * 60_000);
      timer.unref();
      setImmediate(tick);
    },
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
