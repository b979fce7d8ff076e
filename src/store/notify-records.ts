// The store's side of the notification engine: decisions, notifications, dedup keys, decayed engagement
// counts and per-type overrides. Engagement counts are stored as sums of weights 2^((t − epoch)/half-life − shift),
// so adding one is a plain `+=` that concurrent processes cannot lose; the engine turns them back into
// counts decayed to now. The store keeps the scale the weights are on (the shift and the half-life they were
// written under): a rebase multiplies every weight by one factor and moves the scale in one transaction (by a power
// of two when only the shift moves: exact), and weights computed on an older scale are moved to the store's in the
// transaction that adds them, so a process that read before a rebase adds on the right scale.
import type { NewMessage, PageRequest, Router, UserRecord } from './store.ts';

export type NotificationStatus = 'pending' | 'sent' | 'dropped';

export interface NotificationRecord {
  id: string;
  userId: string;
  eventType: string;
  status: NotificationStatus;
  /** Why it is pending (quiet_hours, scheduled, digest) or was dropped. */
  reason: string | null;
  critical: boolean;
  variant: string | null;
  text: string | null;
  params: Record<string, unknown>;
  /** The dedup key of the event it came from (the latest, when coalesced). */
  eventKey: string;
  occurredAt: number;
  dueAt: number | null;
  expiresAt: number;
  sentAt: number | null;
  clickedAt: number | null;
  /** Where it went: a channel id, an endpoint id, or null. */
  destination: string | null;
  messageId: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface DecisionRecord {
  id: string;
  userId: string;
  eventType: string;
  decision: 'notify' | 'skip' | 'defer';
  reason: string;
  score: number | null;
  variant: string | null;
  notificationId: string | null;
  eventKey: string;
  params: Record<string, unknown>;
  occurredAt: number;
  decidedAt: number;
  duplicateOf: string | null;
}

/** The day weights count from: a weight of time t is 2^((t − WEIGHT_EPOCH)/half-life − shift). */
export const WEIGHT_EPOCH = Date.UTC(2026, 0, 1);

/**
 * What stored weights are on: their shift, and the half-life they were written under (null: not recorded yet, in a
 * store migrated from before it was; whatever half-life reads them first is taken for it).
 */
export interface WeightScale {
  shift: number;
  halfLifeMs: number | null;
}

/** Weighted sums (see above), on the scale of the state or answer that holds them. */
export interface WeightedCounts {
  shownW: number;
  clickedW: number;
}

export interface RecentSend {
  eventType: string;
  sentAt: number;
  critical: boolean;
}

export interface NotifyState {
  users: Map<string, UserRecord>;
  /** Dedup keys still held → the decision first given for them. */
  seenKeys: Map<string, string>;
  /** When each of seenKeys stops counting: a key holds for an event decided before then. */
  keyExpiry: Map<string, number>;
  /** Sends per user since the asked time, oldest first. */
  sends: Map<string, RecentSend[]>;
  /** Pending notification per `user \0 type`. */
  pending: Map<string, NotificationRecord>;
  /** Per `user \0 type`. */
  engagement: Map<string, WeightedCounts>;
  /** Per `type \0 variant`; variant '' is the whole type (the pooled prior). */
  typeStats: Map<string, WeightedCounts>;
  /** The scale engagement and typeStats are on. */
  shift: number;
  halfLifeMs: number | null;
}

export interface NotifyWrites {
  newUsers: { id: string; tz: string | null }[];
  keys: { key: string; userId: string; decisionId: string; expiresAt: number }[];
  decisions: DecisionRecord[];
  /** Inserted, or replacing the row with the same id. */
  notifications: NotificationRecord[];
  engagement: ({ userId: string; eventType: string } & WeightedCounts)[];
  typeStats: ({ eventType: string; variant: string } & WeightedCounts)[];
  messages: NewMessage[];
  /** The scale engagement and typeStats are on (the state's they were decided on; shift 0 and the store's half-life when absent). */
  shift?: number;
  halfLifeMs?: number | null;
}

export interface DecisionFilter {
  userId?: string;
  eventType?: string;
  reason?: string;
  since?: number;
}

export interface FeedRecord {
  id: string;
  name: string;
  cron: string;
  tz: string;
  eventType: string;
  /** Who gets the event (null only in rows written without a list: nobody). */
  userIds: string[] | null;
  params: Record<string, unknown>;
  isActive: boolean;
  nextRunAt: number | null;
  lastRunAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface UserExport {
  user: UserRecord;
  identities: { kind: string; value: string }[];
  conversations: Record<string, unknown>[];
  messages: Record<string, unknown>[];
  decisions: DecisionRecord[];
  notifications: NotificationRecord[];
  engagement: ({ eventType: string } & WeightedCounts)[];
  /** The handoff sessions of the user's conversations, as stored (times as numbers). */
  handoffs: Record<string, unknown>[];
  /** The scale engagement is on. */
  shift: number;
  halfLifeMs: number | null;
}

export interface NotifyRepo {
  loadState(query: { userIds: string[]; keys: string[]; types: string[]; now: number; sendsSince: number }): Promise<NotifyState>;
  /**
   * Stores a batch's writes in one transaction. A dedup key is taken when new or expired by `now`; one still held
   * by a decision stored before (another process's) fails the whole commit with KeysTaken.
   */
  commit(writes: NotifyWrites, route: Router, now: number): Promise<void>;
  /**
   * Pending notifications due by now that no other process holds; they are leased to `holder` (the claiming worker's
   * id) until leaseUntil. A store shared by several processes also hands over those whose holder it can tell has died.
   */
  claimDue(now: number, leaseUntil: number, limit: number, holder: string): Promise<NotificationRecord[]>;
  /** Gives up every notification lease (an embedded store's only process starting: each was left by one that died). */
  releaseLeases(): Promise<number>;
  notification(id: string): Promise<NotificationRecord | null>;
  /** The user's latest sent notification (of a type, when given) sent at or after `since`. */
  latestSent(userId: string, eventType: string | null, since: number): Promise<NotificationRecord | null>;
  /** Per user among these, the latest notification sent at or after `since` (one query for a batch of writers). */
  latestSentOf(userIds: string[], since: number): Promise<Map<string, NotificationRecord>>;
  /** Marks a notification clicked once and adds the click weight (on the store's scale) to its engagement and variant counts. */
  click(id: string, at: number, weight: (scale: WeightScale) => number): Promise<'recorded' | 'duplicate' | 'not_found'>;
  /**
   * Moves every stored weight from scale `from` to `to` (rescaleSteps(scaleDistance(from, to, at))) and the store to
   * `to`, in one transaction, when the store is still on `from` (else another process rebased first, and nothing
   * changes). Returns the scale now.
   */
  rebase(from: WeightScale, to: WeightScale, at: number): Promise<WeightScale>;
  decisions(filter: DecisionFilter, page: PageRequest): Promise<DecisionRecord[]>;
  /** Reason counts per type since a time (analytics). */
  reasonCounts(since: number): Promise<{ eventType: string; decision: string; reason: string; count: number }[]>;
  /**
   * Notifications created since a time, counted by type × status × reason: where deferred ones ended up (sent when
   * quiet hours ended, dropped expired, still pending), which their decisions (defer) do not say.
   */
  outcomeCounts(since: number): Promise<{ eventType: string; status: string; reason: string | null; count: number }[]>;
  typeStats(eventType: string): Promise<WeightScale & { variants: Map<string, WeightedCounts> }>;
  overrides(): Promise<Map<string, Record<string, unknown>>>;
  putOverride(name: string, settings: Record<string, unknown>, now: number): Promise<void>;
  deleteOverride(name: string): Promise<boolean>;
  /** `touch`: the user changed otherwise (identities attached), so updated_at moves even with no field given. */
  /** Creates the user when missing (`created`), else patches the given fields. */
  putUser(id: string, patch: { tz?: string | null; preferences?: Record<string, unknown>; touch?: boolean }, now: number): Promise<{ user: UserRecord; created: boolean }>;
  exportUser(id: string): Promise<UserExport | null>;
  /** Deletes the user and everything stored about them; false when unknown. */
  deleteUser(id: string): Promise<boolean>;
  /** Deletes dedup keys that expired before `before`, at most `limit` of them (oldest first); how many went. */
  purgeKeys(before: number, limit?: number): Promise<number>;
  feeds: {
    insert(feed: FeedRecord): Promise<void>;
    get(id: string): Promise<FeedRecord | null>;
    list(): Promise<FeedRecord[]>;
    /** Active feeds whose next run is at or before `now`, earliest first. */
    due(now: number): Promise<FeedRecord[]>;
    update(id: string, patch: Partial<Omit<FeedRecord, 'id' | 'createdAt'>>): Promise<FeedRecord | null>;
    delete(id: string): Promise<boolean>;
    /**
     * Moves a due feed's next run from `expected` to `next` and marks the run at `expected` under way, leased to
     * `holder` until `leaseUntil`: true for exactly one caller (run once); false while another run of the feed is under way.
     */
    advance(id: string, expected: number, next: number | null, now: number, leaseUntil: number, holder: string): Promise<boolean>;
    /**
     * Runs under way on active feeds whose lease ran out before `now`: their process stopped in the middle. On a store
     * shared by several processes also those whose holder `reaper` (the asking worker's id) can tell has died.
     */
    stalled(now: number, reaper: string): Promise<{ feed: FeedRecord; runAt: number; leaseUntil: number }[]>;
    /**
     * Moves the lease of the run at `runAt` from `expected` to `leaseUntil`, held by `holder` (renewing it, or taking a
     * stalled run over): true for exactly one caller.
     */
    lease(id: string, runAt: number, expected: number, leaseUntil: number, holder: string): Promise<boolean>;
    /** Lets every run under way be taken over at once, its lease run out (an embedded store's only process starting); how many. */
    releaseRuns(): Promise<number>;
    /** The run at `runAt`, held under `lease`, is done. */
    finishRun(id: string, runAt: number, lease: number): Promise<void>;
  };
}

/** The key of NotifyState's per-(user, type) and per-(type, variant) maps. */
export const pair = (a: string, b: string) => `${a}\u0000${b}`;

/**
 * The writes with each row named once, as the backends write them: users once, counts summed per key (one row
 * per key and batch instead of one per send), each notification in its last version.
 */
/**
 * A commit's dedup keys, one per key: as one statement after another would store them, a later entry for a key
 * takes it over only when the earlier one has expired by `now`.
 */
export function foldKeys(keys: NotifyWrites['keys'], now: number): NotifyWrites['keys'] {
  const folded = new Map<string, NotifyWrites['keys'][number]>();
  for (const k of keys) {
    const held = folded.get(k.key);
    if (!held || held.expiresAt <= now) folded.set(k.key, k);
  }
  return [...folded.values()];
}

/**
 * A commit named dedup keys that another decision already holds, stored after this batch read its state (another
 * gateway process decided the same event at the same moment). Nothing of the commit is stored; the engine
 * decides the batch again, and now sees those keys.
 */
export class KeysTaken extends Error {
  readonly keys: string[];
  constructor(keys: string[]) {
    super(`dedup keys already held by another decision: ${keys.length}`);
    this.name = 'KeysTaken';
    this.keys = keys;
  }
}

export function foldWrites(w: NotifyWrites): NotifyWrites {
  const sum = <T extends WeightedCounts>(rows: T[], key: (r: T) => string): T[] => {
    const merged = new Map<string, T>();
    for (const r of rows) {
      const m = merged.get(key(r));
      merged.set(key(r), m ? { ...m, shownW: m.shownW + r.shownW, clickedW: m.clickedW + r.clickedW } : r);
    }
    return [...merged.values()];
  };
  return {
    ...w,
    newUsers: [...new Map(w.newUsers.map((u) => [u.id, u])).values()],
    engagement: sum(w.engagement, (r) => pair(r.userId, r.eventType)),
    typeStats: sum(w.typeStats, (r) => pair(r.eventType, r.variant)),
    notifications: [...new Map(w.notifications.map((n) => [n.id, n])).values()],
  };
}

/**
 * Moving weights down by 2^−d, in steps whose factor 2^−s (s ≤ 1000) is a normal double: each step multiplies a
 * weight (exactly, for a whole s), or gives 0 for one whose product would fall below 2^−1022 (a count of nothing;
 * PostgreSQL refuses a product that underflows) or that is not finite (a weight that overflowed before the store had
 * a shift: its count is lost). A d below 0 (a batch's weights, a fraction of a power of two below a store rebased
 * to a shorter half-life since) is one step up. The stores run the same steps in SQL.
 */
export function rescaleSteps(d: number): { factor: number; below: number }[] {
  if (!Number.isFinite(d)) throw new RangeError(`weights moved by 2^−${d}`);
  const steps = [];
  for (let left = d, s = 0; left !== 0; left -= s) {
    s = Math.max(-1000, Math.min(left, 1000));
    steps.push({ factor: 2 ** -s, below: 2 ** (s - 1022) });
  }
  return steps;
}

/** A weight moved down by 2^−d as the stores move theirs (rescaleSteps). */
export function rescaled(weight: number, d: number): number {
  for (const { factor, below } of rescaleSteps(d)) weight = weight < below || weight > Number.MAX_VALUE ? 0 : weight * factor;
  return weight;
}

export const sameScale = (a: WeightScale, b: WeightScale) => a.shift === b.shift && a.halfLifeMs === b.halfLifeMs;

/**
 * How many powers of two a weight moves down from scale `from` to `to`, read as a count decayed to `at`: under `from`
 * it is w · 2^(shift − (at − epoch)/half-life), the same count under `to` is w · 2^−d. On one half-life (or one not
 * recorded yet: taken for the other) only the shift moves, whatever `at`.
 */
export function scaleDistance(from: WeightScale, to: WeightScale, at: number): number {
  const d = to.shift - from.shift;
  if (from.halfLifeMs === null || to.halfLifeMs === null || from.halfLifeMs === to.halfLifeMs) return d;
  return d + (at - WEIGHT_EPOCH) * (1 / from.halfLifeMs - 1 / to.halfLifeMs);
}

/**
 * A batch's weight writes moved from the scale they were decided on to the store's (a rebase came between the batch's
 * read and its commit at `now`), as the rebase moved the stored ones: exactly for a new shift; for a new half-life, as
 * counts at `now` rather than at the rebase, moments apart.
 */
export function writesOnScale(w: Pick<NotifyWrites, 'engagement' | 'typeStats' | 'shift' | 'halfLifeMs'>, store: WeightScale, now: number): Pick<NotifyWrites, 'engagement' | 'typeStats'> {
  const d = scaleDistance({ shift: w.shift ?? 0, halfLifeMs: w.halfLifeMs ?? store.halfLifeMs }, store, now);
  if (d <= -1) throw new Error(`engagement weights on shift ${w.shift}, ahead of the store's ${store.shift}`);
  if (d === 0) return { engagement: w.engagement, typeStats: w.typeStats };
  const move = <T extends WeightedCounts>(r: T): T => ({ ...r, shownW: rescaled(r.shownW, d), clickedW: rescaled(r.clickedW, d) });
  return { engagement: w.engagement.map(move), typeStats: w.typeStats.map(move) };
}

/** The SQL of one step of rescaleSteps for a column: its factor, bound and Number.MAX_VALUE are the parameters named. */
export const rescaleSql = (column: string, factor: string, below: string, max: string) =>
  `CASE WHEN ${column} < ${below} OR ${column} > ${max} THEN 0 ELSE ${column} * ${factor} END`;
