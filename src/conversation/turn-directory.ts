// What turns look up around a conversation, cached briefly: its channel and adapter, the bot runtime, endpoint
// names (event webhooks name their endpoint), and who takes handoff lifecycle messages.
import type { Clock } from '../clock.ts';
import { PLATFORM_MESSAGE_EVENT } from '../channels/platform-adapter.ts';
import { endpointAccepts } from '../delivery/event-types.ts';
import type { ChannelRecord, Store } from '../store/store.ts';
import type { BotRuntime } from './bot.ts';
import type { BotRegistry } from './bot-registry.ts';
import type { ChannelAdapter } from './turns.ts';

const ENDPOINTS_MS = 5000;
const CHANNELS_MS = 5000;

export interface ChannelContext {
  channel: ChannelRecord;
  adapter: ChannelAdapter;
  runtime: BotRuntime;
  /** Endpoints that take this channel's handoff lifecycle messages of a type: its own (the platform's), and subscribers whose filter takes it. */
  handoffTargets(type: string): string[];
}

export interface EndpointIndex {
  byName: Map<string, string>;
  /** Endpoints subscribed to handoff types by name, with their filters (other channels' own endpoints excluded). */
  handoffSubscribers: { id: string; eventTypes: string[] }[];
}

export type TurnDirectory = ReturnType<typeof createTurnDirectory>;

export function createTurnDirectory(deps: { store: Store; clock: Clock; bots: BotRegistry; adapters: Record<string, ChannelAdapter> }) {
  const { store, clock } = deps;
  // Briefly: another process sharing the database may change or delete a channel (forgetChannel covers this one).
  const channels = new Map<string, { channel: ChannelRecord; at: number }>();
  let endpoints: { at: number; index: EndpointIndex } | null = null;

  async function channelOf(id: string): Promise<ChannelRecord | null> {
    const now = clock.now();
    const cached = channels.get(id);
    if (cached && now - cached.at < CHANNELS_MS) return cached.channel;
    const channel = await store.channels.get(id);
    if (channel) channels.set(id, { channel, at: now });
    else channels.delete(id);
    return channel;
  }

  async function endpointIndex(): Promise<EndpointIndex> {
    const now = clock.now();
    if (endpoints && now - endpoints.at < ENDPOINTS_MS) return endpoints.index;
    const channelEndpoints = new Set((await store.channels.list({ limit: 100_000 })).flatMap((c) => (c.endpointId ? [c.endpointId] : [])));
    const byName = new Map<string, string>();
    const handoffSubscribers: EndpointIndex['handoffSubscribers'] = [];
    // Every endpoint, active ones first: a bot's webhook to a disabled endpoint waits there until it is enabled
    // (under a name two endpoints share, the active one wins); handoff subscriptions count while active.
    const all = await store.endpoints.list({}, { limit: 100_000 });
    for (const e of [...all.filter((x) => x.isActive), ...all.filter((x) => !x.isActive)]) {
      if (!byName.has(e.name)) byName.set(e.name, e.id);
      byName.set(e.id, e.id);
      if (!e.isActive) continue;
      // A platform config's own endpoint (it takes platform.message) is never a subscriber of other conversations',
      // even for the moment before its config is stored.
      const ownedByPlatform = e.eventTypes?.includes(PLATFORM_MESSAGE_EVENT) ?? false;
      const wantsHandoff = !ownedByPlatform && (e.eventTypes?.some((t) => t === 'handoff.*' || t.startsWith('handoff.')) ?? false);
      if (wantsHandoff && !channelEndpoints.has(e.id)) handoffSubscribers.push({ id: e.id, eventTypes: e.eventTypes! });
    }
    endpoints = { at: now, index: { byName, handoffSubscribers } };
    return endpoints.index;
  }

  return {
    channelOf,
    endpointIndex,

    /** The context of each channel (unknown channels are left out: their messages wait). */
    async contextFor(channelIds: Iterable<string>): Promise<Map<string, ChannelContext>> {
      const index = await endpointIndex();
      const context = new Map<string, ChannelContext>();
      for (const id of channelIds) {
        const channel = await channelOf(id);
        const adapter = channel ? deps.adapters[channel.kind] : undefined;
        if (!channel || !adapter) continue;
        const own = adapter.receivesHandoffEvents(channel) && channel.endpointId ? [channel.endpointId] : [];
        // A subscriber gets only the handoff types its filter lists (handoff.requested alone must not carry the chat).
        const handoffTargets = (type: string) => [...own, ...index.handoffSubscribers.filter((s) => endpointAccepts(s.eventTypes, type)).map((s) => s.id)];
        context.set(id, { channel, adapter, runtime: await deps.bots.runtime(channel.botId), handoffTargets });
      }
      return context;
    },

    forgetChannel(id: string) {
      channels.delete(id);
      endpoints = null;
    },

    /** An endpoint was created, changed or deleted in this process: the next turn reads the endpoints again. */
    forgetEndpoints() {
      endpoints = null;
    },
  };
}
