// Conversation turns: an incoming message is stored first (the caller may acknowledge it then), and turns run
// one at a time per conversation, in arrival order — in this process through a per-conversation chain, across
// processes through the store's conversation lock. A turn's state, replies and event webhooks commit together.
import type { Clock } from '../clock.ts';
import type { IdPrefix } from '../ids.ts';
import type { ChannelRecord, ConversationRecord, EndpointTarget, Identity, MessageRecord, NewMessage, Store, TurnWrites } from '../store/store.ts';
import type { BotMessage, BotRuntime, TurnInput, TurnResult } from './bot.ts';
import type { BotRegistry } from './bot-registry.ts';
import { runTurn } from './engine.ts';

/** What a channel kind contributes: how its stored payloads read as turn input, and how replies travel back. */
export interface ChannelAdapter {
  turnInput(payload: Record<string, unknown>): TurnInput;
  replyMessages(args: { channel: ChannelRecord; conversation: ConversationRecord; incoming: MessageRecord; result: TurnResult; newId: (p: IdPrefix) => string; now: number }): NewMessage[];
}

export interface IncomingInput {
  userKey: string;
  identities: Identity[];
  /** The channel's request as received (stored as the incoming message). */
  payload: Record<string, unknown>;
  eventType: string;
  idempotencyKey?: string | null;
}

export interface TurnLog {
  warn(object: Record<string, unknown>, message: string): void;
  error(object: Record<string, unknown>, message: string): void;
}

const ENDPOINT_NAMES_MS = 5000;
const RECOVER_MS = 5000;

export type TurnService = ReturnType<typeof createTurnService>;

export function createTurnService(deps: {
  store: Store;
  clock: Clock;
  newId: (p: IdPrefix) => string;
  bots: BotRegistry;
  adapters: Record<string, ChannelAdapter>;
  /** Deliveries were stored for these endpoints (the worker looks at once). */
  onPublished: (endpointIds: string[]) => void;
  log?: TurnLog;
}) {
  const { store, clock, newId } = deps;
  const chains = new Map<string, Promise<void>>();
  const channelCache = new Map<string, ChannelRecord>();
  let endpointNames: { at: number; byName: Map<string, string> } | null = null;
  let timer: NodeJS.Timeout | undefined;
  const route = (targets: EndpointTarget[], message: NewMessage) => targets.filter((t) => message.endpointIds?.includes(t.id)).map((t) => t.id);

  async function channelOf(id: string): Promise<ChannelRecord | null> {
    const cached = channelCache.get(id);
    if (cached) return cached;
    const channel = await store.channels.get(id);
    if (channel) channelCache.set(id, channel);
    return channel;
  }

  /** Endpoint names (and ids) → ids, for event webhooks that name their endpoint. */
  async function endpointIds(): Promise<Map<string, string>> {
    const now = clock.now();
    if (endpointNames && now - endpointNames.at < ENDPOINT_NAMES_MS) return endpointNames.byName;
    const byName = new Map<string, string>();
    for (const e of await store.endpoints.list({ isActive: true }, { limit: 10_000 })) {
      if (!byName.has(e.name)) byName.set(e.name, e.id);
      byName.set(e.id, e.id);
    }
    endpointNames = { at: now, byName };
    return byName;
  }

  function webhookMessages(runtime: BotRuntime, conversation: ConversationRecord, input: TurnInput, result: TurnResult, names: Map<string, string>, now: number): NewMessage[] {
    const messages: NewMessage[] = [];
    for (const fired of result.fired) {
      const endpointId = names.get(fired.rule.endpoint);
      if (!endpointId) {
        deps.log?.warn({ bot: runtime.definition.id, endpoint: fired.rule.endpoint, event: fired.rule.event }, 'event webhook names no active endpoint: not sent');
        continue;
      }
      const memory = result.position.memory;
      const payload = {
        ...memory,
        event: fired.rule.event,
        bot_id: runtime.definition.id,
        conversation_id: conversation.id,
        user: input.context.user,
        state: fired.state,
        intent: fired.intent,
        memory,
        timestamp: new Date(now).toISOString(),
      };
      messages.push({ id: newId('msg'), eventType: fired.rule.event, payload: JSON.stringify(payload), orderingKey: conversation.id, idempotencyKey: null, createdAt: now, endpointIds: [endpointId] });
    }
    return messages;
  }

  async function runPending(conversationId: string): Promise<void> {
    for (;;) {
      const conversation = await store.conversations.get(conversationId);
      if (!conversation) return;
      const channel = await channelOf(conversation.channelId);
      const adapter = channel ? deps.adapters[channel.kind] : undefined;
      if (!channel || !adapter) {
        deps.log?.error({ conversation: conversationId, channel: conversation.channelId }, 'conversation of an unknown channel: its messages wait');
        return;
      }
      const runtime = await deps.bots.runtime(conversation.botId);
      const names = await endpointIds();
      const now = clock.now();
      let turn: { result: TurnResult; writes: TurnWrites } | null = null;
      const committed = await store.conversations.takeTurn(conversationId, (current, incoming): TurnWrites => {
        const input = adapter.turnInput(JSON.parse(incoming.payload ?? '{}') as Record<string, unknown>);
        const result = runTurn(runtime, { state: current.state, memory: current.memory, lastPrompt: current.lastPrompt as BotMessage[] }, input);
        const writes: TurnWrites = {
          state: result.position.state,
          memory: result.position.memory,
          lastPrompt: result.position.lastPrompt,
          messages: [
            ...adapter.replyMessages({ channel, conversation: current, incoming, result, newId, now }),
            ...webhookMessages(runtime, current, input, result, names, now),
          ],
        };
        turn = { result, writes };
        return writes;
      }, route, now);
      if (!committed || !turn) return;
      const { result, writes } = turn as { result: TurnResult; writes: TurnWrites };
      if (result.missingValues.length) {
        deps.log?.warn({ conversation: conversationId, missing: result.missingValues }, 'template values missing: rendered with their fallback');
      }
      const endpoints = new Set<string>();
      committed.published.forEach((published, i) => {
        if (published.deliveryIds.length) for (const id of writes.messages[i].endpointIds ?? []) endpoints.add(id);
      });
      if (endpoints.size) deps.onPublished([...endpoints]);
    }
  }

  return {
    /** Stores an incoming message in its conversation (opened on first contact). Acknowledge after this. */
    async receive(channel: ChannelRecord, input: IncomingInput): Promise<{ conversation: ConversationRecord; message: MessageRecord; duplicate: boolean }> {
      const now = clock.now();
      return store.conversations.receive({
        conversationId: newId('conv'),
        botId: channel.botId,
        channelId: channel.id,
        userKey: input.userKey,
        identities: input.identities,
        newUserId: newId('usr'),
        message: { id: newId('msg'), eventType: input.eventType, payload: JSON.stringify(input.payload), orderingKey: null, idempotencyKey: input.idempotencyKey ?? null, createdAt: now, endpointIds: [] },
        now,
      }, route);
    },

    /** Runs every pending turn of a conversation, in order; concurrent calls queue behind each other. */
    process(conversationId: string): Promise<void> {
      const previous = chains.get(conversationId) ?? Promise.resolve();
      const next = previous.then(() => runPending(conversationId)).catch((error) => deps.log?.error({ err: error, conversation: conversationId }, 'turn failed; the message stays pending'));
      chains.set(conversationId, next);
      void next.finally(() => {
        if (chains.get(conversationId) === next) chains.delete(conversationId);
      });
      return next;
    },

    replies: (incomingId: string) => store.conversations.replies(incomingId),

    /** Picks up turns left pending (after a crash, or by another process) now and every few seconds. */
    start() {
      const sweep = async () => {
        try {
          for (const id of await store.conversations.withPendingTurns(100)) if (!chains.has(id)) void this.process(id);
        } catch (error) {
          deps.log?.error({ err: error }, 'looking for pending turns failed');
        }
      };
      void sweep();
      timer = setInterval(() => void sweep(), RECOVER_MS);
      timer.unref();
    },

    async stop() {
      clearInterval(timer);
      await Promise.allSettled([...chains.values()]);
    },

    forgetChannel(id: string) {
      channelCache.delete(id);
    },
  };
}
