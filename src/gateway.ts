// The gateway: services + delivery worker + background tasks + the HTTP app, with start() and close().
import type { FastifyBaseLogger } from 'fastify';
import { createAdminAuth, ensureAdminToken } from './admin-token.ts';
import { createApp } from './app.ts';
import type { Config } from './config/schema.ts';
import { createHttpClient } from './delivery/http-client.ts';
import { createPooledHttpClient } from './delivery/threaded-http-client.ts';
import { createRateLimiter } from './delivery/rate-limit.ts';
import { createRetentionTask } from './delivery/retention.ts';
import { createDeliveryWorker } from './delivery/worker.ts';
import { createMetrics } from './metrics.ts';
import { createServices, type ServiceOptions } from './services.ts';

export interface GatewayOptions extends ServiceOptions {
  logger?: FastifyBaseLogger;
}

export type Gateway = Awaited<ReturnType<typeof createGateway>>;

export async function createGateway(config: Config, options: GatewayOptions = {}) {
  const log = options.logger;
  const onError = (where: string, error: unknown) => log?.error({ err: error, where }, 'background failure');
  const services = await createServices(config, { ...options, onError });
  const { store, clock, endpoints, outbox, recovery } = services;

  const httpOptions = {
    allowPrivate: [...config.delivery.allow_private],
    maxResponseBytes: config.delivery.max_response_bytes,
    connectionsPerOrigin: config.delivery.per_endpoint_concurrency,
  };
  const http = config.delivery.http_threads > 0 ? createPooledHttpClient(httpOptions, config.delivery.http_threads) : createHttpClient(httpOptions);
  const worker = createDeliveryWorker({
    store, endpoints, outbox, http, clock, config,
    rateLimiter: createRateLimiter(store.counters),
    random: services.random,
    newId: services.newId,
    workerId: services.workerId,
  });
  worker.events.on('error', ({ where, error }) => onError(`delivery:${where}`, error));
  worker.events.on('endpoint.disabled', ({ endpointId, reason }) => log?.warn({ endpointId, reason }, 'endpoint disabled'));
  outbox.onWork((endpointIds) => worker.wake(endpointIds));

  const retention = createRetentionTask({ store, clock, config, onError: (error) => onError('retention', error) });
  const metrics = createMetrics({ store, clock });
  metrics.watch(worker);

  const adminToken = await ensureAdminToken(store, config.admin_token);
  let shuttingDown = false;
  const app = await createApp(
    { config, clock, store, endpoints, outbox, recovery, metrics, adminAuth: createAdminAuth(store, config.admin_token, clock), isShuttingDown: () => shuttingDown },
    { logger: log },
  );

  let started = false;
  return {
    ...services,
    app,
    worker,
    metrics,
    retention,
    /** The admin token, only when this start generated it (to print once). */
    generatedAdminToken: adminToken.generated,

    async start() {
      started = true;
      await worker.start();
      recovery.start();
      retention.start();
    },

    /** Graceful stop: refuse new requests, finish in-flight deliveries up to the deadline, release leases. */
    async close() {
      shuttingDown = true;
      await app.close();
      if (started) {
        await worker.stop();
        await retention.stop();
      }
      await http.close();
      await services.close();
    },
  };
}
