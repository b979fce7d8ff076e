// What route plugins are given: services, never SQL.
import type { AdminAuth } from '../admin-token.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { EndpointService } from '../delivery/endpoints.ts';
import type { Outbox } from '../delivery/outbox.ts';
import type { RecoveryService } from '../delivery/recovery.ts';
import type { Metrics } from '../metrics.ts';
import type { Store } from '../store/store.ts';
import type { AppService } from '../channels/apps.ts';
import type { ChannelService } from '../channels/channels.ts';
import type { BotRegistry } from '../conversation/bot-registry.ts';
import type { TurnService } from '../conversation/turns.ts';
import type { PlatformInbound } from '../channels/platform-inbound.ts';
import type { PlatformService } from '../channels/platforms.ts';
import type { AgentService } from '../handoff/agents.ts';
import type { HandoffSessions } from '../handoff/sessions.ts';
import type { NotifyService } from '../notify/service.ts';

export interface AppDeps {
  config: Config;
  clock: Clock;
  store: Store;
  endpoints: EndpointService;
  outbox: Outbox;
  recovery: RecoveryService;
  metrics: Metrics;
  adminAuth: AdminAuth;
  apps: AppService;
  bots: BotRegistry;
  channels: ChannelService;
  turns: TurnService;
  platforms: PlatformService;
  inbound: PlatformInbound;
  agents: AgentService;
  sessions: HandoffSessions;
  notify: NotifyService;
  /** The URL clients reach this gateway at (known once it listens). */
  publicBase: () => string;
  /** True once shutdown began (readyz answers 503). */
  isShuttingDown?: () => boolean;
  /** False until provisioning is done and the workers run (readyz answers 503 meanwhile). */
  isStarted?: () => boolean;
}
