// The proactive benchmark's simulated world: users and events drawn from a seed, the rules that turn a send into
// clicks and opt-outs (bench/lib/proactive-simulation.ts applies them), and the interface every policy implements.
import { createSeededRandom, type Random } from '../../src/clock.ts';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export interface TypeSpec {
  name: string;
  critical: boolean;
  perUserDay: number;
  /** The logit-normal centre of the click probability, with the variant multiplier 1.0. */
  meanP: number;
  /** What a click is worth in U. */
  value: number;
  cooldownHours: number;
  /** The legacy BotOptimizer's priority (DESIGN.md). */
  legacyPriority: number;
}

// The fixed scenario.
export const TYPES: readonly TypeSpec[] = [
  { name: 'payment_failed', critical: true, perUserDay: 0.03, meanP: 0.5, value: 1.0, cooldownHours: 0, legacyPriority: 1.0 },
  { name: 'low_balance', critical: false, perUserDay: 0.3, meanP: 0.25, value: 0.6, cooldownHours: 12, legacyPriority: 0.8 },
  { name: 'marketing_offer', critical: false, perUserDay: 2.0, meanP: 0.05, value: 0.2, cooldownHours: 24, legacyPriority: 0.3 },
];

export const SCENARIO = {
  days: 28,
  start: Date.UTC(2026, 1, 2), // a Monday, 00:00 UTC
  utcOffsetsH: [-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3],
  userSd: 0.8,
  userTypeSd: 0.5,
  variantIds: ['a', 'b', 'c'],
  multipliers: [0.7, 1.0, 1.35],
  resendShare: 0.2,
  resendMaxMinutes: 10,
  /** Share of events the producer sends with an idempotency key (a re-send repeats the original exactly). */
  keyedShare: 0.5,
  clickDelayMeanMs: HOUR,
  nightClickFactor: 0.3,
  nightStartH: 22,
  nightEndH: 8,
  fatiguePerSend: 0.25,
  optOut: { base: 0.001, perSendOver: 0.004, freeSends: 2, night: 0.005 },
  sendCost: 0.01,
  optOutCost: 2,
  capPer24h: 3,
  ttlMs: 24 * HOUR,
  dueEveryMs: 5 * MINUTE,
} as const;

/**
 * What a non-critical send costs, as the engine is configured (and the only cost it is told): the send itself plus
 * 2 × the opt-out probability of a daytime send at low volume: 0.01 + 2 × 0.001 = 0.012. The oracle uses the exact
 * per-send cost instead (volume and night terms included).
 */
export const SEND_COST = SCENARIO.sendCost + SCENARIO.optOutCost * SCENARIO.optOut.base;

export interface SimUser {
  id: string;
  offsetMs: number;
  /** IANA name; Etc/GMT signs are inverted (UTC−8 is Etc/GMT+8). */
  tz: string;
  /** Click probability per type (index into TYPES) with the variant multiplier 1.0, before fatigue and night. */
  base: number[];
}

export interface SimEvent {
  index: number;
  user: number;
  type: number;
  occurredAt: number;
  params: Record<string, unknown>;
  idempotencyKey: string | null;
}

/** One arrival of an event at the policy: the original, or the producer's re-send (same event, later). */
export interface Delivery {
  event: SimEvent;
  at: number;
  resend: boolean;
}

export interface Scenario {
  seed: number;
  users: SimUser[];
  events: SimEvent[];
  deliveries: Delivery[];
  /** Per type: variant id → true click multiplier, and the variant with the highest. */
  multiplier: Record<string, number>[];
  best: string[];
  start: number;
  end: number;
}

const logit = (p: number) => Math.log(p / (1 - p));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function gaussian(rng: Random): number {
  const u = 1 - rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

const zoneName = (h: number) => (h === 0 ? 'Etc/GMT' : `Etc/GMT${h < 0 ? '+' : '-'}${Math.abs(h)}`);

/** The fixed scenario from a seed: the same users, events and variant order for every policy. */
export function buildScenario(seed: number, userCount: number): Scenario {
  const rng = createSeededRandom(seed);
  const start = SCENARIO.start;
  const end = start + SCENARIO.days * DAY;
  const multiplier = TYPES.map(() => {
    const order = [...SCENARIO.multipliers];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    return Object.fromEntries(SCENARIO.variantIds.map((id, i) => [id, order[i]]));
  });
  const best = multiplier.map((m) => Object.keys(m).reduce((a, b) => (m[b] > m[a] ? b : a)));
  const users: SimUser[] = [];
  for (let i = 0; i < userCount; i++) {
    const h = SCENARIO.utcOffsetsH[Math.floor(rng() * SCENARIO.utcOffsetsH.length)];
    const userEffect = gaussian(rng) * SCENARIO.userSd;
    const base = TYPES.map((t) => sigmoid(logit(t.meanP) + userEffect + gaussian(rng) * SCENARIO.userTypeSd));
    users.push({ id: `u${i}`, offsetMs: h * HOUR, tz: zoneName(h), base });
  }
  // Poisson arrivals per user and type, at whole minutes (the simulation's tick).
  const raw: { user: number; type: number; at: number; keyed: boolean; resendAfter: number }[] = [];
  for (let u = 0; u < userCount; u++) {
    TYPES.forEach((t, type) => {
      for (let x = 0; ; ) {
        x += (-Math.log(1 - rng()) / t.perUserDay) * DAY;
        if (x >= end - start) break;
        const resend = rng() < SCENARIO.resendShare;
        const resendAfter = resend ? (1 + Math.floor(rng() * SCENARIO.resendMaxMinutes)) * MINUTE : 0;
        raw.push({ user: u, type, at: start + Math.floor(x / MINUTE) * MINUTE, keyed: rng() < SCENARIO.keyedShare, resendAfter });
      }
    });
  }
  raw.sort((a, b) => a.at - b.at || a.user - b.user || a.type - b.type);
  const events: SimEvent[] = [];
  const deliveries: Delivery[] = [];
  raw.forEach((r, index) => {
    const params: Record<string, unknown> = { event_id: `ev${index}` };
    if (TYPES[r.type].name === 'low_balance') params.balance = Math.round(rng() * 2000) / 100;
    if (TYPES[r.type].name === 'payment_failed') params.amount = Math.round(500 + rng() * 9500) / 100;
    const event: SimEvent = { index, user: r.user, type: r.type, occurredAt: r.at, params, idempotencyKey: r.keyed ? `idem-${index}` : null };
    events.push(event);
    deliveries.push({ event, at: r.at, resend: false });
    if (r.resendAfter > 0 && r.at + r.resendAfter < end) deliveries.push({ event, at: r.at + r.resendAfter, resend: true });
  });
  deliveries.sort((a, b) => a.at - b.at || a.event.index - b.event.index);
  return { seed, users, events, deliveries, multiplier, best, start, end };
}

// --- the world's rules -------------------------------------------------------------------------------------

const localHour = (user: SimUser, t: number) => Math.floor((((t + user.offsetMs) % DAY) + DAY) % DAY / HOUR);

/** Inside the user's 22:00–08:00 (the night of the click rule, the opt-out rule and the quiet hours). */
export function isNight(user: SimUser, t: number): boolean {
  const h = localHour(user, t);
  return h >= SCENARIO.nightStartH || h < SCENARIO.nightEndH;
}

/** The first 08:00 local at or after t. */
export function nextMorning(user: SimUser, t: number): number {
  const local = t + user.offsetMs;
  let at = Math.floor(local / DAY) * DAY + SCENARIO.nightEndH * HOUR;
  if (at < local) at += DAY;
  return at - user.offsetMs;
}

/** P(a click delayed by Exp(mean 1 h) from t lands in the user's night). */
function nightLandingChance(user: SimUser, t: number): number {
  const x = t + user.offsetMs;
  const day0 = Math.floor(x / DAY) * DAY;
  const mean = SCENARIO.clickDelayMeanMs;
  let p = 0;
  for (let k = -1; k <= 2; k++) {
    const a = day0 + k * DAY + SCENARIO.nightStartH * HOUR;
    const b = a + (24 - SCENARIO.nightStartH + SCENARIO.nightEndH) * HOUR;
    if (b <= x) continue;
    p += Math.exp(-(Math.max(a, x) - x) / mean) - Math.exp(-(b - x) / mean);
  }
  return p;
}

/** The true click probability before the night factor: min(1, base × multiplier × e^(−0.25 · sends in 24 h)). */
export function dayClickChance(scn: Scenario, user: SimUser, type: number, variant: string, sends24h: number): number {
  const multiplier = scn.multiplier[type][variant] ?? 1; // a variant the world does not know: neutral
  return user.base[type] * multiplier * Math.exp(-SCENARIO.fatiguePerSend * sends24h);
}

/** The expected click probability of a send at t (the oracle's knowledge): the night thinning averaged over the delay. */
export function clickChance(scn: Scenario, user: SimUser, type: number, variant: string, sends24h: number, t: number): number {
  const p = dayClickChance(scn, user, type, variant, sends24h);
  const night = nightLandingChance(user, t);
  return (1 - night) * Math.min(1, p) + night * Math.min(1, p * SCENARIO.nightClickFactor);
}

/** The chance a non-critical send makes the user opt out of all non-critical messages. */
export function optOutChance(sends24h: number, night: boolean): number {
  const o = SCENARIO.optOut;
  return o.base + o.perSendOver * Math.max(0, sends24h - o.freeSends) + (night ? o.night : 0);
}

/** Send times per user, oldest first: how many fall in the last 24 h. */
export function createSendLog(userCount: number) {
  const times: number[][] = Array.from({ length: userCount }, () => []);
  const head = new Int32Array(userCount);
  return {
    add(user: number, t: number): void {
      times[user].push(t);
    },
    /** Sends in (t − 24 h, t]. */
    last24h(user: number, t: number): number {
      const list = times[user];
      while (head[user] < list.length && list[head[user]] <= t - DAY) head[user]++;
      return list.length - head[user];
    },
  };
}

// --- policies ---------------------------------------------------------------------------------------------

/** A notification that left: the events it carries (more than one when the policy coalesced them) and its variant. */
export interface Send {
  notificationId: string;
  events: SimEvent[];
  variant: string;
}

/** What the simulation drives: the engine (through an adapter), the oracle, the legacy BotOptimizer. */
export interface Policy {
  name: string;
  start(): Promise<void>;
  /** Deliveries arriving at `now` (one simulated minute), in order; the sends that leave now. */
  decide(now: number, batch: Delivery[]): Promise<Send[]>;
  /** Every 5 simulated minutes: held notifications that leave now. */
  due(now: number): Promise<Send[]>;
  click(notificationId: string, at: number): Promise<void>;
  /** The user opted out of every non-critical message. */
  optOut(user: number, at: number): Promise<void>;
  close(): Promise<void>;
}
