// The store contract: the only place that knows SQL sits behind it, with one implementation per backend
// (sqlite/, postgres/) and one conformance suite (test/store/) run on both.
//
// Glossary (DESIGN.md): a *message* is a payload published for delivery with an event type; an *endpoint*
// is an outgoing target; a *delivery* is one message to one endpoint and is at once the queue entry, its
// retry state, its lease and its history; an *attempt* is one HTTP try of a delivery.
// Times are milliseconds since the Unix epoch.
import type { AgentsRepo, AppsRepo, BotsRepo, ChannelsRepo, ConversationsRepo, HandoffsRepo, UsersRepo } from './conversation-records.ts';
import type { NotifyRepo } from './notify-records.ts';
import type { Reseal } from './sealed-values.ts';
import type { AttemptOutcome, AttemptRecord, ClaimRequest, ClaimedDelivery, DeliveryFilter, DeliveryRecord, LeasedDelivery, DeliveryStats, FinishResult, JobPatch, JobRecord, MessageFilter, PageRequest, PurgeCursor, PurgeResult, RequeueWindow } from './delivery-records.ts';

export type * from './conversation-records.ts';
export type * from './delivery-records.ts';

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
  /** Explicit targets, active or not (a disabled one holds its delivery until enabled); when absent, every active endpoint the router picks. */
  endpointIds?: string[];
  conversation?: ConversationLink;
  /** An incoming message whose turn runs in the same transaction is stored as done at once. */
  turnStatus?: 'pending' | 'done';
  /** Outside every ordered sequence, even on an ordered endpoint (a test send: nothing waits for it, nor it for anything). */
  unordered?: boolean;
}

export interface PublishedMessage {
  message: MessageRecord;
  deliveryIds: string[];
  /** True when the idempotency key was seen within its time to live: nothing new was stored. */
  duplicate: boolean;
  /** The deliveries stored already leased to the publishing process's worker (`PublishLease`), to send without a claim. */
  leased?: LeasedDelivery[];
}

/**
 * Lets publishing lease new deliveries to this process's worker as it stores them, so they skip the claim: asked once
 * per delivery outside every ordering sequence (an ordered endpoint's wait for their claim), `take` gives the lease's
 * end for a delivery to that endpoint, or null to store it pending as usual.
 */
export interface PublishLease {
  workerId: string;
  /** The lease's end for a delivery to the endpoint whose payload has `size` characters, or null: stored pending. */
  take(endpointId: string, size: number): number | null;
}

/** Options of a publish: the time, the idempotency keys' time to live, and a lease for the worker (optional). */
export interface PublishOptions {
  now: number;
  idempotencyTtlMs: number;
  lease?: PublishLease;
}

/** Picks the endpoints a message goes to, among the active ones (or the explicit ones, in any state) the store read. */
export type Router = (targets: EndpointTarget[], message: NewMessage) => string[];

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

/** Every value sealed under the master key, together (store/sealed-values.ts): a master key rotation. */
export interface SecretsRepo {
  /**
   * In one transaction: every sealed value becomes reseal(value, where) and the setting `check.key` becomes
   * `check.value` (the new key's check); a reseal that throws changes nothing. Rows keep their updated_at. On a
   * store shared by processes, refused (nothing changed) while a gateway on it is alive, with the worker ids of
   * those: a running one would go on sealing under the old key. Waits while processes hold the key (holdingKey,
   * checkingKey), telling `onWait` once first: a value they seal is then sealed again, or sealed after under the new key.
   * `onCommitted` runs once it has resealed, before they go on (the new master.key put in place: one that waited reads it).
   */
  resealAll(reseal: Reseal, check: { key: string; value: string }, onWait?: () => void, onCommitted?: () => void): Promise<{ resealed: number } | { running: string[] }>;
  /**
   * Runs a process's master key check at start (`check`) apart from any resealAll: one under way is waited for, so
   * the check reads the key it leaves. With `worker` (a gateway's), the worker is registered alive before a
   * resealAll may begin, which then refuses. A store one process holds (SQLite: the data directory's lock, which
   * rotate takes too) just runs it.
   */
  checkingKey<T>(check: () => Promise<T>, worker?: { id: string; now: number }): Promise<T>;
  /**
   * Holds the master key apart from any resealAll until the returned release (waiting for one under way): a CLI
   * command's, from its key check to its close, so a rotation cannot commit between its check and what it seals
   * (which would stay sealed under the old key). Other processes share it; a resealAll waits for every holder.
   */
  holdingKey(): Promise<() => Promise<void>>;
}

export interface EndpointsRepo {
  insert(endpoint: EndpointRecord): Promise<void>;
  get(id: string): Promise<EndpointRecord | null>;
  list(filter: { provider?: string; isActive?: boolean; name?: string }, page: PageRequest): Promise<EndpointRecord[]>;
  /** With `ordered: false`, the endpoint's pending deliveries leave their ordering sequences, in the same transaction. */
  update(id: string, patch: EndpointPatch): Promise<EndpointRecord | null>;
  delete(id: string): Promise<boolean>;
  /**
   * Flips is_active; `changed` is false when it already had that value (only one caller sees true). `announce`
   * makes the message that tells of the flip (endpoint.disabled) from the changed row: it is published in the same
   * transaction, and only by the caller that flipped it, so a crash cannot keep the one without the other. Flipped
   * to active, its pending deliveries waiting for a later retry (attempted before) are due at `now`, in the same transaction.
   */
  setActive(id: string, active: boolean, reason: string | null, now: number, announce?: Announce): Promise<{ changed: boolean; endpoint: EndpointRecord | null }>;
}

export interface MessagesRepo {
  /** Stores messages and their deliveries in one transaction (the outbox), honouring idempotency keys. */
  publish(messages: NewMessage[], route: Router, options: PublishOptions): Promise<PublishedMessage[]>;
  get(id: string): Promise<MessageRecord | null>;
  list(filter: MessageFilter, page: PageRequest): Promise<MessageRecord[]>;
}

/** The message to publish with a change of an endpoint, made from its changed row, and how to route it. */
export type Announce = (endpoint: EndpointRecord) => { message: NewMessage; route: Router };

/** Messages to publish with a finish, each for one delivery (by id), routed by `route`. */
export interface FinishAnnouncements {
  messages: Map<string, NewMessage>;
  route: Router;
}

export interface DeliveriesRepo {
  claim(request: ClaimRequest): Promise<ClaimedDelivery[]>;
  /**
   * Records attempts and moves their deliveries on, in one transaction; ignores rows whose lease was lost. The
   * announcements (by delivery id: message.attempt.exhausted) are published in the same transaction for the
   * deliveries it really moved, so a crash cannot keep the one without the other.
   */
  finish(outcomes: AttemptOutcome[], now: number, announce?: FinishAnnouncements): Promise<FinishResult>;
  /** Gives leased deliveries back without an attempt (shutdown, throttling). */
  release(ids: string[], workerId: string, nextAttemptAt: number): Promise<number>;
  /**
   * Returns every delivery whose lease ended to pending; returns how many. With `reaper` (the reaping worker's id) a
   * store shared by several processes also returns those whose holder it can tell has died, whatever their lease.
   */
  reapExpiredLeases(now: number, reaper?: string): Promise<number>;
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
  /** Takes one queued job, or a running one whose lease ended (or, on a shared store, whose holder has died). */
  claim(workerId: string, now: number, leaseUntil: number): Promise<JobRecord | null>;
  /** With `owner`: only while that worker holds the job (false when another took it over after its lease ran out). */
  update(id: string, patch: JobPatch, now: number, owner?: string): Promise<boolean>;
}

export interface RetentionRepo {
  /**
   * Purges payloads and response bodies older than `before`, at most `limit` rows of each per call: of the messages,
   * the next `limit` after `after` (those still to be sent are kept).
   */
  purge(before: number, limit: number, after?: PurgeCursor | null): Promise<PurgeResult>;
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

export interface Store {
  readonly capabilities: StoreCapabilities;
  readonly settings: SettingsRepo;
  readonly secrets: SecretsRepo;
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
