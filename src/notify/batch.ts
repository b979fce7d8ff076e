// One batch of decisions: the state the store loaded for it, kept current as decisions are taken (a send counts
// against the cap of the next event of the same user), the policy's tests, sending, and the writes it collects.
import type { Clock, Random } from '../clock.ts';
import { renderText, templateUses } from '../conversation/templates.ts';
import { pair, type NotificationRecord, type NotifyState, type NotifyWrites, type RecentSend, type WeightedCounts } from '../store/notify-records.ts';
import { decayed, pickVariant, posterior, sampleBeta, weightAt } from './engagement.ts';
import { inWindow, nextLocal } from './local-time.ts';
import type { Destination, RouterBatch } from './router.ts';
import { hours, type NotifySettings } from './settings.ts';
import type { DecisionReason, EventTypeSettings, SentNotification, UserPreferences } from './types.ts';

export const DAY = 86_400_000;
const TEMPLATE_ROOTS = ['params', 'user', 'link'];


/** The caller shows the text (legacy /kore-webhook): nothing leaves through the outbox. */
const CALLER: Destination = { id: 'caller', channel: 'caller', build: () => [] };

/**
 * Whether the user opted out of this type on this channel (null: on every channel). An opt-out names the type (a
 * critical one too), or a `prefix*` pattern or `*` (non-critical types only); channels match whatever their case.
 */
export function optedOut(prefs: UserPreferences, type: EventTypeSettings, channel: string | null): boolean {
  for (const o of prefs.opt_outs ?? []) {
    const named = o.event_type;
    const typeMatches = named === type.name || (!type.critical && named.endsWith('*') && type.name.startsWith(named.slice(0, -1)));
    if (typeMatches && (o.channel === '*' || (channel !== null && o.channel.toLowerCase() === channel.toLowerCase()))) return true;
  }
  return !type.critical && prefs.muted === true;
}

/** What one batch knows about one user. */
export interface UserContext {
  tz: string;
  prefs: UserPreferences;
  sends: RecentSend[];
}

export interface BatchDeps {
  settings: NotifySettings;
  clock: Clock;
  random: Random;
  typeOf: (name: string) => EventTypeSettings;
  /** Minutes since midnight at which quiet hours start and end. */
  quiet: { start: number; end: number };
  linkFor?: (notificationId: string) => string;
  log?: { warn(object: Record<string, unknown>, message: string): void };
}

export type Batch = ReturnType<typeof createBatch>;

export function createBatch(state: NotifyState, router: RouterBatch, deps: BatchDeps) {
  const { settings, clock, random, typeOf } = deps;
  // Weights are on the state's scale: those read, those this batch adds, and the writes (the store moves them to its own).
  const { shift, halfLifeMs } = state;
  const halfLife = halfLifeMs ?? settings.halfLifeDays * DAY;
  const writes: NotifyWrites = { newUsers: [], keys: [], decisions: [], notifications: [], engagement: [], typeStats: [], messages: [], shift, halfLifeMs };
  const users = new Map<string, UserContext>();
  const sent: SentNotification[] = [];
  const published = new Set<string>();
  // Per user, the types they have engagement with (an index over the loaded rows, built on first use).
  let typesByUser: Map<string, string[]> | null = null;

  function userContext(userId: string): UserContext {
    let ctx = users.get(userId);
    if (ctx) return ctx;
    const user = state.users.get(userId);
    if (!user) writes.newUsers.push({ id: userId, tz: null });
    ctx = { tz: user?.tz ?? settings.defaultTz, prefs: (user?.preferences ?? {}) as UserPreferences, sends: state.sends.get(userId) ?? [] };
    users.set(userId, ctx);
    return ctx;
  }

  function sendsWithin(ctx: UserContext, t: number, ms: number, pick: (s: RecentSend) => boolean): number {
    let n = 0;
    for (const s of ctx.sends) if (s.sentAt > t - ms && s.sentAt <= t && pick(s)) n++;
    return n;
  }

  const pooled = (type: string, t: number) => decayed(state.typeStats.get(pair(type, '')), t, halfLife, shift);

  /** value × p̂ × fatigue, and whether a send is worth its cost (on a posterior sample when exploring). */
  function worth(userId: string, ctx: UserContext, type: EventTypeSettings, t: number): { score: number; worth: boolean } {
    const p = posterior(decayed(state.engagement.get(pair(userId, type.name)), t, halfLife, shift), pooled(type.name, t), type.priorMean, settings.priorStrength);
    const fatigue = Math.exp(-settings.kappa * sendsWithin(ctx, t, DAY, () => true));
    // A tempered draw: the same mean, the spread narrowed by √concentration. A user is decided for again and again,
    // and each exploratory send of a low-value type costs; the plain posterior explores far more than pays.
    const k = settings.explorationConcentration;
    const sample = settings.exploration === 'thompson' ? sampleBeta(p.alpha * k, p.beta * k, random) : p.mean;
    return { score: type.value * p.mean * fatigue, worth: type.value * sample * fatigue >= type.cost + (settings.fatigueCost ? attentionCost(userId, type, t) : 0) };
  }

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
        indexType(user, name);
      }
    }
    // The decayed counts cover the user's life so far: a window of (H / ln 2)(1 − 2^(−age/H)), at least a day.
    const age = Math.max(0, t - (state.users.get(userId)?.createdAt ?? t));
    const window = Math.max(DAY, (halfLife / Math.LN2) * (1 - 2 ** (-age / halfLife)));
    let expected = 0;
    for (const name of typesByUser.get(userId) ?? []) {
      if (name === type.name) continue;
      const other = typeOf(name);
      const own = decayed(state.engagement.get(pair(userId, name)), t, halfLife, shift);
      expected += ((own.shown * DAY) / window) * other.value * posterior(own, pooled(name, t), other.priorMean, settings.priorStrength).mean;
    }
    return (1 - Math.exp(-settings.kappa)) * expected;
  }

  function indexType(userId: string, type: string): void {
    const list = typesByUser?.get(userId);
    if (list) list.push(type);
    else typesByUser?.set(userId, [type]);
  }

  /** The guardrails and the value test for a non-critical notification at time t (`sent`: send it). */
  function check(userId: string, ctx: UserContext, type: EventTypeSettings, t: number): { reason: DecisionReason; score: number | null; until?: number } {
    if (type.cooldownHours > 0 && sendsWithin(ctx, t, hours(type.cooldownHours), (s) => s.eventType === type.name) > 0) return { reason: 'cooldown', score: null };
    if (sendsWithin(ctx, t, DAY, (s) => !s.critical) >= settings.capPer24h) return { reason: 'cap', score: null };
    const value = worth(userId, ctx, type, t);
    if (!value.worth) return { reason: 'below_value', score: value.score };
    if (inWindow(ctx.tz, t, deps.quiet.start, deps.quiet.end)) return { reason: 'quiet_hours', score: value.score, until: nextLocal(ctx.tz, t, deps.quiet.end) };
    return { reason: 'sent', score: value.score };
  }

  function variantFor(type: EventTypeSettings, t: number): string {
    const ids = type.templates.map((v) => v.id);
    if (type.frozenVariant && ids.includes(type.frozenVariant)) return type.frozenVariant;
    if (ids.length === 1) return ids[0];
    return pickVariant(ids, (v) => decayed(state.typeStats.get(pair(type.name, v)), t, halfLife, shift), random);
  }

  /** A send adds to the user's, the type's and the variant's shown counts (in the loaded state and the writes). */
  function addShown(userId: string, type: string, variant: string, shownW: number): void {
    const add = (map: Map<string, WeightedCounts>, key: string) => {
      const c = map.get(key);
      map.set(key, { shownW: (c?.shownW ?? 0) + shownW, clickedW: c?.clickedW ?? 0 });
    };
    if (!state.engagement.has(pair(userId, type))) indexType(userId, type);
    add(state.engagement, pair(userId, type));
    add(state.typeStats, pair(type, ''));
    add(state.typeStats, pair(type, variant));
    writes.engagement.push({ userId, eventType: type, shownW, clickedW: 0 });
    writes.typeStats.push({ eventType: type, variant: '', shownW, clickedW: 0 }, { eventType: type, variant, shownW, clickedW: 0 });
  }

  /** Sends a notification now: variant, text, destination, message, counts; or why no destination takes it. */
  function send(n: NotificationRecord, ctx: UserContext, type: EventTypeSettings, t: number, respondOnly = false): NotificationRecord | 'no_channel' | 'preference' | 'in_handoff' {
    const candidates = respondOnly ? [CALLER] : router.candidates(n.userId, type);
    // A conversation with a person (waiting for or talking to an agent) takes only a critical notification.
    const destination = candidates.find((d) => (type.critical || !d.inHandoff) && !optedOut(ctx.prefs, type, d.channel));
    if (!destination) {
      if (!candidates.length) return 'no_channel';
      return candidates.some((d) => d.inHandoff && !optedOut(ctx.prefs, type, d.channel)) ? 'in_handoff' : 'preference';
    }
    const variant = variantFor(type, t);
    const template = type.templates.find((v) => v.id === variant)!.text;
    const link = templateUses(template).some((u) => u.path === 'link') ? (deps.linkFor?.(n.id) ?? '') : '';
    const { text, missing } = renderText(template, { params: n.params, user: { id: n.userId, tz: ctx.tz }, link }, TEMPLATE_ROOTS);
    if (missing.length) deps.log?.warn({ notification: n.id, event_type: type.name, variant, missing }, 'notification template values missing: rendered with fallbacks');
    const now = clock.now();
    const done: NotificationRecord = { ...n, status: 'sent', reason: type.critical ? 'critical' : 'sent', variant, text, sentAt: t, destination: destination.id, updatedAt: now };
    const messages = destination.build(done, text, now);
    done.messageId = messages[0]?.id ?? null;
    writes.messages.push(...messages);
    for (const m of messages) for (const e of m.endpointIds ?? []) published.add(e);
    ctx.sends.push({ eventType: type.name, sentAt: t, critical: type.critical });
    addShown(n.userId, type.name, variant, weightAt(t, halfLife, shift));
    sent.push({ id: done.id, userId: done.userId, eventType: done.eventType, variant, text, critical: type.critical, sentAt: t });
    return done;
  }

  return { state, writes, sent, published, userContext, check, send };
}
