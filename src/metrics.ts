// Prometheus metrics: attempts and their latency from worker events; delivery counts by status, queue depth
// and the oldest pending age read from the store at scrape time.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Clock } from './clock.ts';
import type { DeliveryWorker } from './delivery/worker.ts';
import type { Store } from './store/store.ts';
import { DELIVERY_STATUSES } from './store/store.ts';

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics(deps: { store: Store; clock: Clock }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'botgate_process_' });

  const attempts = new Counter({
    name: 'botgate_delivery_attempts_total',
    help: 'HTTP tries of deliveries, by outcome (sent, retry, failed) and error kind',
    labelNames: ['outcome', 'error_kind'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'botgate_delivery_attempt_duration_seconds',
    help: 'Duration of each delivery attempt, from request start to the end of the kept response',
    labelNames: ['outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const published = new Counter({
    name: 'botgate_messages_published_total',
    help: 'Messages published through the messages API (POST /api/messages and /api/messages/batch; idempotent repeats not counted). Bot replies, notifications and handoff messages show in botgate_deliveries',
    registers: [registry],
  });
  const byStatus = new Gauge({
    name: 'botgate_deliveries',
    help: 'Deliveries in the store, by status',
    labelNames: ['status'],
    registers: [registry],
  });
  const depth = new Gauge({ name: 'botgate_delivery_queue_depth', help: 'Deliveries waiting or being sent (pending + sending)', registers: [registry] });
  const oldest = new Gauge({ name: 'botgate_delivery_oldest_pending_age_seconds', help: 'Age of the oldest pending delivery (0 when none)', registers: [registry] });
  const handedOff = new Gauge({ name: 'botgate_delivery_handoff_waiting', help: 'Deliveries handed to this process\'s worker at publish, waiting in its memory for a slot (counted as sending)', registers: [registry] });
  let watched: DeliveryWorker | null = null;

  return {
    registry,
    watch(worker: DeliveryWorker) {
      watched = worker;
      // Label children resolved once per label set: observing is on the hot path of every attempt.
      const counters = new Map<string, Counter.Internal>();
      const histograms = new Map<string, Histogram.Internal<string>>();
      worker.events.on('attempt', (a) => {
        const kind = a.errorKind ?? 'none';
        const key = `${a.outcome}:${kind}`;
        let counter = counters.get(key);
        if (!counter) counters.set(key, (counter = attempts.labels(a.outcome, kind)));
        let histogram = histograms.get(a.outcome);
        if (!histogram) histograms.set(a.outcome, (histogram = latency.labels(a.outcome)));
        counter.inc();
        histogram.observe(a.durationMs / 1000);
      });
    },
    countPublished(n: number) {
      published.inc(n);
    },
    async render(): Promise<{ contentType: string; body: string }> {
      const stats = await deps.store.deliveries.stats();
      for (const status of DELIVERY_STATUSES) byStatus.set({ status }, stats.byStatus[status]);
      depth.set(stats.byStatus.pending + stats.byStatus.sending);
      oldest.set(stats.oldestPendingCreatedAt === null ? 0 : Math.max(0, (deps.clock.now() - stats.oldestPendingCreatedAt) / 1000));
      handedOff.set(watched?.queued ?? 0);
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
