// The notification engine (DESIGN.md "Reach out"): events in, one decision each, notifications out through the
// outbox. The policy runs in this order: dedup → strict types → expiry → preferences → coalescing / schedule →
// critical → digest → cooldown → cap → value → quiet hours → channel. All time comes from the injected clock (or
// the event's occurred_at), all randomness from the injected source: a simulation can drive it deterministically.
import { hash } from 'node:crypto';
import type { Clock, Random } from '../clock.ts';
import { routeExplicit } from '../conversation/turns.ts';
import type { IdPrefix } from '../ids.ts';
import type { Store } from '../store/store.ts';
import { KeysTaken, pair, sameScale, type DecisionRecord, type NotificationRecord } from '../store/notify-records.ts';
import { createBatch, DAY, optedOut, type Batch, type BatchDeps } from './batch.ts';
import { scaleFor, weightAt } from './engagement.ts';
import { createGroupCommit } from '../group-commit.ts';
import { parseClock } from './local-time.ts';
import type { NotificationRouter } from './router.ts';
import { hours, typeSettings, type NotifySettings } from './settings.ts';
import type { Decision, DecisionReason, DueResult, EventInput, EventTypeSettings, NotifyEngine } from './types.ts';

export interface NotifyEngineDeps {
  store: Store;
  clock: Clock;
  random: Random;
  newId: (prefix: IdPrefix) => string;
  settings: NotifySettings;
  router: NotificationRouter;
  /** This process's worker id: the holder of the due notifications it claims (docs/delivery.md, several processes). */
  workerId: string;
  /** Fills `{{link}}`: the tracked URL of a notification. */
  linkFor?: (notificationId: string) => string;
  log?: { warn(object: Record<string, unknown>, message: string): void };
  /** Endpoints that got new deliveries (wakes the delivery worker). */
  onPublished?: (endpointIds: string[]) => void;
}

export type NotifyEngineService = NotifyEngine & {
  /** The effective settings of a type (config, then admin overrides). */
  type(name: string): EventTypeSettings & { known: boolean };
  /** Re-reads the admin overrides (after an admin change, or periodically on a shared database). */
  reloadOverrides(): Promise<void>;
  /** Rebases the stored engagement weights to the configured half-life when they were kept under another (once). */
  useHalfLife(): Promise<void>;
};

const sha = (text: string) => hash('sha256', text, 'base64url').slice(0, 32);

/** The content key of an event: same user, type, dedup fields and time → the same event. */
export function eventKey(userId: string, type: EventTypeSettings, params: Record<string, unknown>, occurredAt: number): string {
  const fields = type.dedupFields.length ? type.dedupFields.map((f) => [f, params[f] ?? null]) : Object.entries(params).sort(([a], [b]) => (a < b ? -1 : 1));
  // Led by the time: keys of new events land together at the end of the index instead of all over it.
  return `h:${occurredAt.toString(36).padStart(9, '0')}:${sha(JSON.stringify([userId, type.name, fields, occurredAt]))}`;
}

export function createNotifyEngine(deps: NotifyEngineDeps): NotifyEngineService {
  const { store, clock, newId, settings } = deps;
  const repo = store.notify;
  const halfLife = settings.halfLifeDays * DAY;
  let overrides = new Map<string, Partial<EventTypeSettings>>();
  const typeCache = new Map<string, EventTypeSettings & { known: boolean }>();
  const typeOf = (name: string) => {
    let found = typeCache.get(name);
    if (!found) typeCache.set(name, (found = typeSettings(settings, name, overrides)));
    return found;
  };
  // How far back sends matter: a day (cap, fatigue), or the longest cooldown.
  const sendWindow = () => Math.max(DAY, ...[...Object.values(settings.types), ...overrides.values()].map((t) => hours(t.cooldownHours ?? 0)));
  let window = sendWindow();
  const batchDeps: BatchDeps = {
    settings, clock, random: deps.random, typeOf, linkFor: deps.linkFor, log: deps.log,
    quiet: { start: parseClock(settings.quietHours.start), end: parseClock(settings.quietHours.end) },
  };

  // One batch at a time per process: a batch reads state, decides, then writes it; two interleaved would read stale state.
  let queue: Promise<unknown> = Promise.resolve();
  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Puts the stored weights on this engine's half-life, once (on start, or before the first batch): counts kept under
   * another notify.half_life_days are rebased to their value now under this one. From then on the engine decays with
   * the store's half-life, which another gateway started with another setting may have moved since.
   */
  let halfLifeSet: Promise<void> | null = null;
  const useHalfLife = () => (halfLifeSet ??= (async () => {
    const now = clock.now();
    const scaleNow = () => repo.loadState({ userIds: [], keys: [], types: [], now, sendsSince: now }); // the scale alone
    for (let state = await scaleNow(); state.halfLifeMs !== halfLife; state = await scaleNow()) {
      const to = scaleFor(now, halfLife, state);
      if (sameScale(await repo.rebase(state, to, now), to)) break;
    }
  })().catch((error) => {
    halfLifeSet = null;
    throw error;
  }));

  /**
   * The state of these users and a router batch, read together, as of `from`; the weights rebased first when they
   * would pass 2^REBASE_AT at `now` (read again then: another process may have rebased them already).
   */
  async function open(userIds: string[], keys: string[], types: EventTypeSettings[], from: number, now: number): Promise<Batch> {
    await useHalfLife();
    const query = { userIds, keys, types: types.map((t) => t.name), now: from, sendsSince: from - window };
    let [state, router] = await Promise.all([repo.loadState(query), deps.router.prepare(userIds, types)]);
    for (let to = scaleFor(now, state.halfLifeMs ?? halfLife, state); !sameScale(to, state); to = scaleFor(now, state.halfLifeMs ?? halfLife, state)) {
      await repo.rebase(state, to, now);
      state = await repo.loadState(query);
    }
    return createBatch(state, router, batchDeps);
  }

  async function commit(b: Batch, now: number): Promise<void> {
    await repo.commit(b.writes, routeExplicit, now);
    if (b.published.size) deps.onPublished?.([...b.published]);
  }

  /**
   * Decides a batch. Another gateway process on the same database may decide the same event between this batch's
   * read and its commit: the commit then refuses the dedup key (KeysTaken) and the batch is decided again, reading
   * that key, so the event is a duplicate here (only the first of the two processes notifies).
   */
  async function decideBatch(events: EventInput[]): Promise<Decision[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await decideOnce(events);
      } catch (error) {
        if (!(error instanceof KeysTaken) || attempt >= 3) throw error;
      }
    }
  }

  async function decideOnce(events: EventInput[]): Promise<Decision[]> {
    const now = clock.now();
    const prepared = events.map((event) => {
      const type = typeOf(event.eventType);
      const t = event.occurredAt ?? now;
      // The caller's key when given (one user's: another user's event with the same key is another event), else
      // the content key.
      const keys = [event.idempotencyKey ? 'k:' + sha(`${event.userId}\u0000${event.idempotencyKey}`) : eventKey(event.userId, type, event.params, t)];
      return { event, type, t, keys };
    });
    const b = await open(
      [...new Set(events.map((e) => e.userId))],
      prepared.flatMap((p) => p.keys),
      [...new Map(prepared.map((p) => [p.type.name, p.type])).values()],
      Math.min(now, ...prepared.map((p) => p.t)),
      now,
    );
    const { state } = b;
    const decisions: Decision[] = [];

    for (const { event, type, t, keys } of prepared) {
      const id = newId('dec');
      const ctx = b.userContext(event.userId);
      const record = (decision: Decision['decision'], reason: DecisionReason, extra: Partial<Decision> = {}): void => {
        const d: Decision = { id, userId: event.userId, eventType: type.name, decision, reason, score: null, variant: null, notificationId: null, decidedAt: t, duplicateOf: null, ...extra };
        decisions.push(d);
        const { text: _text, ...stored } = d;
        const row: DecisionRecord = { ...stored, eventKey: keys[keys.length - 1], params: event.params, occurredAt: t };
        b.writes.decisions.push(row);
      };
      // A key counts for an event decided before it expires (the batch's reads cover its earliest event); for an
      // event stamped a little ahead of this clock, one held now counts too (the store takes over only keys
      // expired by now).
      const seen = keys.filter((k) => (state.keyExpiry.get(k) ?? -Infinity) > Math.min(t, now)).map((k) => state.seenKeys.get(k)).find((v) => v !== undefined);
      if (seen !== undefined) {
        record('skip', 'dedup', { duplicateOf: seen });
        continue;
      }
      // A key is kept for the dedup window after the event's time and after it was seen: a replayed old event
      // sent twice a minute apart is still one event.
      const keyExpiry = Math.max(t, now) + hours(settings.dedupTtlHours);
      for (const key of keys) {
        state.seenKeys.set(key, id);
        state.keyExpiry.set(key, keyExpiry);
        b.writes.keys.push({ key, userId: event.userId, decisionId: id, expiresAt: keyExpiry });
      }
      if (!type.known && settings.strict) {
        record('skip', 'unknown_type');
        continue;
      }
      const expiresAt = t + hours(type.ttlHours);
      if (expiresAt <= now) {
        record('skip', 'expired');
        continue;
      }
      if (optedOut(ctx.prefs, type, null)) {
        record('skip', 'preference');
        continue;
      }
      const pending = event.respondOnly ? undefined : state.pending.get(pair(event.userId, type.name));
      if (pending && !type.critical) {
        // Latest wins: the waiting notification carries the newest facts; it keeps its place in time.
        // A later deliver_at moves it; it then lives the type's TTL past that, as a new scheduled one would.
        // Newest by when the events happened, not by when they came: an older event arriving late changes nothing.
        if (t < pending.occurredAt) {
          record('defer', 'coalesced', { notificationId: pending.id });
          continue;
        }
        const dueAt = event.deliverAt ?? pending.dueAt;
        const updated: NotificationRecord = {
          ...pending, params: event.params, eventKey: keys[keys.length - 1], occurredAt: t,
          expiresAt: Math.max(pending.expiresAt, expiresAt, event.deliverAt ? event.deliverAt + hours(type.ttlHours) : -Infinity), dueAt, updatedAt: now,
        };
        state.pending.set(pair(event.userId, type.name), updated);
        b.writes.notifications.push(updated);
        record('defer', 'coalesced', { notificationId: pending.id });
        continue;
      }
      // Made only for an event that becomes a notification (most are skipped).
      const base = (): NotificationRecord => ({
        id: newId('ntf'), userId: event.userId, eventType: type.name, status: 'pending', reason: null, critical: type.critical, variant: null, text: null,
        params: event.params, eventKey: keys[keys.length - 1], occurredAt: t, dueAt: null, expiresAt, sentAt: null, clickedAt: null,
        destination: null, messageId: null, createdAt: now, updatedAt: now,
      });
      const hold = (reason: DecisionReason, dueAt: number, score: number | null) => {
        const held = { ...base(), reason, dueAt, expiresAt: Math.max(expiresAt, reason === 'scheduled' ? dueAt + hours(type.ttlHours) : expiresAt) };
        state.pending.set(pair(event.userId, type.name), held);
        b.writes.notifications.push(held);
        record('defer', reason, { notificationId: held.id, score });
      };
      // The guardrails (quiet hours, cooldown, cap, fatigue) judge the moment the message would reach the user, now
      // (not occurred_at): a late event (occurred_at in the past) leaves now, not when it happened, and so does one
      // stamped a little ahead of this clock (a producer's clock running fast): its send counts as of now, where the
      // cooldown and cap of the events after it see it. A replay on an injected clock has now = occurred_at, so it is
      // decided exactly as then. Held only for a deliver_at still ahead: a late one whose deliver_at has passed is decided now.
      if (event.deliverAt && event.deliverAt > now && !event.respondOnly) {
        hold('scheduled', event.deliverAt, null);
        continue;
      }
      if (!type.critical && type.digestMinutes > 0 && !event.respondOnly) {
        hold('digest', t + type.digestMinutes * 60_000, null);
        continue;
      }
      let score: number | null = null;
      if (!type.critical) {
        const verdict = b.check(event.userId, ctx, type, now);
        if (verdict.reason === 'quiet_hours') {
          if (event.respondOnly) record('skip', 'quiet_hours', { score: verdict.score });
          else hold('quiet_hours', verdict.until!, verdict.score);
          continue;
        }
        if (verdict.reason !== 'sent') {
          record('skip', verdict.reason, { score: verdict.score });
          continue;
        }
        score = verdict.score;
      }
      const done = b.send(base(), ctx, type, now, event.respondOnly);
      if (typeof done === 'string') {
        record('skip', done, { score });
        continue;
      }
      b.writes.notifications.push(done);
      record('notify', type.critical ? 'critical' : 'sent', { score, variant: done.variant, notificationId: done.id, text: done.text });
    }
    await commit(b, now);
    return decisions;
  }

  async function runDueBatch(limit: number): Promise<DueResult> {
    const now = clock.now();
    const due = await repo.claimDue(now, now + 60_000, limit, deps.workerId);
    const result: DueResult = { sent: [], dropped: [], held: 0 };
    if (!due.length) return result;
    const types = [...new Map(due.map((n) => [n.eventType, typeOf(n.eventType)])).values()];
    const b = await open([...new Set(due.map((n) => n.userId))], [], types, now, now);
    for (const n of due) {
      const type = typeOf(n.eventType);
      const ctx = b.userContext(n.userId);
      const drop = (reason: DecisionReason) => {
        b.writes.notifications.push({ ...n, status: 'dropped', reason, updatedAt: now });
        result.dropped.push({ id: n.id, reason });
      };
      if (n.expiresAt <= now) {
        drop('expired');
        continue;
      }
      if (optedOut(ctx.prefs, type, null)) {
        drop('preference');
        continue;
      }
      if (!type.critical) {
        const verdict = b.check(n.userId, ctx, type, now);
        if (verdict.reason === 'quiet_hours') {
          b.writes.notifications.push({ ...n, reason: 'quiet_hours', dueAt: verdict.until!, updatedAt: now });
          result.held++;
          continue;
        }
        if (verdict.reason === 'cap') {
          // Held, not dropped: the rolling cap frees a slot as the oldest send leaves the window. It waits for the cap now
          // (the stats' outcomes count it as pending, cap), no longer for what held it before.
          const oldest = ctx.sends.filter((s) => !s.critical && s.sentAt > now - DAY)[0];
          b.writes.notifications.push({ ...n, reason: 'cap', dueAt: Math.min(n.expiresAt, (oldest?.sentAt ?? now) + DAY + 1000), updatedAt: now });
          result.held++;
          continue;
        }
        if (verdict.reason !== 'sent') {
          drop(verdict.reason);
          continue;
        }
      }
      const done = b.send(n, ctx, type, now);
      if (typeof done === 'string') drop(done);
      else b.writes.notifications.push(done);
    }
    await commit(b, now);
    result.sent = b.sent;
    return result;
  }

  // Calls that arrive while a batch is being decided are decided together in the next one.
  const decideGrouped = createGroupCommit((events: EventInput[]) => serial(() => decideBatch(events)), { maxGroup: 2000 });

  const engine: NotifyEngineService = {
    // An event without occurred_at happened when it came: stamped now, not when its group is decided. Calls that
    // arrive while a batch is decided share the next one's clock reading, so two sends of the same content a few
    // milliseconds apart would be one time, one content key, and all but the first skipped as dedup.
    decide: (events) => {
      const at = clock.now();
      return decideGrouped(events.map((e) => (e.occurredAt === null || e.occurredAt === undefined ? { ...e, occurredAt: at } : e)));
    },
    runDue: (limit = 500) => serial(() => runDueBatch(limit)),

    async recordClick(notificationId, at) {
      const n = await repo.notification(notificationId);
      return n ? engine.recordClickOf(n, at) : 'not_found';
    },

    async recordClickOf(n, at) {
      if (n.status !== 'sent' || n.sentAt === null) return 'not_found';
      // The store checks again in its transaction: a second click counts once. The weight is on the store's scale then.
      const sentAt = n.sentAt;
      return repo.click(n.id, at ?? clock.now(), (scale) => weightAt(sentAt, scale.halfLifeMs ?? halfLife, scale.shift));
    },

    async recordFeedback(userId, eventType, at) {
      const t = at ?? clock.now();
      const latest = await repo.latestSent(userId, eventType, t - 7 * DAY);
      return latest ? engine.recordClickOf(latest, t) : 'not_found';
    },

    async recordReplies(userIds, at) {
      const t = at ?? clock.now();
      for (const n of (await repo.latestSentOf(userIds, t - DAY)).values()) {
        if (n.clickedAt === null) await engine.recordClickOf(n, t);
      }
    },

    async updateUser(userId, patch) {
      await repo.putUser(userId, { tz: patch.tz, preferences: patch.preferences as Record<string, unknown> | undefined }, clock.now());
    },

    type: typeOf,

    useHalfLife,

    async reloadOverrides() {
      overrides = (await repo.overrides()) as Map<string, Partial<EventTypeSettings>>;
      typeCache.clear();
      window = sendWindow();
    },
  };
  return engine;
}
