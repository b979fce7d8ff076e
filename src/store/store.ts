// The store contract: the only place that knows SQL sits behind it, with one implementation per backend
// (sqlite/, postgres/) and one conformance suite (test/store/) run on both.
//
// Glossary (DESIGN.md): a *message* is a payload published for delivery with an event type; an *endpoint*
// is an outgoing target; a *delivery* is one message to one endpoint and is at once the queue entry, its
// retry state, its lease and its history; an *attempt* is one HTTP try of a delivery.
// Times are milliseconds since the Unix epoch.
import type { NotifyRepo } from './notify-records.ts';

export type DeliveryStatus = 'pending' | 'sending' | 'sent' | 'failed';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'sending', 'sent', 'failed'];

export interface EndpointRecord {
  id: string;
  name: string;
  provider: string | null;
  url: string;
  /** Auth kind (none, bearer, basic, header, … later kinds) with its non-secret and sealed secret parts. */
  authKind: string;
  authPublic: Record<string, unknown>;
  authSealed: string | null;
  customHeaders: Record<string, string>;
  contentType: 'json' | 'form';
  signing: boolean;
  timeoutSeconds: number;
  /** Delays in seconds before each attempt; null means the configured default (Svix's). */
  retrySchedule: number[] | null;
  maxAttempts: number | null;
  isActive: boolean;
  disabledReason: string | null;
  disabledAt: number | null;
  /** Event types this endpoint receives; null means every non-operational type. */
  eventTypes: string[] | null;
  rateLimitPerSecond: number | null;
  /** FIFO per ordering key. */
  ordered: boolean;
  /** Sealed JSON list of signing secrets, newest first: [{secret, expiresAt|null}]. */
  secretsSealed: string;
  /** Set at the first failure after the last success; the endpoint is disabled when it is too old. */
  failingSince: number | null;
  lastSuccessAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export type EndpointPatch = Partial<Omit<EndpointRecord, 'id' | 'createdAt'>>;

/** What publishing needs to know of an endpoint to route a message to it. */
export interface EndpointTarget {
  id: string;
  eventTypes: string[] | null;
  ordered: boolean;
}

export type MessageDirection = 'incoming' | 'outgoing' | 'agent_outgoing';

/** A message's place in a conversation; absent for messages published through the API. */
export interface ConversationLink {
  conversationId: string;
  direction: MessageDirection;
  /** An outgoing message: the incoming one it answers. */
  replyTo: string | null;
}

export interface MessageRecord {
  id: string;
  eventType: string;
  /** The JSON body exactly as it is sent; null once purged by retention. */
  payload: string | null;
  orderingKey: string | null;
  idempotencyKey: string | null;
  createdAt: number;
  expired: boolean;
  conversation: ConversationLink | null;
  /** An incoming conversation message: whether its turn has run. */
  turnStatus: 'pending' | 'done' | null;
}

export interface NewMessage {
  id: string;
  eventType: string;
  payload: string;
  orderingKey: string | null;
  idempotencyKey: string | null;
  createdAt: number;
  /** Explicit targets; when absent, every active endpoint the router picks. */
  endpointIds?: string[];
  conversation?: ConversationLink;
  /** An incoming message whose turn runs in the same transaction is stored as done at once. */
  turnStatus?: 'pending' | 'done';
}

export interface PublishedMessage {
  message: MessageRecord;
  deliveryIds: string[];
  /** True when the idempotency key was seen within its time to live: nothing new was stored. */
  duplicate: boolean;
}

/** Picks the endpoints a message goes to, among the active ones (or the explicit ones) the store read. */
export type Router = (targets: EndpointTarget[], message: NewMessage) => string[];

export interface DeliveryRecord {
  id: string;
  seq: number;
  messageId: string;
  endpointId: string;
  eventType: string;
  /** Set only on ordered endpoints ('' means the whole endpoint). */
  orderingKey: string | null;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number | null;
  lockedBy: string | null;
  lockedUntil: number | null;
  /** A manual resend: its failure schedules nothing more. */
  oneShot: boolean;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  sentAt: number | null;
}

export interface ClaimedDelivery {
  id: string;
  messageId: string;
  endpointId: string;
  eventType: string;
  attempts: number;
  oneShot: boolean;
  orderingKey: string | null;
  payload: string | null;
}

export interface ClaimRequest {
  workerId: string;
  now: number;
  /** A claimed row's lease ends at now + its endpoint's timeout + this grace. */
  leaseGraceMs: number;
  limit: number;
  /** Endpoints this worker cannot take more work for right now (saturated or throttled). */
  excludeEndpointIds: string[];
  /** Free slots per endpoint with work in flight; others get `defaultEndpointCap`. */
  endpointCaps: Record<string, number>;
  defaultEndpointCap: number;
}

export interface AttemptRecord {
  id: string;
  deliveryId: string;
  messageId: string;
  endpointId: string;
  attemptedAt: number;
  statusCode: number | null;
  durationMs: number;
  /** null on success; else timeout, connection_refused, connection_reset, dns, blocked, http_status, … */
  errorKind: string | null;
  error: string | null;
  responseBody: string | null;
  expired: boolean;
}

export type NextState =
  | { status: 'sent' }
  | { status: 'pending'; nextAttemptAt: number }
  | { status: 'failed' };

export interface AttemptOutcome {
  workerId: string;
  attempt: AttemptRecord;
  next: NextState;
  succeeded: boolean;
}

export interface FinishResult {
  /** failing_since of each endpoint that saw a failure in this batch, after the update. */
  failingSince: Record<string, number | null>;
}

export interface MessageFilter {
  eventType?: string;
  endpointId?: string;
  conversationId?: string;
  direction?: MessageDirection;
  /** Conversation messages of these channels. */
  channelIds?: string[];
  /** received (incoming); of outgoing ones: pending (a delivery waits), failed (one failed), sent (the rest). */
  state?: MessageState;
  since?: number;
  until?: number;
}

export type MessageState = 'received' | 'pending' | 'sent' | 'failed';

export interface DeliveryFilter {
  endpointId?: string;
  provider?: string;
  eventType?: string;
  status?: DeliveryStatus;
  messageId?: string;
  since?: number;
  until?: number;
}

/** Newest first. `cursor` is the id after which to continue; otherwise `offset`. */
export interface PageRequest {
  limit: number;
  offset?: number;
  cursor?: string;
}

export interface DeliveryStats {
  byStatus: Record<DeliveryStatus, number>;
  oldestPendingCreatedAt: number | null;
}

export type JobStatus = 'queued' | 'running' | 'done' | 'failed';

export interface JobRecord {
  id: string;
  kind: string;
  params: Record<string, unknown>;
  /** Where a resumable job got to (e.g. the last delivery seq handled). */
  progress: Record<string, unknown>;
  status: JobStatus;
  total: number;
  done: number;
  error: string | null;
  lockedBy: string | null;
  lockedUntil: number | null;
  createdAt: number;
  updatedAt: number;
}

export type JobPatch = Partial<Pick<JobRecord, 'progress' | 'status' | 'total' | 'done' | 'error' | 'lockedBy' | 'lockedUntil'>>;

export interface RequeueWindow {
  endpointId: string;
  since: number;
  until: number;
  afterSeq: number;
  limit: number;
}

export interface PurgeResult {
  messages: number;
  attempts: number;
  idempotencyKeys: number;
}

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
  | { kind: 'close'; id: string; by: string; resumeState: string | null };

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
  /** The user these identities are already known to belong to (linking is then skipped). */
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

/** Capability flags: backend differences are declared, never tested with instanceof. */
export interface StoreCapabilities {
  dialect: 'sqlite' | 'postgres';
  /** Several gateway processes may share this store (leases then matter across processes). */
  multiProcess: boolean;
  /** Queries run on several connections at once (a claim can overlap storing attempts); false when every call runs synchronously in-process. */
  parallelQueries: boolean;
}

export interface SettingsRepo {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
  /** Stores the value unless the key exists; returns whether it stored. */
  setIfAbsent(key: string, value: string): Promise<boolean>;
}

export interface EndpointsRepo {
  insert(endpoint: EndpointRecord): Promise<void>;
  get(id: string): Promise<EndpointRecord | null>;
  list(filter: { provider?: string; isActive?: boolean }, page: PageRequest): Promise<EndpointRecord[]>;
  update(id: string, patch: EndpointPatch): Promise<EndpointRecord | null>;
  delete(id: string): Promise<boolean>;
  /** Flips is_active; `changed` is false when it already had that value (only one caller sees true). */
  setActive(id: string, active: boolean, reason: string | null, now: number): Promise<{ changed: boolean; endpoint: EndpointRecord | null }>;
}

export interface MessagesRepo {
  /** Stores messages and their deliveries in one transaction (the outbox), honouring idempotency keys. */
  publish(messages: NewMessage[], route: Router, options: { now: number; idempotencyTtlMs: number }): Promise<PublishedMessage[]>;
  get(id: string): Promise<MessageRecord | null>;
  list(filter: MessageFilter, page: PageRequest): Promise<MessageRecord[]>;
}

export interface DeliveriesRepo {
  claim(request: ClaimRequest): Promise<ClaimedDelivery[]>;
  /** Records attempts and moves their deliveries on, in one transaction; ignores rows whose lease was lost. */
  finish(outcomes: AttemptOutcome[], now: number): Promise<FinishResult>;
  /** Gives leased deliveries back without an attempt (shutdown, throttling). */
  release(ids: string[], workerId: string, nextAttemptAt: number): Promise<number>;
  /** Returns every delivery whose lease ended to pending; returns how many. */
  reapExpiredLeases(now: number): Promise<number>;
  get(id: string): Promise<DeliveryRecord | null>;
  list(filter: DeliveryFilter, page: PageRequest): Promise<DeliveryRecord[]>;
  forMessage(messageId: string): Promise<DeliveryRecord[]>;
  attempts(deliveryId: string): Promise<AttemptRecord[]>;
  /** Makes a delivery due now; sent or failed ones become one-shot. */
  resend(id: string, now: number): Promise<DeliveryRecord | 'not_found' | 'in_progress'>;
  countFailed(endpointId: string, since: number, until: number): Promise<number>;
  /** Requeues failed deliveries of an endpoint created in a window, in seq order, as one-shot. */
  requeueFailed(window: RequeueWindow, now: number): Promise<{ count: number; lastSeq: number | null }>;
  stats(): Promise<DeliveryStats>;
  /** The earliest next_attempt_at of a pending delivery, for a worker deciding how long to sleep. */
  nextDueAt(): Promise<number | null>;
}

export interface JobsRepo {
  insert(job: JobRecord): Promise<void>;
  get(id: string): Promise<JobRecord | null>;
  /** Takes one queued job, or a running one whose lease ended. */
  claim(workerId: string, now: number, leaseUntil: number): Promise<JobRecord | null>;
  update(id: string, patch: JobPatch, now: number): Promise<void>;
}

export interface RetentionRepo {
  /** Purges payloads and response bodies older than `before`, at most `limit` rows of each per call. */
  purge(before: number, limit: number): Promise<PurgeResult>;
  /** Forgets idempotency keys older than `before`. */
  purgeIdempotencyKeys(before: number): Promise<number>;
}

/** Shared counters (rate limits): one row per key, forgotten after it expires. */
export interface CountersRepo {
  /** Adds `amount` to the key's count (a missing key starts at 0) and returns the new count. */
  add(key: string, amount: number, expiresAt: number): Promise<number>;
  /** Forgets counters that expired before `now`. */
  purgeExpired(now: number): Promise<number>;
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
}

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
  attach(userId: string, identities: Identity[], now: number): Promise<{ conflict: Identity | null }>;
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
   * commit. `run` null: only store them.
   */
  receiveAll(inputs: ReceiveInput[], run: TurnRunner | null, route: Router, now: number): Promise<Received[]>;
  get(id: string): Promise<ConversationRecord | null>;
  list(filter: ConversationFilter, page: PageRequest): Promise<ConversationRecord[]>;
  /** Conversations with a pending turn (a crash between the answer and the turn, or work for another process). */
  withPendingTurns(limit: number): Promise<string[]>;
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

export interface Store {
  readonly capabilities: StoreCapabilities;
  readonly settings: SettingsRepo;
  readonly endpoints: EndpointsRepo;
  readonly messages: MessagesRepo;
  readonly deliveries: DeliveriesRepo;
  readonly jobs: JobsRepo;
  readonly retention: RetentionRepo;
  readonly counters: CountersRepo;
  readonly apps: AppsRepo;
  readonly bots: BotsRepo;
  readonly channels: ChannelsRepo;
  readonly users: UsersRepo;
  readonly conversations: ConversationsRepo;
  readonly handoffs: HandoffsRepo;
  readonly agents: AgentsRepo;
  readonly notify: NotifyRepo;
  /** Applies pending numbered migrations; returns the names applied. */
  migrate(): Promise<string[]>;
  /** Resolves when the store answers. */
  ping(): Promise<void>;
  /** Runs fn while holding a named lock no other process sharing the store holds (start-up provisioning). */
  exclusive<T>(name: string, fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
