// The real notification engine as one of the proactive benchmark's policies: a SQLite store, the manual clock set
// before every call, a seeded random source, and the scenario's types as settings.
import { createManualClock, createSeededRandom } from '../../src/clock.ts';
import { createIdGenerator } from '../../src/ids.ts';
import { createNotifyEngine } from '../../src/notify/engine.ts';
import { recordOnlyRouter } from '../../src/notify/router.ts';
import { notifySettings, type NotifySettings } from '../../src/notify/settings.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { SCENARIO, SEND_COST, TYPES, type Policy, type Scenario, type Send, type SimEvent } from './proactive-world.ts';

/** The engine's settings for the run: the scenario's values, SEND_COST, the cooldowns, 3 variants a type
 * (`change`: experiments, e.g. another exploration mode or prior strength). */
export function engineSettings(change: Partial<NotifySettings> = {}): NotifySettings {
  const text: Record<string, string> = {
    payment_failed: 'Your payment of {{params.amount}} failed. Would you like to retry?',
    low_balance: 'Your balance is {{params.balance}}. Would you like to top up?',
    marketing_offer: 'We have a special offer for you!',
  };
  const types: NotifySettings['types'] = {};
  for (const t of TYPES) {
    types[t.name] = {
      critical: t.critical,
      value: t.value,
      cost: t.critical ? 0 : SEND_COST,
      cooldownHours: t.cooldownHours,
      ttlHours: SCENARIO.ttlMs / 3_600_000,
      dedupFields: ['event_id'],
      templates: SCENARIO.variantIds.map((id, i) => ({ id, text: `${text[t.name]} (${i + 1})` })),
      priorMean: t.meanP,
    };
  }
  return notifySettings({
    defaultTz: 'UTC',
    strict: true,
    capPer24h: SCENARIO.capPer24h,
    quietHours: { start: '22:00', end: '08:00' },
    kappa: SCENARIO.fatiguePerSend,
    dedupTtlHours: 24,
    ...change,
    types: { ...types, ...change.types },
  });
}

export interface EnginePolicy extends Policy {
  /** Decisions and drops by `type decision/reason`, and dedup mistakes seen from the world's side. */
  reasons: Map<string, number>;
  /** Originals skipped as duplicates (false positives), re-sends not skipped as duplicates (misses). */
  dedup: { originalsSkipped: number; resendsMissed: number };
}

const DUE_LIMIT = 1000;

export async function createEnginePolicy(scn: Scenario, options: { file?: string; settings?: NotifySettings } = {}): Promise<EnginePolicy> {
  const clock = createManualClock(scn.start);
  const newId = createIdGenerator(clock);
  const store = createSqliteStore({ file: options.file ?? ':memory:', newId });
  await store.migrate();
  const engine = createNotifyEngine({ store, clock, random: createSeededRandom(scn.seed ^ 0x656e_6769), newId, settings: options.settings ?? engineSettings(), router: recordOnlyRouter, workerId: 'bench' });
  const carried = new Map<string, SimEvent[]>(); // a held notification → the events it carries
  const reasons = new Map<string, number>();
  const dedup = { originalsSkipped: 0, resendsMissed: 0 };
  const count = (key: string) => reasons.set(key, (reasons.get(key) ?? 0) + 1);

  return {
    name: 'engine',
    reasons,
    dedup,
    async start() {
      clock.set(scn.start);
      for (const u of scn.users) await engine.updateUser(u.id, { tz: u.tz });
    },
    async decide(now, batch) {
      clock.set(now);
      const decisions = await engine.decide(batch.map(({ event: e }) => ({
        userId: scn.users[e.user].id, eventType: TYPES[e.type].name, params: e.params, idempotencyKey: e.idempotencyKey, occurredAt: e.occurredAt,
      })));
      const out: Send[] = [];
      decisions.forEach((d, i) => {
        const { event, resend } = batch[i];
        count(`${d.eventType} ${d.decision}/${d.reason}`);
        if (d.reason === 'dedup' && !resend) dedup.originalsSkipped++;
        if (d.reason !== 'dedup' && resend) dedup.resendsMissed++;
        if (d.decision === 'notify' && d.notificationId) out.push({ notificationId: d.notificationId, events: [event], variant: d.variant ?? '' });
        else if (d.decision === 'defer' && d.notificationId) carried.set(d.notificationId, [...(carried.get(d.notificationId) ?? []), event]);
      });
      return out;
    },
    async due(now) {
      clock.set(now);
      const out: Send[] = [];
      // A full page may leave more due: ask again (bounded, in case held ones came back at once).
      for (let page = 0; page < 50; page++) {
        const r = await engine.runDue(DUE_LIMIT);
        for (const s of r.sent) {
          const events = carried.get(s.id);
          if (!events) throw new Error(`runDue sent ${s.id}, which no decision deferred`);
          carried.delete(s.id);
          out.push({ notificationId: s.id, events, variant: s.variant });
        }
        for (const d of r.dropped) {
          const events = carried.get(d.id);
          carried.delete(d.id);
          count(`${events ? TYPES[events[0].type].name : '?'} dropped/${d.reason}`);
        }
        if (r.sent.length + r.dropped.length + r.held < DUE_LIMIT) break;
      }
      return out;
    },
    async click(id, at) {
      clock.set(at);
      const r = await engine.recordClick(id, at);
      if (r !== 'recorded') count(`click/${r}`);
    },
    async optOut(user, at) {
      clock.set(at);
      await engine.updateUser(scn.users[user].id, { preferences: { muted: true } });
    },
    async close() {
      await store.close();
    },
  };
}
