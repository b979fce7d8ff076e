// Conversation turns: an incoming message is stored first (the caller may acknowledge it then), and turns run
// one at a time per conversation, in arrival order — in this process through a per-conversation chain, across
// processes through the store's conversation lock. A turn's state, replies and event webhooks commit together.
import type { Clock } from '../clock.ts';
import type { IdPrefix } from '../ids.ts';
import type { ChannelRecord, ConversationRecord, EndpointTarget, Identity, NewMessage, Received, Store, TurnCommitted, TurnRunner } from '../store/store.ts';
import type { BotMessage, TurnInput, TurnResult } from './bot.ts';
import type { ChannelContext, TurnDirectory } from './turn-directory.ts';
import { turnWrites } from './turn-writes.ts';
import { createGroupCommit, ItemFailed } from '../group-commit.ts';
import { BotgateError } from '../errors.ts';

/** What a channel kind contributes: how its stored payloads read as turn input, and how messages reach the user. */
export interface ChannelAdapter {
  turnInput(payload: Record<string, unknown>): TurnInput;
  /** Bot or agent messages to the user on this channel, as outgoing messages (delivered, or answered in the response). */
  outgoing(args: {
    channel: ChannelRecord; conversation: ConversationRecord; messages: BotMessage[]; direction: 'outgoing' | 'agent_outgoing';
    /** The user's message answered — or, for agent messages, the user's last one (null: none). */
    incoming: Record<string, unknown> | null;
    replyTo: string | null; endOfTask: { reason: string } | null; newId: (p: IdPrefix) => string; now: number;
    /**
     * The reply is made while the user's request is being served (its turn runs with the request), so a channel
     * that answers in its response may carry it there; a turn run later (after an earlier message, or recovered)
     * must send its replies.
     */
    answering?: boolean;
  }): NewMessage[];
  /** How the user and conversation are named to the channel's side (handoff events carry these). */
  address(conversation: ConversationRecord, incoming: Record<string, unknown> | null): { userId: string; conversationId: string };
  /** Whether agent messages can reach the user later (not on a Kore.ai sync channel). */
  carriesAgentMessages(channel: ChannelRecord): boolean;
  /** The platform named in handoff events. */
  platform(channel: ChannelRecord): string;
  /** Whether the channel's own endpoint takes the handoff lifecycle messages (a platform's outgoing webhook does). */
  receivesHandoffEvents(channel: ChannelRecord): boolean;
}

export interface IncomingInput {
  userKey: string;
  identities: Identity[];
  /** The channel's request as received (stored as the incoming message). */
  payload: Record<string, unknown>;
  eventType: string;
  idempotencyKey?: string | null;
}

/** Bytes a user key, identity or idempotency key may take: each is an index key (PostgreSQL's hold ~2.7 KB). */
export const MAX_KEY_BYTES = 1024;

/** A 400 in the channel's own error shape, where a key that long would fail the store's index (a 500). */
function checkKeys(input: IncomingInput): IncomingInput {
  const long = (text: string) => text.length > MAX_KEY_BYTES / 4 && Buffer.byteLength(text) > MAX_KEY_BYTES;
  const what = long(input.userKey) ? 'the user id' : input.identities.some((i) => long(i.value)) ? 'an identity (user id, e-mail or phone)'
    : input.idempotencyKey && long(input.idempotencyKey) ? 'the message id' : null;
  if (what) throw new BotgateError('BG_ERR_VALIDATION', `${what} is longer than ${MAX_KEY_BYTES} bytes`);
  return input;
}

export interface TurnLog {
  debug?(object: Record<string, unknown>, message: string): void;
  warn(object: Record<string, unknown>, message: string): void;
  error(object: Record<string, unknown>, message: string): void;
}

const RECOVER_MS = 5000;
const SWEEP_PAGE = 100;
const SWEEP_PAGES = 10;

/** Turn messages name their endpoints. */
export const routeExplicit = (targets: EndpointTarget[], message: NewMessage) => targets.filter((t) => message.endpointIds?.includes(t.id)).map((t) => t.id);
const route = routeExplicit;

export type TurnService = ReturnType<typeof createTurnService>;

interface Produced {
  result: TurnResult | null;
  /** The endpoints the turn's messages (and its announcement) go to. */
  endpoints: string[];
}

export function createTurnService(deps: {
  store: Store;
  clock: Clock;
  newId: (p: IdPrefix) => string;
  directory: TurnDirectory;
  /** Deliveries were stored for these endpoints (the worker looks at once). */
  onPublished: (endpointIds: string[]) => void;
  /** Users who just wrote (a reply counts as engagement with a recent notification); after the commit. */
  onUserMessages?: (userIds: string[]) => void;
  log?: TurnLog;
}) {
  const { store, clock, newId, directory } = deps;
  const chains = new Map<string, Promise<void>>();
  let timer: NodeJS.Timeout | undefined;

  /**
   * A runner that works out turns (pure, synchronous: it runs inside the store's transaction) for conversations
   * whose channels and bot runtimes were loaded beforehand. It records what each turn produced, for after the commit.
   */
  function runner(context: Map<string, ChannelContext>, endpointByName: Map<string, string>, now: number, answering: boolean) {
    const produced = new Map<string, Produced>();
    const run: TurnRunner = (conversation, incoming, handoff) => {
      const ctx = context.get(conversation.channelId);
      if (!ctx) throw new Error(`no channel ${conversation.channelId}`);
      const outcome = turnWrites(ctx, conversation, incoming, handoff, { newId, now, endpointByName, answering });
      for (const miss of outcome.unrouted) deps.log?.warn({ bot: ctx.runtime.definition.id, ...miss }, 'event webhook names no active endpoint: not sent');
      const endpoints = new Set(outcome.writes.messages.flatMap((m) => m.endpointIds ?? []));
      if (outcome.writes.announce) for (const id of ctx.handoffTargets('handoff.requested')) endpoints.add(id);
      produced.set(incoming.id, { result: outcome.result, endpoints: [...endpoints] });
      return outcome.writes;
    };
    return { run, produced };
  }

  /**
   * Whether a user's message counts as engagement with their latest notification (a reply within 24 h does): any
   * message of a known user, except the one opting out ("stop offers" answers an offer, but not in its favour).
   */
  function engaged(conversation: { userId: string | null }, turn: Produced | undefined): boolean {
    return conversation.userId !== null && !turn?.result?.optOut;
  }

  /** After a turn committed: wake the delivery worker for its endpoints; note values templates missed. */
  function afterCommit(committed: TurnCommitted, turn: Produced | undefined) {
    if (!turn) return;
    if (turn.result?.missingValues.length) deps.log?.debug?.({ conversation: committed.conversation.id, missing: turn.result.missingValues }, 'template values missing: rendered with their fallback');
    const endpoints = committed.published.some((p) => p.deliveryIds.length) ? turn.endpoints : [];
    if (endpoints.length) deps.onPublished(endpoints);
  }

  async function runPending(conversationId: string): Promise<void> {
    for (;;) {
      const conversation = await store.conversations.get(conversationId);
      if (!conversation) return;
      const context = await directory.contextFor([conversation.channelId]);
      if (!context.size) {
        // A deleted channel never comes back: its waiting messages are settled once, not tried (and logged) every sweep.
        if (!(await directory.channelOf(conversation.channelId))) {
          const dropped = await store.conversations.dropPendingTurns(conversationId);
          if (dropped) deps.log?.warn({ conversation: conversationId, channel: conversation.channelId, messages: dropped }, 'conversation of a deleted channel: its waiting messages are not answered');
          return;
        }
        deps.log?.error({ conversation: conversationId, channel: conversation.channelId }, 'conversation of an unknown channel: its messages wait');
        return;
      }
      const now = clock.now();
      const { run, produced } = runner(context, (await directory.endpointIndex()).byName, now, false);
      const committed = await store.conversations.takeTurn(conversationId, run, route, now);
      if (!committed) return;
      afterCommit(committed, produced.get(committed.incoming.id));
      if (engaged(committed.conversation, produced.get(committed.incoming.id))) deps.onUserMessages?.([committed.conversation.userId!]);
    }
  }

  // Group commit: requests arriving while a group is stored are stored, and their turns run, in one transaction
  // — one commit shared by all of them instead of one or two each (../group-commit.ts: a request the store refuses
  // tries alone; each caller is answered before the work after the commit).
  type Incoming = { channel: ChannelRecord; input: IncomingInput };
  type Stored = { received: Received; turn: Produced | undefined };
  const receiveGrouped = createGroupCommit(async (items: Incoming[]): Promise<(Stored | ItemFailed)[]> => {
    const now = clock.now();
    const context = await directory.contextFor(new Set(items.map((i) => i.channel.id)));
    const { run, produced } = runner(context, (await directory.endpointIndex()).byName, now, true);
    const results = await store.conversations.receiveAll(items.map((item) => inputOf(item.channel, item.input, now)), run, route, now);
    return results.map((received) => (received instanceof ItemFailed ? received : { received, turn: produced.get(received.message.id) }));
  }, { after: afterReceived });

  /** After a group is stored and answered: remember identities, wake deliveries, run turns left waiting. */
  function afterReceived(items: Incoming[], stored: Stored[]): void {
    const writers = new Set<string>();
    stored.forEach(({ received, turn }, i) => {
      try {
        remember(items[i].input.identities, received.conversation.userId);
        // A turn run now says whether the user engaged; one run later says so then (runPending).
        if (received.turn && engaged(received.conversation, turn)) writers.add(received.conversation.userId!);
        if (received.turn) afterCommit(received.turn, turn);
        else if (received.turnError) deps.log?.error({ err: received.turnError, conversation: received.conversation.id }, 'turn failed; the message stays pending');
        else if (!received.duplicate) void process(received.conversation.id); // an earlier message waits: run them in order
      } catch (error) {
        deps.log?.error({ err: error, conversation: received.conversation.id }, 'after storing an incoming message');
      }
    });
    try {
      if (writers.size) deps.onUserMessages?.([...writers]);
    } catch (error) {
      deps.log?.error({ err: error }, 'after storing incoming messages');
    }
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
    async handle(channel: ChannelRecord, input: IncomingInput): Promise<Received> {
      const [stored] = await receiveGrouped([{ channel, input: checkKeys(input) }]);
      return stored.received;
    },

    /** Stores an incoming message only; its turn runs later (process(), or the sweep of pending turns). */
    async receive(channel: ChannelRecord, input: IncomingInput) {
      // Engagement is counted when its turn runs (runPending), which knows whether the message opted out.
      return store.conversations.receive(inputOf(channel, checkKeys(input), clock.now()), route);
    },

    /** Runs every pending turn of a conversation, in order; concurrent calls queue behind each other. */
    process,

    replies: (incomingId: string) => store.conversations.replies(incomingId),

    /** Picks up turns left pending (after a crash, or by another process) now and every few seconds. */
    start() {
      // A cursor through the pending conversations, a few pages per sweep: conversations whose turns cannot run
      // (their channel deleted, a turn failing every time) never keep the sweep from the others behind them.
      let after = '';
      const sweep = async () => {
        try {
          for (let page = 0; page < SWEEP_PAGES; page++) {
            const ids = await store.conversations.withPendingTurns(SWEEP_PAGE, after);
            for (const id of ids) if (!chains.has(id)) void process(id);
            after = ids.length < SWEEP_PAGE ? '' : ids[ids.length - 1];
            if (!after) break;
          }
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
      directory.forgetChannel(id);
    },
  };
}
