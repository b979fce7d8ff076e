// The store contract, conversation side: apps, bots, channels, users and their identities, conversations and
// their turns, handoffs and agents (store.ts re-exports all of it; delivery and messages stay there).
import type { ItemFailed } from '../group-commit.ts';
import type { MessageRecord, NewMessage, PageRequest, PublishedMessage, Router } from './store.ts';

/** An app: the client id (its id) and sealed client secret a Kore.ai integration signs its JWTs with. */
export interface AppRecord {
  id: string;
  name: string;
  secretSealed: string;
  createdAt: number;
  updatedAt: number;
}

/** A loaded bot: its validated definition and knowledge pages, as JSON, so every process serves one version. */
export interface BotRecord {
  id: string;
  name: string;
  /** The file it was loaded from. */
  source: string;
  version: number;
  definition: string;
  knowledge: string;
  createdAt: number;
  updatedAt: number;
}

export type ChannelMode = 'sync' | 'async';

/** An inbound connection of a bot (kind kore-webhook); an async one delivers replies through its endpoint. */
export interface ChannelRecord {
  id: string;
  name: string | null;
  botId: string;
  /** kore-webhook, platform, twilio */
  kind: string;
  mode: ChannelMode;
  /** The app whose secret signs Kore JWTs ('' for other kinds). */
  appId: string;
  endpointId: string | null;
  syncTimeoutSeconds: number;
  /** The platform's name (zendesk, freshchat, twilio, …) for platform channels. */
  provider: string | null;
  /** sha256 of the inbound bearer token, for platform channels that use one. */
  inboundTokenHash: string | null;
  /** Kind-specific settings (limits, signature scheme, Twilio account); secrets in it are sealed. */
  settings: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

export interface UserRecord {
  id: string;
  tz: string | null;
  preferences: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

/** One way a person is known: kind (email, kore, platform, phone) and value. */
export interface Identity {
  kind: string;
  value: string;
}

export type ConversationMode = 'bot' | 'waiting' | 'agent';

export type HandoffStatus = 'waiting' | 'active' | 'closed';

/** A conversation's stay with a human: waiting for an agent, held by one, then closed. */
export interface HandoffRecord {
  id: string;
  conversationId: string;
  status: HandoffStatus;
  reason: string | null;
  agentId: string | null;
  /** The flow state the bot resumes at when the session closes (null: idle). */
  resumeState: string | null;
  /** agent, user, or timeout */
  closedBy: string | null;
  requestedAt: number;
  assignedAt: number | null;
  closedAt: number | null;
  updatedAt: number;
}

export interface AgentRecord {
  id: string;
  name: string;
  tokenHash: string;
  isActive: boolean;
  createdAt: number;
  updatedAt: number;
}

export type HandoffOp =
  | { kind: 'open'; id: string; reason: string }
  | { kind: 'assign'; id: string; agentId: string }
  /** `agentId`: the agent closing it, who becomes the session's agent (null when the user or the timeout closes). */
  | { kind: 'close'; id: string; by: string; agentId: string | null; resumeState: string | null };

export interface ConversationRecord {
  id: string;
  botId: string;
  channelId: string;
  /** The channel's id of the person (Kore from.id). */
  userKey: string;
  userId: string | null;
  mode: ConversationMode;
  /** The flow state the bot waits at; null when idle. */
  state: string | null;
  memory: Record<string, string>;
  /** The bot messages that asked the question now waited for (JSON values). */
  lastPrompt: unknown[];
  createdAt: number;
  updatedAt: number;
  lastMessageAt: number;
}

export interface ReceiveInput {
  conversationId: string;
  botId: string;
  channelId: string;
  userKey: string;
  identities: Identity[];
  /** The user these identities are remembered to belong to: linking is skipped when the conversation is already theirs. */
  knownUserId?: string | null;
  newUserId: string;
  /** The incoming message (its conversation link is filled in by the store). */
  message: NewMessage;
  now: number;
}

/** What a turn writes: the conversation's new position and the messages it publishes (replies, event webhooks). */
export interface TurnWrites {
  state: string | null;
  memory: Record<string, string>;
  lastPrompt: unknown[];
  messages: NewMessage[];
  /** A new conversation mode (bot, waiting, agent), with the handoff session change that goes with it. */
  mode?: ConversationMode;
  handoff?: HandoffOp;
  /** Messages built from the conversation's last messages (the transcript a handoff request carries). */
  announce?: (transcript: MessageRecord[]) => NewMessage[];
  /** The user opted out of a notification type ('*': every non-critical type) on every channel. */
  optOut?: { eventType: string };
}

/** A change to a conversation outside a turn (an agent claims, writes, closes; a wait times out). */
export interface ConversationAction {
  mode?: ConversationMode;
  state?: string | null;
  lastPrompt?: unknown[];
  handoff?: HandoffOp;
  messages: NewMessage[];
}

export interface ActionCommitted {
  conversation: ConversationRecord;
  handoff: HandoffRecord | null;
  published: PublishedMessage[];
}

export interface TurnCommitted {
  conversation: ConversationRecord;
  incoming: MessageRecord;
  published: PublishedMessage[];
}

/**
 * Works out a turn's writes from the conversation, its incoming message and — when a human has the conversation
 * (mode waiting or agent) — its open handoff session; may throw (the message then waits).
 */
export type TurnRunner = (conversation: ConversationRecord, incoming: MessageRecord, handoff: HandoffRecord | null) => TurnWrites;

export interface Received {
  conversation: ConversationRecord;
  message: MessageRecord;
  duplicate: boolean;
  /** The turn, run in the same transaction because no earlier message of the conversation was waiting; else null. */
  turn: TurnCommitted | null;
  /** Why `run` threw, when it did (the message stays pending). */
  turnError: unknown;
}

export interface ConversationFilter {
  botId?: string;
  channelId?: string;
  userId?: string;
  /** Conversations of any of these users. */
  userIds?: string[];
  userKey?: string;
}

export interface AppsRepo {
  insert(app: AppRecord): Promise<void>;
  get(id: string): Promise<AppRecord | null>;
  byName(name: string): Promise<AppRecord | null>;
  list(page: PageRequest): Promise<AppRecord[]>;
  update(id: string, patch: Partial<Pick<AppRecord, 'name' | 'secretSealed' | 'updatedAt'>>): Promise<AppRecord | null>;
  delete(id: string): Promise<boolean>;
}

export interface BotsRepo {
  get(id: string): Promise<BotRecord | null>;
  list(): Promise<BotRecord[]>;
  /** Stores a (re)loaded bot; its version becomes the previous one + 1. */
  save(bot: Omit<BotRecord, 'version' | 'createdAt'>, now: number): Promise<BotRecord>;
  delete(id: string): Promise<boolean>;
}

export interface ChannelsRepo {
  insert(channel: ChannelRecord): Promise<void>;
  get(id: string): Promise<ChannelRecord | null>;
  /** A bot's channels, oldest first (the first answers at /chatbot/hooks/{botId}). */
  forBot(botId: string): Promise<ChannelRecord[]>;
  list(page: PageRequest): Promise<ChannelRecord[]>;
  update(id: string, patch: Partial<Pick<ChannelRecord, 'name' | 'mode' | 'appId' | 'endpointId' | 'syncTimeoutSeconds' | 'provider' | 'inboundTokenHash' | 'settings' | 'updatedAt'>>): Promise<ChannelRecord | null>;
  delete(id: string): Promise<boolean>;
  byInboundToken(hash: string): Promise<ChannelRecord | null>;
  /** Channels of one kind, oldest first. */
  ofKind(kind: string): Promise<ChannelRecord[]>;
  /** The channels with every field given (an app, an endpoint, a name), oldest first. */
  where(filter: ChannelFilter): Promise<ChannelRecord[]>;
}

export type ChannelFilter = { appId?: string; endpointId?: string; name?: string };

export interface UsersRepo {
  get(id: string): Promise<UserRecord | null>;
  identities(userId: string): Promise<Identity[]>;
  /** The identities of many users at once (users without any are absent). */
  identitiesOf(userIds: string[]): Promise<Map<string, Identity[]>>;
  byIdentity(identity: Identity): Promise<UserRecord | null>;
  /**
   * Attaches identities to a user (created when unknown), in one transaction. An identity another user owns is
   * a conflict: nothing changes and it is returned; identities the user already has are kept as they are.
   */
  /** `created`: the user did not exist and was made by this call (never with a conflict: then nothing changed). */
  attach(userId: string, identities: Identity[], now: number): Promise<{ conflict: Identity | null; created: boolean }>;
}

export interface ConversationsRepo {
  /**
   * Stores an incoming message (turn pending) in its conversation, opened on first contact, and links the
   * sender to a user through their identities (an existing identity's user, else `newUserId`); one transaction.
   * A message whose idempotency key was seen answers `duplicate` with the message stored the first time.
   */
  receive(input: ReceiveInput, route: Router): Promise<{ conversation: ConversationRecord; message: MessageRecord; duplicate: boolean }>;
  /**
   * Runs the next pending turn of a conversation under its lock (one turn at a time per conversation, across
   * processes): `run` sees the conversation and its oldest pending incoming message and returns what to write;
   * the writes, the message marked done and the published messages commit together. null: nothing pending.
   */
  takeTurn(conversationId: string, run: TurnRunner, route: Router, now: number): Promise<TurnCommitted | null>;
  /**
   * Group commit: stores several incoming messages in one transaction, in order, and runs each one's turn right
   * there when its conversation has no earlier message waiting (the common case), so a request costs one shared
   * commit. `run` null: only store them. An input stored apart from the rest (PostgreSQL: its conversation was held
   * by another process) that the store then refused is an ItemFailed in its place; the others are stored.
   */
  receiveAll(inputs: ReceiveInput[], run: TurnRunner | null, route: Router, now: number): Promise<(Received | ItemFailed)[]>;
  get(id: string): Promise<ConversationRecord | null>;
  list(filter: ConversationFilter, page: PageRequest): Promise<ConversationRecord[]>;
  /**
   * Each user's latest conversation (by last message) per channel among those in bot mode, and per channel among
   * those in a handoff (waiting or agent mode): at most two per channel, last message first.
   */
  latestPerChannel(userIds: string[]): Promise<ConversationRecord[]>;
  /**
   * Conversations with a turn pending (a crash between the answer and the turn, or work for another process), in
   * id order after `after` (a cursor, so stuck ones never hide the rest).
   */
  withPendingTurns(limit: number, after?: string): Promise<string[]>;
  /** Ends the waiting turns of a conversation whose channel was deleted (none can ever run): how many there were. */
  dropPendingTurns(conversationId: string): Promise<number>;
  /** The outgoing messages that answer an incoming one, in order. */
  replies(incomingId: string): Promise<MessageRecord[]>;
  /**
   * Changes a conversation under its lock: `fn` sees it with its open handoff session (or null) and returns what
   * to write, or throws to change nothing (e.g. a second agent claiming a session another one just took).
   */
  act(conversationId: string, fn: (conversation: ConversationRecord, handoff: HandoffRecord | null) => ConversationAction, route: Router, now: number): Promise<ActionCommitted>;
}

export interface HandoffsRepo {
  get(id: string): Promise<HandoffRecord | null>;
  /** `open`: waiting or active. */
  list(filter: { status?: HandoffStatus | 'open'; agentId?: string; conversationId?: string }, page: PageRequest): Promise<HandoffRecord[]>;
  /** Waiting sessions requested before `before`, oldest first (to time out). */
  waitingSince(before: number, limit: number): Promise<HandoffRecord[]>;
}

export interface AgentsRepo {
  insert(agent: AgentRecord): Promise<void>;
  get(id: string): Promise<AgentRecord | null>;
  byTokenHash(hash: string): Promise<AgentRecord | null>;
  list(page: PageRequest): Promise<AgentRecord[]>;
  update(id: string, patch: Partial<Pick<AgentRecord, 'name' | 'tokenHash' | 'isActive' | 'updatedAt'>>): Promise<AgentRecord | null>;
}
