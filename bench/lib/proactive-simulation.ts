// The proactive benchmark's simulation loop: drives one policy through the scenario's 28 days, draws each send's
// click and opt-out by the world's rules, and measures U and the guardrail violations.
import { clickChance, createSendLog, dayClickChance, DAY, isNight, MINUTE, optOutChance, SCENARIO, TYPES, type Policy, type Scenario, type Send } from './proactive-world.ts';

export interface TypeMetrics {
  sends: number;
  /** Events clicked (an event's value counts once, however often it was sent). */
  clicks: number;
  value: number;
  sendsByWeek: number[];
  bestByWeek: number[];
  /** Diagnostics in expectation: Σ value × E[p] − cost of the send (the send's own contribution to U). */
  expectedNet: number;
  /** Non-critical sends the oracle's rule would not make (value × p(best variant) < this send's cost), and their expected net. */
  wasted: number;
  wastedNet: number;
  /** Σ value × (E[p] with the best variant − E[p] with the one used). */
  variantLoss: number;
}

export interface Metrics {
  policy: string;
  users: number;
  days: number;
  /** U = Σ value × clicks − 0.01 × non-critical sends − 2 × opt-outs; by the week of the send. */
  utility: number;
  utilityByWeek: number[];
  clicks: number;
  /** Every click, a second one on a duplicate of a clicked event included. */
  rawClicks: number;
  nonCriticalSends: number;
  duplicates: number;
  quietHourSends: number;
  criticalSuppressed: number;
  optOuts: number;
  /** Non-critical sends to users who had opted out before that minute (no click, no cost beyond the send): a violation. */
  sendsToOptedOut: number;
  /** Share of the last week's sends that used the type's best variant. */
  bestVariantShare: number;
  types: TypeMetrics[];
  wallMs: number;
}

/** A uniform draw keyed by (seed, event, the how-many-th send of it, purpose): the same send draws the same numbers
 * under every policy (common random numbers), so the policies differ by their decisions, not by their luck. */
function draw(seed: number, event: number, attempt: number, purpose: number): number {
  let h = mix(seed ^ 0x9e3779b9);
  h = mix(h ^ event);
  h = mix(h ^ Math.imul(attempt + 1, 0x85ebca6b));
  h = mix(h ^ Math.imul(purpose + 1, 0x27d4eb2f));
  return h / 4294967296;
}

function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Pending clicks by arrival time (a binary heap). */
function createClickQueue() {
  const at: number[] = [];
  const id: string[] = [];
  const swap = (i: number, j: number) => {
    [at[i], at[j]] = [at[j], at[i]];
    [id[i], id[j]] = [id[j], id[i]];
  };
  return {
    get size() {
      return at.length;
    },
    peek: () => at[0],
    push(t: number, notificationId: string): void {
      at.push(t);
      id.push(notificationId);
      for (let i = at.length - 1; i > 0; ) {
        const p = (i - 1) >> 1;
        if (at[p] <= at[i]) break;
        swap(i, p);
        i = p;
      }
    },
    pop(): { at: number; id: string } {
      const top = { at: at[0], id: id[0] };
      swap(0, at.length - 1);
      at.pop();
      id.pop();
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < at.length && at[l] < at[m]) m = l;
        if (r < at.length && at[r] < at[m]) m = r;
        if (m === i) break;
        swap(i, m);
        i = m;
      }
      return top;
    },
  };
}

const WEEK = 7 * DAY;

/**
 * Drives one policy through the scenario minute by minute: clicks that arrived are fed back first, then (every 5
 * minutes) held notifications that are due, then the minute's deliveries in one batch. Each send draws its click:
 * the delay first (Exp, mean 1 h), then the click with p = min(1, base × multiplier × e^(−0.25 · sends in the
 * last 24 h) × 0.3 if the click would land in the user's 22:00–08:00); a non-critical send may make the user opt out.
 */
export async function simulate(scn: Scenario, policy: Policy, progress: (line: string) => void): Promise<Metrics> {
  const began = performance.now();
  const weeks = Math.ceil((scn.end - scn.start) / WEEK);
  const types: TypeMetrics[] = TYPES.map(() => ({
    sends: 0, clicks: 0, value: 0, sendsByWeek: Array<number>(weeks).fill(0), bestByWeek: Array<number>(weeks).fill(0),
    expectedNet: 0, wasted: 0, wastedNet: 0, variantLoss: 0,
  }));
  const m: Metrics = {
    policy: policy.name, users: scn.users.length, days: (scn.end - scn.start) / DAY, utility: 0, utilityByWeek: Array<number>(weeks).fill(0),
    clicks: 0, rawClicks: 0, nonCriticalSends: 0, duplicates: 0, quietHourSends: 0, criticalSuppressed: 0, optOuts: 0, sendsToOptedOut: 0,
    bestVariantShare: NaN, types, wallMs: 0,
  };
  const sendCount = new Uint16Array(scn.events.length);
  const clickedEvent = new Uint8Array(scn.events.length);
  const optedOut = new Uint8Array(scn.users.length);
  const optedOutAt = new Float64Array(scn.users.length);
  const log = createSendLog(scn.users.length);
  const clicks = createClickQueue();

  const apply = async (s: Send, t: number): Promise<void> => {
    const ev = s.events[0];
    const user = scn.users[ev.user];
    const spec = TYPES[ev.type];
    const tm = types[ev.type];
    const week = Math.min(weeks - 1, Math.floor((t - scn.start) / WEEK));
    const attempt = sendCount[ev.index];
    if (s.events.some((e) => sendCount[e.index] > 0)) m.duplicates++;
    for (const e of s.events) sendCount[e.index]++;
    const sends = log.last24h(ev.user, t);
    log.add(ev.user, t);
    tm.sends++;
    tm.sendsByWeek[week]++;
    if (s.variant === scn.best[ev.type]) tm.bestByWeek[week]++;
    const night = isNight(user, t);
    let optOutP = 0;
    if (!spec.critical) {
      m.nonCriticalSends++;
      m.utilityByWeek[week] -= SCENARIO.sendCost;
      if (night) m.quietHourSends++;
      if (optedOut[ev.user]) {
        // Opted out by an earlier send of the same minute's batch: already decided, not a violation.
        if (optedOutAt[ev.user] < t) m.sendsToOptedOut++;
        return;
      }
      optOutP = optOutChance(sends, night);
    }
    const cost = spec.critical ? 0 : SCENARIO.sendCost + SCENARIO.optOutCost * optOutP;
    const expected = clickChance(scn, user, ev.type, s.variant, sends, t);
    const ideal = clickChance(scn, user, ev.type, scn.best[ev.type], sends, t);
    tm.expectedNet += spec.value * expected - cost;
    tm.variantLoss += spec.value * (ideal - expected);
    if (!spec.critical && spec.value * ideal < cost) {
      tm.wasted++;
      tm.wastedNet += spec.value * expected - cost;
    }
    const at = Math.round(t - Math.log(1 - draw(scn.seed, ev.index, attempt, 0)) * SCENARIO.clickDelayMeanMs); // whole ms, like any clock
    const p = dayClickChance(scn, user, ev.type, s.variant, sends) * (isNight(user, at) ? SCENARIO.nightClickFactor : 1);
    if (draw(scn.seed, ev.index, attempt, 1) < Math.min(1, p)) {
      m.rawClicks++;
      clicks.push(at, s.notificationId);
      if (!clickedEvent[ev.index]) {
        clickedEvent[ev.index] = 1;
        tm.clicks++;
        tm.value += spec.value;
        m.utilityByWeek[week] += spec.value;
      }
    }
    if (optOutP > 0 && draw(scn.seed, ev.index, attempt, 2) < optOutP) {
      optedOut[ev.user] = 1;
      optedOutAt[ev.user] = t;
      m.optOuts++;
      m.utilityByWeek[week] -= SCENARIO.optOutCost;
      await policy.optOut(ev.user, t);
    }
  };

  await policy.start();
  const D = scn.deliveries;
  let next = 0;
  let reportAt = scn.start + WEEK;
  for (let t = scn.start; t < scn.end; t += MINUTE) {
    while (clicks.size > 0 && clicks.peek() <= t) {
      const c = clicks.pop();
      await policy.click(c.id, c.at);
    }
    if ((t - scn.start) % SCENARIO.dueEveryMs === 0) for (const s of await policy.due(t)) await apply(s, t);
    if (next < D.length && D[next].at === t) {
      const from = next;
      while (next < D.length && D[next].at === t) next++;
      for (const s of await policy.decide(t, D.slice(from, next))) await apply(s, t);
    }
    if (t + MINUTE >= reportAt) {
      const u = m.utilityByWeek.reduce((a, b) => a + b, 0);
      progress(`${policy.name}: day ${Math.round((reportAt - scn.start) / DAY)}, U so far ${u.toFixed(1)}, ${((performance.now() - began) / 1000).toFixed(1)} s`);
      reportAt += WEEK;
    }
  }
  await policy.close();

  for (const ev of scn.events) if (TYPES[ev.type].critical && sendCount[ev.index] === 0) m.criticalSuppressed++;
  m.utility = m.utilityByWeek.reduce((a, b) => a + b, 0);
  m.clicks = types.reduce((a, tm) => a + tm.clicks, 0);
  const lastSends = types.reduce((a, tm) => a + tm.sendsByWeek[weeks - 1], 0);
  m.bestVariantShare = lastSends === 0 ? NaN : types.reduce((a, tm) => a + tm.bestByWeek[weeks - 1], 0) / lastSends;
  m.wallMs = performance.now() - began;
  return m;
}
