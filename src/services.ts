// The domain services over one store, shared by the gateway process and the CLI.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { systemClock, systemRandom, type Clock, type Random } from './clock.ts';
import type { Config } from './config/schema.ts';
import { checkMasterKey, MasterKeyMismatchError, refuseOtherMasterKey, rereadMasterKey, resolveMasterKey } from './crypto/master-key.ts';
import { createSecretBox } from './crypto/secret-box.ts';
import { createEndpointService } from './delivery/endpoints.ts';
import { createOutbox } from './delivery/outbox.ts';
import { createRecoveryService } from './delivery/recovery.ts';
import { createIdGenerator } from './ids.ts';
import { openStore } from './store/create-store.ts';
import { createAppService } from './channels/apps.ts';
import { CHANNEL_ENDPOINT_FIELDS, createChannelService } from './channels/channels.ts';
import { koreAdapter } from './channels/kore-adapter.ts';
import { platformAdapter } from './channels/platform-adapter.ts';
import { createInboundLimiter, createPlatformInbound } from './channels/platform-inbound.ts';
import { createPlatformService, PLATFORM_ENDPOINT_FIELDS } from './channels/platforms.ts';
import { twilioAdapter } from './channels/twilio-adapter.ts';
import { createAgentService } from './handoff/agents.ts';
import { createHandoffSessions } from './handoff/sessions.ts';
import type { BotDefinition } from './conversation/bot.ts';
import { createBotRegistry } from './conversation/bot-registry.ts';
import { createTurnDirectory } from './conversation/turn-directory.ts';
import { createTurnService, type TurnLog } from './conversation/turns.ts';
import { loadLinkKey } from './notify/link-key.ts';
import { createNotifyService } from './notify/service.ts';

export interface ServiceOptions {
  clock?: Clock;
  random?: Random;
  /** Apply migrations on open (the server and `migrate` do; other CLI commands too, it is idempotent). */
  migrate?: boolean;
  /**
   * A gateway: its worker is registered alive together with its master key check, so a master key rotation either
   * finishes before the check or refuses to run (the CLI's commands are not workers).
   */
  registerWorker?: boolean;
  /**
   * A CLI command: the master key is held (store.secrets.holdingKey) from its check until close, so a rotation waits
   * for the command and seals again what it sealed, rather than committing between its check and its writes.
   */
  holdKey?: boolean;
  onError?: (where: string, error: unknown) => void;
  log?: TurnLog;
}

export type Services = Awaited<ReturnType<typeof createServices>>;

export async function createServices(config: Config, options: ServiceOptions = {}) {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  const newId = createIdGenerator(clock);
  const workerId = config.instance_id ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  let masterKey = resolveMasterKey(config.master_key, config.data_dir);
  let box = createSecretBox(masterKey.key);
  // A store that keeps the key check refuses another key before it is migrated: a refused process changes nothing.
  const { store, migrations } = await openStore(config, newId, options.migrate !== false, (opened) => refuseOtherMasterKey(opened, masterKey));
  let linkKey: Buffer;
  let releaseKey = async () => {};
  try {
    // The link key is read under the key check's lock too: a rotation under way seals it again.
    const check = async () => {
      try {
        await checkMasterKey(store, masterKey, box);
      } catch (error) {
        // data_dir/master.key was read before waiting for the key: a rotation waited for has put the new key there
        // since, and the check is its key's. Read the file again then, not on every start.
        if (!(error instanceof MasterKeyMismatchError)) throw error;
        const again = rereadMasterKey(masterKey);
        if (again.key.equals(masterKey.key)) throw error;
        [masterKey, box] = [again, createSecretBox(again.key)];
        await checkMasterKey(store, masterKey, box);
      }
      return loadLinkKey(store, box, masterKey.key);
    };
    if (options.holdKey) {
      releaseKey = await store.secrets.holdingKey();
      linkKey = await check();
    } else {
      linkKey = await store.secrets.checkingKey(check, options.registerWorker ? { id: workerId, now: clock.now() } : undefined);
    }
  } catch (error) {
    await store.close();
    await releaseKey();
    throw error;
  }
  const endpoints = createEndpointService({ store, box, clock, newId, config });
  const outbox = createOutbox({ store, clock, newId, config });
  const recovery = createRecoveryService({
    store, clock, newId, config, workerId,
    onRequeued: (endpointId) => outbox.nudge([endpointId]),
    onError: (error) => options.onError?.('recovery', error),
  });
  const apps = createAppService({ store, box, clock });
  const bots = createBotRegistry({ store, clock });
  const channels = createChannelService({ store, clock, newId, endpoints, defaultSyncTimeoutSeconds: config.kore.sync_timeout_seconds });
  const directory = createTurnDirectory({ store, clock, bots, adapters: { 'kore-webhook': koreAdapter, platform: platformAdapter, twilio: twilioAdapter } });
  endpoints.onChange(() => directory.forgetEndpoints());
  const notify = createNotifyService({
    config, store, clock, random, newId, directory, workerId,
    linkKey,
    onPublished: (endpointIds) => outbox.nudge(endpointIds),
    log: options.log,
  });
  // A channel's or an event type's endpoint stays while they use it (deleting it would drop their messages).
  const channelsSendingTo = (endpointId: string) => store.channels.where({ endpointId });
  endpoints.usedBy(async (id) => (await channelsSendingTo(id)).map((c) => `channel ${c.id}`));
  endpoints.usedBy(async (id) => (await notify.typeNames()).filter((name) => notify.engine.type(name).endpointId === id).map((name) => `event type ${name}`));
  // A channel's own endpoint (an async channel's POST_URL, a platform's webhook) takes the settings it owns only from it.
  endpoints.ownedBy(async (id) => {
    const [channel] = await channelsSendingTo(id);
    if (!channel) return null;
    return channel.kind === 'kore-webhook'
      ? { owner: `channel ${channel.id}`, changeWith: `PATCH /api/channels/${channel.id}`, fields: CHANNEL_ENDPOINT_FIELDS }
      : { owner: `platform config ${channel.id}`, changeWith: `PUT /api/webhook/config/${channel.id}`, fields: PLATFORM_ENDPOINT_FIELDS };
  });
  // Bots name their webhooks' endpoints (by id or name): deleting or renaming one would lose every event the webhook fires.
  const botsNaming = async (ref: string) =>
    (await bots.list()).filter((b) => (JSON.parse(b.definition) as BotDefinition).webhooks.some((w) => w.endpoint === ref)).map((b) => `bot ${b.id} (its webhooks)`);
  endpoints.usedBy(botsNaming);
  endpoints.namedBy(botsNaming);
  const turns = createTurnService({
    store, clock, newId, directory,
    onPublished: (endpointIds) => outbox.nudge(endpointIds),
    // A user's message within 24 h of a notification is engagement with it.
    onUserMessages: (userIds) => {
      notify.engine.recordReplies(userIds).catch((error) => options.log?.error({ err: error }, 'recording replies as engagement failed'));
    },
    log: options.log,
  });
  const platforms = createPlatformService({ store, box, clock, newId, config, endpoints, onChange: (id) => turns.forgetChannel(id) });
  const inbound = createPlatformInbound({ store, clock, platforms, turns, limiter: createInboundLimiter(store, clock), syncWaitMs: config.kore.sync_timeout_seconds * 1000 });
  const agents = createAgentService({ store, clock, newId });
  const sessions = createHandoffSessions({ store, clock, newId, config, directory, bots, onPublished: (endpointIds) => outbox.nudge(endpointIds), log: options.log });
  return {
    config, clock, random, newId, workerId, masterKey, box, store, migrations, endpoints, outbox, recovery, apps, bots, channels, directory, turns, platforms, inbound, agents, sessions, notify,
    async close() {
      await notify.stop();
      await sessions.stop();
      await turns.stop();
      await recovery.stop();
      await store.close();
      await releaseKey(); // after the last commit
    },
  };
}
