// Conversation turns: an incoming message is stored first (the caller may acknowledge it then), and turns run
// one at a time per conversation, in arrival order — in this process through a per-conversation chain, across
// processes through the store's conversation lock. A turn's state, replies and event webhooks commit together.
import type { Clock } from '../clock.ts';
import type { IdPrefix } from '../ids.ts';
import type { ChannelRecord, ConversationRecord, EndpointTarget, Identity, MessageRecord, NewMessage, Received, Store, TurnCommitted, TurnRunner, TurnWrites } from '../store/store.ts';
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
  debug?(object: Record<string, unknown>, message: string): void;
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

  /**
   * A runner that works out turns (pure, synchronous: it runs inside the store's transaction) for conversations
   * whose channels and bot runtimes were loaded beforehand. It records what each turn produced, for after the commit.
   */
  function runner(context: Map<string, { channel: ChannelRecord; adapter: ChannelAdapter; runtime: BotRuntime }>, names: Map<string, string>, now: number) {
    const produced = new Map<string, { result: TurnResult; writes: TurnWrites }>();
    const run: TurnRunner = (conversation, incoming) => {
      const ctx = context.get(conversation.channelId);
      if (!ctx) throw new Error(`no channel ${conversation.channelId}`);
      const input = ctx.adapter.turnInput(JSON.parse(incoming.payload ?? '{}') as Record<string, unknown>);
      const result = runTurn(ctx.runtime, { state: conversation.state, memory: conversation.memory, lastPrompt: conversation.lastPrompt as BotMessage[] }, input);
      const writes: TurnWrites = {
        state: result.position.state,
        memory: result.position.memory,
        lastPrompt: result.position.lastPrompt,
        messages: [
          ...ctx.adapter.replyMessages({ channel: ctx.channel, conversation, incoming, result, newId, now }),
          ...webhookMessages(ctx.runtime, conversation, input, result, names, now),
        ],
      };
      produced.set(incoming.id, { result, writes });
      return writes;
    };
    return { run, produced };
  }

  /** After a turn committed: wake the delivery worker for its endpoints; note values templates missed. */
  function afterCommit(committed: TurnCommitted, turn: { result: TurnResult; writes: TurnWrites } | undefined) {
    if (!turn) return;
    if (turn.result.missingValues.length) deps.log?.debug?.({ conversation: committed.conversation.id, missing: turn.result.missingValues }, 'template values missing: rendered with their fallback');
    const endpoints = new Set<string>();
    committed.published.forEach((published, i) => {
      if (published.deliveryIds.length) for (const id of turn.writes.messages[i].endpointIds ?? []) endpoints.add(id);
    });
    if (endpoints.size) deps.onPublished([...endpoints]);
  }

  async function contextFor(channelIds: Iterable<string>) {
    const context = new Map<string, { channel: ChannelRecord; adapter: ChannelAdapter; runtime: BotRuntime }>();
    for (const id of channelIds) {
      const channel = await channelOf(id);
      const adapter = channel ? deps.adapters[channel.kind] : undefined;
      if (channel && adapter) context.set(id, { channel, adapter, runtime: await deps.bots.runtime(channel.botId) });
    }
    return context;
  }

  async function runPending(conversationId: string): Promise<void> {
    for (;;) {
      const conversation = await store.conversations.get(conversationId);
      if (!conversation) return;
      const context = await contextFor([conversation.channelId]);
      if (!context.size) {
        deps.log?.error({ conversation: conversationId, channel: conversation.channelId }, 'conversation of an unknown channel: its messages wait');
        return;
      }
      const now = clock.now();
      const { run, produced } = runner(context, await endpointIds(), now);
      const committed = await store.conversations.takeTurn(conversationId, run, route, now);
      if (!committed) return;
      afterCommit(committed, produced.get(committed.incoming.id));
    }
  }

  // Group commit: requests arriving in the same turn of the event loop are stored, and their turns run, in one
  // transaction — one commit shared by all of them instead of one or two each.
  let batch: { channel: ChannelRecord; input: IncomingInput; resolve: (r: Received) => void; reject: (e: unknown) => void }[] = [];
  let flushing = false;

  async function flush(): Promise<void> {
    const items = batch;
    batch = [];
    try {
      const now = clock.now();
      const context = await contextFor(new Set(items.map((i) => i.channel.id)));
      const { run, produced } = runner(context, await endpointIds(), now);
      const results = await store.conversations.receiveAll(items.map((item) => inputOf(item.channel, item.input, now)), run, route, now);
      results.forEach((received, i) => {
        remember(items[i].input.identities, received.conversation.userId);
        if (received.turn) afterCommit(received.turn, produced.get(received.message.id));
        else if (received.turnError) deps.log?.error({ err: received.turnError, conversation: received.conversation.id }, 'turn failed; the message stays pending');
        else if (!received.duplicate) void process(received.conversation.id); // an earlier message waits: run them in order
        items[i].resolve(received);
      });
    } catch (error) {
      for (const item of items) item.reject(error);
    }
  }

  function schedule() {
    if (flushing) return;
    flushing = true;
    setImmediate(() => {
      void flush().finally(() => {
        flushing = false;
        if (batch.length) schedule();
      });
    });
  }

  // Identities seen before and the user they belong to: a returning person costs no linking queries.
  const known = new Map<string, string>();
  const identityKey = (i: Identity) => `${i.kind}\u0000${i.value}`;
  function knownUser(identities: Identity[]): string | null {
    if (!identities.length) return null;
    const users = new Set(identities.map((i) => known.get(identityKey(i))));
    return users.size === 1 && !users.has(undefined) ? [...users][0]! : null;
  }
  function remember(identities: Identity[], userId: string | null) {
    if (!userId) return;
    if (known.size > 100_000) known.clear();
    for (const identity of identities) known.set(identityKey(identity), userId);
  }

  function inputOf(channel: ChannelRecord, input: IncomingInput, now: number) {
    return {
      conversationId: newId('conv'),
      botId: channel.botId,
      channelId: channel.id,
      userKey: input.userKey,
      identities: input.identities,
      knownUserId: knownUser(input.identities),
      newUserId: newId('usr'),
      message: { id: newId('msg'), eventType: input.eventType, payload: JSON.stringify(input.payload), orderingKey: null, idempotencyKey: input.idempotencyKey ?? null, createdAt: now, endpointIds: [] },
      now,
    };
  }

  function process(conversationId: string): Promise<void> {
    const previous = chains.get(conversationId) ?? Promise.resolve();
    const next = previous.then(() => runPending(conversationId)).catch((error) => deps.log?.error({ err: error, conversation: conversationId }, 'turn failed; the message stays pending'));
    chains.set(conversationId, next);
    void next.finally(() => {
      if (chains.get(conversationId) === next) chains.delete(conversationId);
    });
    return next;
  }

  return {
    /**
     * Stores an incoming message in its conversation (opened on first contact) and, when no earlier message of
     * the conversation waits, runs its turn in the same transaction; resolves once committed (acknowledge then).
     */
    handle(channel: ChannelRecord, input: IncomingInput): Promise<Received> {
      return new Promise((resolve, reject) => {
        batch.push({ channel, input, resolve, reject });
        schedule();
      });
    },

    /** Stores an incoming message only; its turn runs later (process(), or the sweep of pending turns). */
    receive(channel: ChannelRecord, input: IncomingInput) {
      return store.conversations.receive(inputOf(channel, input, clock.now()), route);
    },

    /** Runs every pending turn of a conversation, in order; concurrent calls queue behind each other. */
    process,

    replies: (incomingId: string) => store.conversations.replies(incomingId),

    /** Picks up turns left pending (after a crash, or by another process) now and every few seconds. */
    start() {
      const sweep = async () => {
        try {
          for (const id of await store.conversations.withPendingTurns(100)) if (!chains.has(id)) void process(id);
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
