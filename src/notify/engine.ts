// The notification engine (DESIGN.md "Reach out"): events in, one decision each, notifications out through the
// outbox. The policy runs in this order: dedup → strict types → expiry → preferences → coalescing / schedule →
// critical → digest → cooldown → cap → value → quiet hours → channel. All time comes from the injected clock (or
// the event's occurred_at), all randomness from the injected source: a simulation can drive it deterministically.
import { createHash } from 'node:crypto';
import type { Clock, Random } from '../clock.ts';
import type { IdPrefix } from '../ids.ts';
import type { Store, UserRecord } from '../store/store.ts';
import type { DecisionRecord, NotificationRecord, NotifyState, NotifyWrites, RecentSend } from '../store/notify-records.ts';
import { decayed, pickVariant, posterior, sampleBeta, weightAt } from './engagement.ts';
import { inWindow, nextLocal, parseClock } from './local-time.ts';
import type { NotificationRouter, RouterBatch } from './router.ts';
import { hours, typeSettings, type NotifySettings } from './settings.ts';
import type { ClickResult, Decision, DecisionReason, DueResult, EventInput, EventTypeSettings, NotifyEngine, SentNotification, UserPreferences } from './types.ts';

const DAY = 86_400_000;

export interface NotifyEngineDeps {
  store: Store;
  clock: Clock;
  random: Random;
  newId: (prefix: IdPrefix) => string;
  settings: NotifySettings;
  router: NotificationRouter;
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
};

/** The caller shows the text (legacy /kore-webhook): nothing leaves through the outbox. */
const CALLER = { id: 'caller', channel: 'caller', build: () => [] };

const pairKey = (a: string, b: string) => `${a}\u0000${b}`;
const sha = (text: string) => createHash('sha256').update(text).digest('base64url').slice(0, 32);

/** The content key of an event: same user, type, dedup fields and time → the same event. */
export function eventKey(userId: string, type: EventTypeSettings, params: Record<string, unknown>, occurredAt: number): string {
  const fields = type.dedupFields.length ? type.dedupFields.map((f) => [f, params[f] ?? null]) : Object.entries(params).sort(([a], [b]) => (a < b ? -1 : 1));
  // Led by the time: keys of new events land together at the end of the index instead of all over it.
  return `h:${occurredAt.toString(36).padStart(9, '0')}:${sha(JSON.stringify([userId, type.name, fields, occurredAt]))}`;
}

/** A value read from params or the user for a template: `{{params.amount}}`, `{{user.tz}}`, `{{link}}`. */
function render(template: string, values: Record<string, unknown>, missing: string[]): string {
  return template.replace(/\{\{\s*([\w.]+)\s*(?:\|([^}]*))?\}\}/g, (_m, path: string, fallback: string | undefined) => {
    let value: unknown = values;
    for (const part of path.split('.')) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
    if (value === undefined || value === null || value === '' || typeof value === 'object') {
      missing.push(path);
      return fallback ?? '';
    }
    return String(value);
  });
}

function optedOut(prefs: UserPreferences, type: EventTypeSettings, channel: string | null): boolean {
  for (const o of prefs.opt_outs ?? []) {
    const typeMatches = o.event_type === type.name || (o.event_type === '*' && !type.critical);
    if (typeMatches && (o.channel === '*' || (channel !== null && o.channel === channel))) return true;
  }
  return !type.critical && prefs.muted === true;
}

/** What one batch knows about one user, kept current while the batch's decisions are taken. */
interface UserContext {
  user: UserRecord | null;
  tz: string;
  prefs: UserPreferences;
  sends: RecentSend[];
}

export function createNotifyEngine(deps: NotifyEngineDeps): NotifyEngineService {
  const { store, clock, random, newId, settings } = deps;
  const repo = store.notify;
  const halfLife = settings.halfLifeDays * DAY;
  const quietStart = parseClock(settings.quietHours.start);
  const quietEnd = parseClock(settings.quietHours.end);
  let overrides = new Map<string, Partial<EventTypeSettings>>();
  const typeCache = new Map<string, EventTypeSettings & { known: boolean }>();
  const typeOf = (name: string) => {
    let found = typeCache.get(name);
    if (!found) typeCache.set(name, (found = typeSettings(settings, name, overrides)));
    return found;
  };
  const maxWindow = () => Math.max(DAY, ...Object.values(settings.types).map((t) => hours(t.cooldownHours ?? 0)), ...[...overrides.values()].map((t) => hours(t.cooldownHours ?? 0)));

  // One batch at a time per process: a batch reads state, decides, then writes it; two interleaved would read stale state.
  let queue: Promise<unknown> = Promise.resolve();
  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  }

  /** A batch under construction: the loaded state, the writes, and helpers the policy steps share. */
  function batch(state: NotifyState, router: RouterBatch) {
    const writes: NotifyWrites = { newUsers: [], keys: [], decisions: [], notifications: [], engagement: [], typeStats: [], messages: [] };
    const users = new Map<string, UserContext>();
    const sent: SentNotification[] = [];
    const published = new Set<string>();

    function userContext(userId: string, now: number): UserContext {
      let ctx = users.get(userId);
      if (ctx) return ctx;
      const user = state.users.get(userId) ?? null;
      if (!user) writes.newUsers.push({ id: userId, tz: null });
      ctx = { user, tz: user?.tz ?? settings.defaultTz, prefs: (user?.preferences ?? {}) as UserPreferences, sends: state.sends.get(userId) ?? [] };
      void now;
      users.set(userId, ctx);
      return ctx;
    }

    function sendsWithin(ctx: UserContext, t: number, ms: number, pick: (s: RecentSend) => boolean): number {
      let n = 0;
      for (const s of ctx.sends) if (s.sentAt > t - ms && s.sentAt <= t && pick(s)) n++;
      return n;
    }

    /** value × p̂ × fatigue, and whether a send is worth its cost (on a posterior sample when exploring). */
    function worth(userId: string, ctx: UserContext, type: EventTypeSettings, t: number): { score: number; worth: boolean } {
      const own = decayed(state.engagement.get(pairKey(userId, type.name)), t, halfLife);
      const pooled = decayed(state.typeStats.get(pairKey(type.name, '')), t, halfLife);
      const p = posterior(own, pooled, type.priorMean, settings.priorStrength);
      const fatigue = Math.exp(-settings.kappa * sendsWithin(ctx, t, DAY, () => true));
      const score = type.value * p.mean * fatigue;
      // A tempered draw: the same mean, the spread narrowed by √concentration. A user is decided for again and again,
      // and each exploratory send of a low-value type costs; the plain posterior explores far more than pays.
      const k = settings.explorationConcentration;
      const sample = settings.exploration === 'thompson' ? sampleBeta(p.alpha * k, p.beta * k, random) : p.mean;
      return { score, worth: type.value * sample * fatigue >= type.cost + (settings.fatigueCost ? attentionCost(userId, type, t) : 0) };
    }

    // Per user, the types they have engagement with (an index over the loaded rows, built once per batch).
    let typesByUser: Map<string, string[]> | null = null;
    /**
     * What a send takes from the user's other notifications: each send in the next 24 h will be worth e^(−κ) as much.
     * Expected sends per day of each other type come from its decayed shown count over the window it covers; their
     * value is value × p̂.
     */
    function attentionCost(userId: string, type: EventTypeSettings, t: number): number {
      if (!typesByUser) {
        typesByUser = new Map();
        for (const key of state.engagement.keys()) {
          const [user, name] = key.split('\u0000');
          const list = typesByUser.get(user);
          if (list) list.push(name);
          else typesByUser.set(user, [name]);
        }
      }
      // The decayed counts cover the user's life so far: a window of (H / ln 2)(1 − 2^(−age/H)), at least a day.
      const age = Math.max(0, t - (state.users.get(userId)?.createdAt ?? t));
      const window = Math.max(DAY, (halfLife / Math.LN2) * (1 - 2 ** (-age / halfLife)));
      let expected = 0;
      for (const name of typesByUser.get(userId) ?? []) {
        if (name === type.name) continue;
        const other = typeOf(name);
        const own = decayed(state.engagement.get(pairKey(userId, name)), t, halfLife);
        const perDay = (own.shown * DAY) / window;
        const p = posterior(own, decayed(state.typeStats.get(pairKey(name, '')), t, halfLife), other.priorMean, settings.priorStrength);
        expected += perDay * other.value * p.mean;
      }
      return (1 - Math.exp(-settings.kappa)) * expected;
    }

    /** The guardrails and the value test for a non-critical notification at time t; null: send. */
    function check(userId: string, ctx: UserContext, type: EventTypeSettings, t: number): { reason: DecisionReason; score: number | null; until?: number } | null {
      if (type.cooldownHours > 0 && sendsWithin(ctx, t, hours(type.cooldownHours), (s) => s.eventType === type.name) > 0) return { reason: 'cooldown', score: null };
      if (sendsWithin(ctx, t, DAY, (s) => !s.critical) >= settings.capPer24h) return { reason: 'cap', score: null };
      const value = worth(userId, ctx, type, t);
      if (!value.worth) return { reason: 'below_value', score: value.score };
      if (inWindow(ctx.tz, t, quietStart, quietEnd)) return { reason: 'quiet_hours', score: value.score, until: nextLocal(ctx.tz, t, quietEnd) };
      return { reason: 'sent', score: value.score };
    }

    function variantFor(type: EventTypeSettings, t: number): string {
      const ids = type.templates.map((v) => v.id);
      if (type.frozenVariant && ids.includes(type.frozenVariant)) return type.frozenVariant;
      if (ids.length === 1) return ids[0];
      return pickVariant(ids, (v) => decayed(state.typeStats.get(pairKey(type.name, v)), t, halfLife), random);
    }

    function addCounts(userId: string, type: string, variant: string, shownW: number): void {
      const add = (map: Map<string, { shownW: number; clickedW: number }>, key: string) => {
        const c = map.get(key) ?? { shownW: 0, clickedW: 0 };
        map.set(key, { shownW: c.shownW + shownW, clickedW: c.clickedW });
      };
      if (typesByUser && !state.engagement.has(pairKey(userId, type))) {
        const list = typesByUser.get(userId);
        if (list) list.push(type);
        else typesByUser.set(userId, [type]);
      }
      add(state.engagement, pairKey(userId, type));
      add(state.typeStats, pairKey(type, ''));
      add(state.typeStats, pairKey(type, variant));
      writes.engagement.push({ userId, eventType: type, shownW, clickedW: 0 });
      writes.typeStats.push({ eventType: type, variant: '', shownW, clickedW: 0 }, { eventType: type, variant, shownW, clickedW: 0 });
    }

    /** Sends a notification now: variant, text, destination, message, counts. Returns null when no destination will take it. */
    function send(n: NotificationRecord, ctx: UserContext, type: EventTypeSettings, t: number, respondOnly = false): NotificationRecord | 'no_channel' | 'preference' {
      const candidates = respondOnly ? [CALLER] : router.candidates(n.userId, type);
      const destination = candidates.find((d) => !optedOut(ctx.prefs, type, d.channel));
      if (!destination) return candidates.length ? 'preference' : 'no_channel';
      const variant = variantFor(type, t);
      const template = type.templates.find((v) => v.id === variant)!;
      const missing: string[] = [];
      const text = render(template.text, { params: n.params, user: { id: n.userId, tz: ctx.tz }, link: template.text.includes('{{link') ? (deps.linkFor?.(n.id) ?? '') : '' }, missing);
      if (missing.length) deps.log?.warn({ notification: n.id, event_type: type.name, variant, missing }, 'notification template values missing: rendered with fallbacks');
      const done: NotificationRecord = { ...n, status: 'sent', reason: type.critical ? 'critical' : 'sent', variant, text, sentAt: t, destination: destination.id, updatedAt: clock.now() };
      const messages = destination.build(done, text, clock.now());
      done.messageId = messages[0]?.id ?? null;
      writes.messages.push(...messages);
      for (const m of messages) for (const e of m.endpointIds ?? []) published.add(e);
      ctx.sends.push({ eventType: type.name, sentAt: t, critical: type.critical });
      addCounts(n.userId, type.name, variant, weightAt(t, halfLife));
      sent.push({ id: done.id, userId: done.userId, eventType: done.eventType, variant, text, critical: type.critical, sentAt: t });
      return done;
    }

    return { writes, users, sent, published, userContext, check, send };
  }

  async function commit(b: ReturnType<typeof batch>, now: number): Promise<void> {
    // Counts are sums: one row per key and batch instead of one per send.
    const sum = <T extends { shownW: number; clickedW: number }>(rows: T[], key: (r: T) => string): T[] => {
      const merged = new Map<string, T>();
      for (const r of rows) {
        const k = key(r);
        const m = merged.get(k);
        if (m) merged.set(k, { ...m, shownW: m.shownW + r.shownW, clickedW: m.clickedW + r.clickedW });
        else merged.set(k, r);
      }
      return [...merged.values()];
    };
    b.writes.engagement = sum(b.writes.engagement, (r) => pairKey(r.userId, r.eventType));
    b.writes.typeStats = sum(b.writes.typeStats, (r) => pairKey(r.eventType, r.variant));
    // A notification written twice in one batch (held, then coalesced): the last version only.
    b.writes.notifications = [...new Map(b.writes.notifications.map((n) => [n.id, n])).values()];
    await repo.commit(b.writes, (targets, message) => targets.filter((t) => message.endpointIds?.includes(t.id)).map((t) => t.id), now);
    if (b.published.size) deps.onPublished?.([...b.published]);
  }

  async function load(userIds: string[], keys: string[], types: EventTypeSettings[], from: number, to: number) {
    const [state, router] = await Promise.all([
      repo.loadState({ userIds, keys, types: types.map((t) => t.name), now: from, sendsSince: from - maxWindow() }),
      deps.router.prepare(userIds, types),
    ]);
    void to;
    return { state, router };
  }

  async function decideBatch(events: EventInput[]): Promise<Decision[]> {
    const now = clock.now();
    const prepared = events.map((event) => {
      const type = typeOf(event.eventType);
      const t = event.occurredAt ?? now;
      const keys = [eventKey(event.userId, type, event.params, t)];
      if (event.idempotencyKey) keys.unshift('k:' + sha(event.idempotencyKey));
      return { event, type, t, keys };
    });
    const from = Math.min(now, ...prepared.map((p) => p.t));
    const { state, router } = await load(
      [...new Set(events.map((e) => e.userId))],
      prepared.flatMap((p) => p.keys),
      [...new Map(prepared.map((p) => [p.type.name, p.type])).values()],
      from,
      now,
    );
    const b = batch(state, router);
    const decisions: Decision[] = [];

    for (const { event, type, t, keys } of prepared) {
      const id = newId('dec');
      const ctx = b.userContext(event.userId, t);
      const record = (decision: Decision['decision'], reason: DecisionReason, extra: Partial<Decision> = {}): void => {
        const d: Decision = { id, userId: event.userId, eventType: type.name, decision, reason, score: null, variant: null, notificationId: null, decidedAt: t, duplicateOf: null, ...extra };
        decisions.push(d);
        const { text: _text, ...stored } = d;
        const row: DecisionRecord = { ...stored, eventKey: keys[keys.length - 1], params: event.params, occurredAt: t };
        b.writes.decisions.push(row);
      };
      const seen = keys.map((k) => state.seenKeys.get(k)).find((v) => v !== undefined);
      if (seen !== undefined) {
        record('skip', 'dedup', { duplicateOf: seen });
        continue;
      }
      for (const key of keys) {
        state.seenKeys.set(key, id);
        b.writes.keys.push({ key, userId: event.userId, decisionId: id, expiresAt: t + hours(settings.dedupTtlHours) });
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
      const pending = event.respondOnly ? undefined : state.pending.get(pairKey(event.userId, type.name));
      if (pending && !type.critical) {
        // Latest wins: the waiting notification carries the newest facts; it keeps its place in time.
        const updated: NotificationRecord = {
          ...pending, params: event.params, eventKey: keys[keys.length - 1], occurredAt: t, expiresAt: Math.max(pending.expiresAt, expiresAt),
          dueAt: event.deliverAt ?? pending.dueAt, updatedAt: now,
        };
        state.pending.set(pairKey(event.userId, type.name), updated);
        b.writes.notifications.push(updated);
        record('defer', 'coalesced', { notificationId: pending.id });
        continue;
      }
      const base: NotificationRecord = {
        id: newId('ntf'), userId: event.userId, eventType: type.name, status: 'pending', reason: null, critical: type.critical, variant: null, text: null,
        params: event.params, eventKey: keys[keys.length - 1], occurredAt: t, dueAt: null, expiresAt, sentAt: null, clickedAt: null,
        destination: null, messageId: null, createdAt: now, updatedAt: now,
      };
      const hold = (reason: DecisionReason, dueAt: number, score: number | null) => {
        const held = { ...base, reason, dueAt, expiresAt: Math.max(expiresAt, reason === 'scheduled' ? dueAt + hours(type.ttlHours) : expiresAt) };
        state.pending.set(pairKey(event.userId, type.name), held);
        b.writes.notifications.push(held);
        record('defer', reason, { notificationId: held.id, score });
      };
      if (event.deliverAt && event.deliverAt > t && !event.respondOnly) {
        hold('scheduled', event.deliverAt, null);
        continue;
      }
      if (!type.critical && type.digestMinutes > 0 && !event.respondOnly) {
        hold('digest', t + type.digestMinutes * 60_000, null);
        continue;
      }
      let score: number | null = null;
      if (!type.critical) {
        const verdict = b.check(event.userId, ctx, type, t);
        if (verdict && verdict.reason === 'quiet_hours') {
          if (event.respondOnly) record('skip', 'quiet_hours', { score: verdict.score });
          else hold('quiet_hours', verdict.until!, verdict.score);
          continue;
        }
        if (verdict && verdict.reason !== 'sent') {
          record('skip', verdict.reason, { score: verdict.score });
          continue;
        }
        score = verdict?.score ?? null;
      }
      const done = b.send(base, ctx, type, t, event.respondOnly);
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
    const due = await repo.claimDue(now, now + 60_000, limit);
    const result: DueResult = { sent: [], dropped: [], held: 0 };
    if (!due.length) return result;
    const types = [...new Map(due.map((n) => [n.eventType, typeOf(n.eventType)])).values()];
    const { state, router } = await load([...new Set(due.map((n) => n.userId))], [], types, now, now);
    const b = batch(state, router);
    for (const n of due) {
      const type = typeOf(n.eventType);
      const ctx = b.userContext(n.userId, now);
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
        if (verdict?.reason === 'quiet_hours') {
          b.writes.notifications.push({ ...n, reason: 'quiet_hours', dueAt: verdict.until!, updatedAt: now });
          result.held++;
          continue;
        }
        if (verdict?.reason === 'cap') {
          // Held, not dropped: the rolling cap frees a slot as the oldest send leaves the window.
          const oldest = ctx.sends.filter((s) => !s.critical && s.sentAt > now - DAY)[0];
          b.writes.notifications.push({ ...n, dueAt: Math.min(n.expiresAt, (oldest?.sentAt ?? now) + DAY + 1000), updatedAt: now });
          result.held++;
          continue;
        }
        if (verdict && verdict.reason !== 'sent') {
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

  // Group commit: calls that arrive while a batch is being decided are decided together in the next one (one
  // read of state, one transaction), each caller getting its own decisions back in order.
  const MAX_GROUP = 2000;
  let waiting: { events: EventInput[]; resolve: (d: Decision[]) => void; reject: (e: unknown) => void }[] = [];
  let flushing = false;
  async function flushGroups(): Promise<void> {
    while (waiting.length) {
      const group: typeof waiting = [];
      let size = 0;
      while (waiting.length && (group.length === 0 || size + waiting[0].events.length <= MAX_GROUP)) {
        const next = waiting.shift()!;
        group.push(next);
        size += next.events.length;
      }
      try {
        const all = await serial(() => decideBatch(group.flatMap((g) => g.events)));
        let at = 0;
        for (const g of group) {
          g.resolve(all.slice(at, at + g.events.length));
          at += g.events.length;
        }
      } catch (error) {
        for (const g of group) g.reject(error);
      }
    }
  }

  function startFlush(): void {
    if (flushing) return;
    flushing = true;
    setImmediate(() => void flushGroups().finally(() => {
      flushing = false;
      if (waiting.length) startFlush(); // arrived after the loop's last look
    }));
  }

  const engine: NotifyEngineService = {
    decide(events) {
      if (!events.length) return Promise.resolve([]);
      return new Promise((resolve, reject) => {
        waiting.push({ events, resolve, reject });
        startFlush();
      });
    },
    runDue: (limit = 500) => serial(() => runDueBatch(limit)),

    async recordClick(notificationId, at) {
      const n = await repo.notification(notificationId);
      if (!n || n.status !== 'sent' || n.sentAt === null) return 'not_found';
      void at;
      return repo.click(notificationId, at ?? clock.now(), weightAt(n.sentAt, halfLife));
    },

    async recordFeedback(userId, eventType, at) {
      const t = at ?? clock.now();
      const latest = await repo.latestSent(userId, eventType, t - 7 * DAY);
      return latest ? engine.recordClick(latest.id, t) : 'not_found';
    },

    async recordReply(userId, at): Promise<ClickResult> {
      const t = at ?? clock.now();
      const latest = await repo.latestSent(userId, null, t - DAY);
      return latest ? engine.recordClick(latest.id, t) : 'not_found';
    },

    async recordReplies(userIds, at) {
      const t = at ?? clock.now();
      for (const n of (await repo.latestSentOf(userIds, t - DAY)).values()) {
        if (n.clickedAt === null && n.sentAt !== null) await repo.click(n.id, t, weightAt(n.sentAt, halfLife));
      }
    },

    async updateUser(userId, patch) {
      await repo.putUser(userId, { tz: patch.tz, preferences: patch.preferences as Record<string, unknown> | undefined }, clock.now());
    },

    type: typeOf,

    async reloadOverrides() {
      overrides = (await repo.overrides()) as Map<string, Partial<EventTypeSettings>>;
      typeCache.clear();
    },
  };
  return engine;
}
