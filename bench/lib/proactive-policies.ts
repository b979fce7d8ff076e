// The proactive benchmark's reference policies: an oracle that knows the true probabilities, and the legacy
// BotOptimizer's rule as it ran before botgate (the naive baseline).
import { createSeededRandom } from '../../src/clock.ts';
import { clickChance, createSendLog, HOUR, isNight, nextMorning, optOutChance, SCENARIO, TYPES, type Policy, type Scenario, type Send, type SimEvent } from './proactive-world.ts';

/**
 * The oracle: knows every true probability and the best variant, under the engine's guardrails (dedup, the cap
 * of 3 non-critical per rolling 24 h, cooldowns, quiet hours held until 08:00 local and decided again then, TTL).
 * It sends a non-critical event when value × p(best variant, fatigue now) ≥ 0.01 + 2 × P(opt-out of this send),
 * judging each send alone (it does not save a cap slot for a better event later).
 */
export function createOracle(scn: Scenario): Policy {
  const n = scn.users.length;
  const seen = new Uint8Array(scn.events.length);
  const lastSent = new Float64Array(n * TYPES.length).fill(-Infinity);
  const all = createSendLog(n);
  const nonCritical = createSendLog(n);
  const optedOut = new Uint8Array(n);
  const held = new Map<number, SimEvent[]>(); // release time → events, in arrival order
  let nextId = 0;

  const consider = (ev: SimEvent, now: number, out: Send[]): void => {
    const spec = TYPES[ev.type];
    const user = scn.users[ev.user];
    const variant = scn.best[ev.type];
    if (!spec.critical) {
      if (optedOut[ev.user] || now - ev.occurredAt > SCENARIO.ttlMs) return;
      if (isNight(user, now)) {
        const at = nextMorning(user, now);
        held.set(at, [...(held.get(at) ?? []), ev]);
        return;
      }
      if (now - lastSent[ev.user * TYPES.length + ev.type] < spec.cooldownHours * HOUR) return;
      if (nonCritical.last24h(ev.user, now) >= SCENARIO.capPer24h) return;
      const sends = all.last24h(ev.user, now);
      const worth = spec.value * clickChance(scn, user, ev.type, variant, sends, now);
      if (worth < SCENARIO.sendCost + SCENARIO.optOutCost * optOutChance(sends, false)) return;
      nonCritical.add(ev.user, now);
      lastSent[ev.user * TYPES.length + ev.type] = now;
    }
    all.add(ev.user, now);
    out.push({ notificationId: `oracle-${nextId++}`, events: [ev], variant });
  };

  return {
    name: 'oracle',
    async start() {},
    async decide(now, batch) {
      const out: Send[] = [];
      for (const d of batch) {
        if (seen[d.event.index]) continue; // dedup
        seen[d.event.index] = 1;
        consider(d.event, now, out);
      }
      return out;
    },
    async due(now) {
      const out: Send[] = [];
      for (const at of [...held.keys()].filter((k) => k <= now).sort((a, b) => a - b)) {
        const events = held.get(at)!;
        held.delete(at);
        for (const ev of events) consider(ev, now, out);
      }
      return out;
    },
    async click() {},
    async optOut(user) {
      optedOut[user] = 1;
    },
    async close() {},
  };
}

/**
 * The legacy BotOptimizer (DESIGN.md): score = priority[type] × clicks/shown per user and type (1 before anything was
 * shown: the legacy code starts optimistic), notify when score ≥ 0.5; no dedup, caps, cooldowns or quiet hours; the
 * variant drawn uniformly. An opted-out user's unsubscribe is enforced by the channel, so it is not sent to either.
 */
export function createNaive(scn: Scenario): Policy {
  const n = scn.users.length;
  const shown = new Float64Array(n * TYPES.length);
  const clicked = new Float64Array(n * TYPES.length);
  const slotOf = new Map<string, number>();
  const optedOut = new Uint8Array(n);
  const rng = createSeededRandom(scn.seed ^ 0x6e61_6976);
  let nextId = 0;
  return {
    name: 'naive BotOptimizer',
    async start() {},
    async decide(_now, batch) {
      const out: Send[] = [];
      for (const { event: ev } of batch) {
        const spec = TYPES[ev.type];
        if (!spec.critical && optedOut[ev.user]) continue;
        const slot = ev.user * TYPES.length + ev.type;
        const ratio = shown[slot] === 0 ? 1 : clicked[slot] / shown[slot];
        if (spec.legacyPriority * ratio < 0.5) continue;
        shown[slot]++;
        const id = `naive-${nextId++}`;
        slotOf.set(id, slot);
        out.push({ notificationId: id, events: [ev], variant: SCENARIO.variantIds[Math.floor(rng() * SCENARIO.variantIds.length)] });
      }
      return out;
    },
    async due() {
      return [];
    },
    async click(id) {
      const slot = slotOf.get(id);
      if (slot !== undefined) clicked[slot]++;
    },
    async optOut(user) {
      optedOut[user] = 1;
    },
    async close() {},
  };
}
