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
import { DEMO_ORDERS_PATH, demoEnabled, emptyProvisioned, provision, type Provisioned } from './provision.ts';
import { httpBase, reachableHost, urlHost } from './listen-address.ts';

export interface GatewayOptions extends ServiceOptions {
  logger?: FastifyBaseLogger;
}

/** The demo's orders endpoint at this gateway's own receiver: on loopback, or at the address it listens on. */
function ownOrdersUrl(host: string): RegExp {
  const hosts = new Set(['127.0.0.1', '[::1]', urlHost(reachableHost(host))]);
  return new RegExp(`^http://(${[...hosts].map((h) => h.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')}):\\d+${DEMO_ORDERS_PATH}$`);
}

export type Gateway = Awaited<ReturnType<typeof createGateway>>;

export async function createGateway(config: Config, options: GatewayOptions = {}) {
  const log = options.logger;
  const onError = (where: string, error: unknown) => log?.error({ err: error, where }, 'background failure');
  const services = await createServices(config, { ...options, registerWorker: true, onError, log });
  const { store, clock, endpoints, outbox, recovery } = services;
  const demo = demoEnabled(config);

  let provisioned: Provisioned | null = null;
  const ownOrders = ownOrdersUrl(config.host);
  const httpOptions = {
    allowPrivate: config.delivery.allow_private,
    // A gateway listening on one address that is not loopback reaches its own receiver there.
    ownHosts: [reachableHost(config.host)],
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
    // The demo's order receiver is a gateway itself, on loopback: its endpoint alone may reach 127.0.0.1, and only
    // at the receiver's path (a gateway sharing the database may have written its own port there).
    ownLoopback: (endpoint) =>
      demo && !config.demo.orders_url && endpoint.id === provisioned?.demo?.ordersEndpointId && ownOrders.test(endpoint.url),
  });
  worker.events.on('error', ({ where, error }) => onError(`delivery:${where}`, error));
  worker.events.on('endpoint.disabled', ({ endpointId, reason }) => log?.warn({ endpointId, reason }, 'endpoint disabled'));
  outbox.onWork((endpointIds) => worker.wake(endpointIds));
  if (config.delivery.handoff_queue_size > 0) outbox.handOffTo(worker.handOff);

  const retention = createRetentionTask({ store, clock, config, onError: (error) => onError('retention', error) });
  const metrics = createMetrics({ store, clock });
  metrics.watch(worker);

  const adminToken = await ensureAdminToken(store, config.admin_token);
  let shuttingDown = false;
  // What clients are told (public_url, else this machine's address of the gateway: never 0.0.0.0), and where the
  // gateway reaches itself (the demo's orders endpoint).
  let base = config.public_url?.replace(/\/$/, '') ?? httpBase(config.host, config.port);
  let internalBase = httpBase(config.host, config.port);
  const app = await createApp(
    {
      config, clock, store, endpoints, outbox, recovery, metrics, adminAuth: createAdminAuth(store, config.admin_token, clock),
      apps: services.apps, bots: services.bots, channels: services.channels, turns: services.turns, platforms: services.platforms, inbound: services.inbound, agents: services.agents, sessions: services.sessions, notify: services.notify,
      publicBase: () => base, isShuttingDown: () => shuttingDown, isStarted: () => started,
    },
    { logger: log, demo },
  );

  services.notify.setPublicBase(() => base);
  let started = false;
  return {
    ...services,
    app,
    worker,
    metrics,
    retention,
    /** The admin token, only when this start generated it (to print once). */
    generatedAdminToken: adminToken.generated,
    /** What start() set up from the config (and the demo). */
    get provisioned() {
      return provisioned;
    },
    publicBase: () => base,

    /** Listens; the address is where clients are told to go unless public_url says otherwise. */
    async listen(): Promise<string> {
      let address: string;
      try {
        address = await app.listen({ port: config.port, host: config.host });
      } catch (error) {
        // A port in use or forbidden has its own message at start-up (main.ts); anything else names the settings:
        // "getaddrinfo ENOTFOUND 999.1.1.1" alone does not say where that came from.
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EACCES') throw error;
        throw new ListenError(`cannot listen on host ${config.host} (BOTGATE_HOST), port ${config.port} (BOTGATE_PORT): ${(error as Error).message}`, { cause: error });
      }
      const port = new URL(address).port;
      internalBase = httpBase(config.host, port);
      if (!config.public_url) base = internalBase;
      return address;
    },

    /** Applies the declared resources (and the demo), then starts the workers. */
    async start() {
      // Several processes starting at once on one database provision one after another.
      // Kept even when provisioning fails part way: the secrets it generated before that must still be shown.
      const result = emptyProvisioned();
      provisioned = result;
      await store.exclusive('provision', () => provision(services, config, internalBase, result));
      started = true;
      await worker.start();
      recovery.start();
      retention.start();
      services.turns.start();
      services.sessions.start();
      await services.notify.start();
    },

    /** Graceful stop: refuse new requests, finish in-flight deliveries up to the deadline, release leases. */
    async close() {
      shuttingDown = true;
      // One deadline for the whole stop, from now: the worker stops claiming at once and its in-flight tries get the
      // deadline while requests still coming in finish; past it, connections still open are cut. Before, the worker
      // waited for every request to end first, so a client trickling its body held the stop (and the deliveries'
      // release) for minutes, until the supervisor's kill left them leased.
      const deadlineMs = config.delivery.shutdown_deadline_seconds * 1000;
      const workerStopped = started ? worker.stop(deadlineMs) : Promise.resolve();
      const cut = setTimeout(() => app.server.closeAllConnections(), deadlineMs);
      try {
        await app.close();
      } finally {
        clearTimeout(cut);
      }
      await workerStopped;
      if (started) await retention.stop();
      await http.close();
      await services.close();
    },
  };
}

/** The gateway could not listen on the configured address (its message names the settings). */
export class ListenError extends Error {
  override name = 'ListenError';
}
