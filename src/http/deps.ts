// What route plugins are given: services, never SQL.
import type { AdminAuth } from '../admin-token.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { EndpointService } from '../delivery/endpoints.ts';
import type { Outbox } from '../delivery/outbox.ts';
import type { RecoveryService } from '../delivery/recovery.ts';
import type { Metrics } from '../metrics.ts';
import type { Store } from '../store/store.ts';

export interface AppDeps {
  config: Config;
  clock: Clock;
  store: Store;
  endpoints: EndpointService;
  outbox: Outbox;
  recovery: RecoveryService;
  metrics: Metrics;
  adminAuth: AdminAuth;
  /** True once shutdown began (readyz answers 503). */
  isShuttingDown?: () => boolean;
}
