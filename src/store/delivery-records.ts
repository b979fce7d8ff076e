// The store contract, delivery side: deliveries and their claims, attempts and what a try leads to, history filters
// and paging, recover jobs and retention (store.ts re-exports all of it; messages and endpoints stay there).
import type { DeliveryStatus, MessageDirection } from './store.ts';

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

/** A delivery stored already leased to a worker (published in its process): the lease's end comes with it. */
export interface LeasedDelivery extends ClaimedDelivery {
  leaseUntil: number;
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
  /**
   * Where the messages this call looked at end (pass it back as `after`), or null when it looked at the last old one.
   * Messages a delivery still has to send are kept and looked past: the next call does not read them again.
   */
  next?: PurgeCursor | null;
}

/** A place in the old unexpired messages, in (created_at, id) order. */
export type PurgeCursor = { createdAt: number; id: string };
