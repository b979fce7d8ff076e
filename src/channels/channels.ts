// Channels: a bot's inbound connections. A Kore.ai webhook channel answers at /chatbot/hooks/{botId} (the bot's
// first channel) or /chatbot/hooks/{botId}/hookInstance/{channelId}; an async one sends replies to its POST_URL
// through an ordered endpoint of the delivery engine, keyed by conversation.
import type { Clock } from '../clock.ts';
import type { EndpointService } from '../delivery/endpoints.ts';
import { BotgateError, withFieldNames } from '../errors.ts';
import type { IdPrefix } from '../ids.ts';
import { checkName, checkRange } from '../ranges.ts';
import type { ChannelMode, ChannelRecord, Store } from '../store/store.ts';

/** The event type of the messages a Kore async channel sends to its POST_URL. */
export const KORE_MESSAGE_EVENT = 'kore.message';
/** The endpoint's fields a channel sets, as the channel's API names them (for its validation errors). */
const CHANNEL_FIELDS = { url: 'post_url', 'auth.token': 'access_token', auth: 'access_token' };

/** What an async channel sets on its POST_URL's endpoint (PATCH /api/channels/{id} changes url and auth). */
export const CHANNEL_ENDPOINT_FIELDS = ['name', 'provider', 'url', 'auth', 'content_type', 'signing', 'event_types', 'ordered'] as const;

export interface ChannelInput {
  name?: string | null;
  kind?: 'kore-webhook';
  mode: ChannelMode;
  app_id: string;
  post_url?: string | null;
  access_token?: string | null;
  sync_timeout_seconds?: number;
}

export type ChannelService = ReturnType<typeof createChannelService>;

export function createChannelService(deps: { store: Store; clock: Clock; newId: (p: IdPrefix) => string; endpoints: EndpointService; defaultSyncTimeoutSeconds: number }) {
  const { store, clock } = deps;
  // A bot's channels, looked up on every inbound request: kept for a moment (changes here clear it at once).
  const byBot = new Map<string, { channels: ChannelRecord[]; at: number }>();
  const forBot = async (botId: string): Promise<ChannelRecord[]> => {
    const cached = byBot.get(botId);
    if (cached && clock.now() - cached.at < 2000) return cached.channels;
    // Platform configs are channels too, managed under /api/webhook/config.
    const channels = (await store.channels.forBot(botId)).filter((c) => c.kind === 'kore-webhook');
    byBot.set(botId, { channels, at: clock.now() });
    return channels;
  };

  async function get(id: string): Promise<ChannelRecord> {
    const channel = await store.channels.get(id);
    if (!channel || channel.kind !== 'kore-webhook') throw new BotgateError('BG_ERR_CHANNEL_NOT_FOUND', `No channel ${id}`);
    return channel;
  }

  return {
    get,

    async create(botId: string, input: ChannelInput): Promise<{ channel: ChannelRecord; secret: string | null }> {
      if (!(await store.bots.get(botId))) throw new BotgateError('BG_ERR_BOT_NOT_FOUND', `No bot ${botId}`);
      if (typeof input.name === 'string') checkName('name', input.name);
      // As the API's schema: config as code and the CLI come straight here (a timeout of -5 s answered at once).
      checkRange('sync_timeout_seconds', input.sync_timeout_seconds, 0.1, 300);
      if (input.name && (await channelNameTaken(store, input.name))) throw new BotgateError('BG_ERR_CONFLICT', `A channel named ${input.name} exists`);
      if (!(await store.apps.get(input.app_id))) throw new BotgateError('BG_ERR_APP_NOT_FOUND', `No app ${input.app_id}`);
      if (input.mode === 'async' && !input.post_url) throw new BotgateError('BG_ERR_VALIDATION', 'an async channel needs post_url');
      if (input.mode === 'sync' && (input.post_url || input.access_token)) throw new BotgateError('BG_ERR_VALIDATION', 'post_url and access_token belong to async channels');
      const now = clock.now();
      const id = deps.newId('ch');
      let endpointId: string | null = null;
      let secret: string | null = null;
      if (input.mode === 'async') {
        const created = await withFieldNames(CHANNEL_FIELDS, () => deps.endpoints.create({
          name: `kore channel ${id}`,
          provider: 'kore',
          url: input.post_url!,
          auth: input.access_token ? { kind: 'bearer', token: input.access_token } : { kind: 'none' },
          ordered: true,
          event_types: [KORE_MESSAGE_EVENT],
        }));
        endpointId = created.endpoint.id;
        secret = created.secret;
      }
      const channel: ChannelRecord = {
        id, name: input.name ?? null, botId, kind: input.kind ?? 'kore-webhook', mode: input.mode, appId: input.app_id, endpointId,
        syncTimeoutSeconds: input.sync_timeout_seconds ?? deps.defaultSyncTimeoutSeconds, provider: 'kore', inboundTokenHash: null, settings: {},
        createdAt: now, updatedAt: now,
      };
      await store.channels.insert(channel);
      byBot.delete(botId);
      return { channel, secret };
    },

    async update(id: string, input: Partial<Omit<ChannelInput, 'mode' | 'kind'>>): Promise<ChannelRecord> {
      const channel = await get(id);
      if (typeof input.name === 'string') checkName('name', input.name);
      checkRange('sync_timeout_seconds', input.sync_timeout_seconds, 0.1, 300);
      if (input.name && input.name !== channel.name && (await channelNameTaken(store, input.name, id))) throw new BotgateError('BG_ERR_CONFLICT', `A channel named ${input.name} exists`);
      if (input.app_id && !(await store.apps.get(input.app_id))) throw new BotgateError('BG_ERR_APP_NOT_FOUND', `No app ${input.app_id}`);
      if ((input.post_url || input.access_token !== undefined) && !channel.endpointId) throw new BotgateError('BG_ERR_VALIDATION', 'post_url and access_token belong to async channels');
      // Null takes nothing away from an async channel: its replies need somewhere to go (200 while it changed nothing).
      if (input.post_url === null && channel.endpointId) throw new BotgateError('BG_ERR_VALIDATION', 'an async channel needs post_url');
      if (channel.endpointId && (input.post_url || input.access_token !== undefined)) {
        await withFieldNames(CHANNEL_FIELDS, () => deps.endpoints.update(channel.endpointId!, {
          ...(input.post_url ? { url: input.post_url } : {}),
          ...(input.access_token !== undefined ? { auth: input.access_token ? { kind: 'bearer', token: input.access_token } : { kind: 'none' } } : {}),
        }, { as: `channel ${id}` }));
      }
      byBot.delete(channel.botId);
      return (await store.channels.update(id, { name: input.name, appId: input.app_id, syncTimeoutSeconds: input.sync_timeout_seconds, updatedAt: clock.now() }))!;
    },

    async delete(id: string): Promise<void> {
      const channel = await get(id);
      await deps.endpoints.assertOnlyUser(channel.endpointId, `channel ${id}`);
      // Of concurrent deletes, the one whose delete removed the row answers 204; the others find nothing (404).
      if (!(await store.channels.delete(id))) throw new BotgateError('BG_ERR_CHANNEL_NOT_FOUND', `No channel ${id}`);
      byBot.delete(channel.botId);
      if (channel.endpointId) await deps.endpoints.delete(channel.endpointId).catch(() => {}); // gone already
    },

    forBot,

    /** The channel a Kore request addresses: the bot's first channel, or the named hook instance. */
    async resolve(botId: string, instanceId?: string): Promise<ChannelRecord> {
      const channels = await forBot(botId);
      if (channels.length === 0) {
        throw (await store.bots.get(botId)) ? new BotgateError('BG_ERR_CHANNEL_NOT_FOUND', `Bot ${botId} has no channel`) : new BotgateError('BG_ERR_BOT_NOT_FOUND', `No bot ${botId}`);
      }
      if (instanceId === undefined) return channels[0];
      const channel = channels.find((c) => c.id === instanceId);
      if (!channel) throw new BotgateError('BG_ERR_CHANNEL_NOT_FOUND', `Bot ${botId} has no hook instance ${instanceId}`);
      return channel;
    },
  };
}

/** Where a channel answers, given the gateway's public base URL. */
export function channelPath(channel: ChannelRecord, first: boolean): string {
  return first ? `/chatbot/hooks/${channel.botId}` : `/chatbot/hooks/${channel.botId}/hookInstance/${channel.id}`;
}

export function channelView(channel: ChannelRecord, first: boolean, base: string) {
  return {
    id: channel.id,
    name: channel.name,
    bot_id: channel.botId,
    kind: channel.kind,
    mode: channel.mode,
    app_id: channel.appId,
    endpoint_id: channel.endpointId,
    sync_timeout_seconds: channel.syncTimeoutSeconds,
    url: base + channelPath(channel, first),
    created_at: new Date(channel.createdAt).toISOString(),
    updated_at: new Date(channel.updatedAt).toISOString(),
  };
}

/** Whether another channel (Kore.ai or a platform config: their names share one namespace) has this name. */
export async function channelNameTaken(store: Store, name: string, except?: string): Promise<boolean> {
  return (await store.channels.where({ name })).some((c) => c.id !== except);
}
