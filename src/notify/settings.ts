// The notification policy's settings: config defaults per event type (the legacy BotOptimizer's priorities and
// templates among them), overridden per type through the admin API. Pure data, no I/O.
import type { EventTypeSettings } from './types.ts';

export interface NotifySettings {
  /** IANA zone of users who have none. */
  defaultTz: string;
  /** Unknown event types: refused (skip unknown_type) instead of decided with the default type's settings. */
  strict: boolean;
  /** Non-critical notifications per user per rolling 24 h. */
  capPer24h: number;
  quietHours: { start: string; end: string };
  halfLifeDays: number;
  /** Weight of the pooled prior, in observations. */
  priorStrength: number;
  /** Fatigue: each send in the user's last 24 h multiplies the expected value by e^(−kappa). */
  kappa: number;
  dedupTtlHours: number;
  /** thompson: decide on a sample of the user's click rate (uncertain estimates keep being tested); mean: on p̂. */
  exploration: 'thompson' | 'mean';
  /** Thompson draws come from Beta(k·α, k·β): the posterior's mean with its spread narrowed by √k (1: plain Thompson). */
  explorationConcentration: number;
  /** A send also costs the attention it takes from the user's other notifications of the next 24 h (fatigue). */
  fatigueCost: boolean;
  /** Event types by name (patterns ending in `*` match prefixes, e.g. `security_*`); `default` is everything else. */
  types: Record<string, Partial<Omit<EventTypeSettings, 'name'>>>;
}

const HOUR = 3_600_000;

const BASE_TYPE: Omit<EventTypeSettings, 'name'> = {
  critical: false,
  value: 0.1,
  cost: 0.012,
  cooldownHours: 0,
  ttlHours: 24,
  dedupFields: [],
  digestMinutes: 0,
  templates: [{ id: 'a', text: 'You have a new notification.' }],
  frozenVariant: null,
  endpointId: null,
  linkUrl: null,
  priorMean: 0.1,
};

// DESIGN.md, "The legacy BotOptimizer API": priorities become values, its templates the first variants.
export const DEFAULT_TYPES: NotifySettings['types'] = {
  default: {},
  payment_failed: { critical: true, value: 1.0, templates: [{ id: 'a', text: 'Your payment failed. Would you like to retry?' }], priorMean: 0.5 },
  'security_*': { critical: true, value: 1.0, templates: [{ id: 'a', text: 'A security event needs your attention.' }] },
  low_balance: { value: 0.8, cooldownHours: 12, templates: [{ id: 'a', text: 'Your account balance is low. Would you like to top up?' }], priorMean: 0.25 },
  trial_expiring: { value: 0.7, cooldownHours: 24, templates: [{ id: 'a', text: 'Your trial is ending soon.' }] },
  cart_abandoned: { value: 0.5, cooldownHours: 24, templates: [{ id: 'a', text: 'You left something in your cart.' }] },
  marketing_offer: { value: 0.3, cooldownHours: 24, templates: [{ id: 'a', text: 'We have a special offer for you!' }], priorMean: 0.05 },
};

export function notifySettings(partial: Partial<NotifySettings> = {}): NotifySettings {
  return {
    defaultTz: 'UTC',
    strict: false,
    capPer24h: 3,
    quietHours: { start: '22:00', end: '08:00' },
    halfLifeDays: 14,
    priorStrength: 20,
    kappa: 0.25,
    dedupTtlHours: 24,
    exploration: 'thompson',
    explorationConcentration: 16,
    fatigueCost: true,
    ...partial,
    // A given type changes the keys it names over the built-in type of that name (payment_failed stays critical
    // when only its text changes).
    types: { ...DEFAULT_TYPES, ...Object.fromEntries(Object.entries(partial.types ?? {}).map(([name, t]) => [name, { ...DEFAULT_TYPES[name], ...t }])) },
  };
}

/** The longest `prefix*` pattern among these names that matches `name` ('' when none). */
function longestPattern(names: Iterable<string>, name: string): string {
  let best = '';
  for (const pattern of names) {
    if (pattern.endsWith('*') && name.startsWith(pattern.slice(0, -1)) && pattern.length > best.length) best = pattern;
  }
  return best;
}

/**
 * The settings of a type, in layers: `default` (with its admin override), the longest matching `prefix*` pattern,
 * the type's own entry (so `security_login` with its own text stays critical through `security_*`); then the admin
 * overrides the same way (those of the longest matching pattern, then the type's own).
 */
export function typeSettings(settings: NotifySettings, name: string, overrides?: ReadonlyMap<string, Partial<EventTypeSettings>>): EventTypeSettings & { known: boolean } {
  const pattern = longestPattern(Object.keys(settings.types), name);
  // Own entries only: 'constructor' or '__proto__' is not a configured type.
  const patternEntry = pattern ? settings.types[pattern] : undefined;
  const entry = Object.hasOwn(settings.types, name) ? settings.types[name] : undefined;
  const patternOverride = overrides ? overrides.get(longestPattern(overrides.keys(), name)) : undefined;
  const own = overrides?.get(name);
  // An override of `default` changes the default layer itself: every type gets it where its own layers are silent.
  // But a variant it freezes is one of the default's templates: it holds only for types sending those (variant ids
  // repeat across types: `a` of default is not `a` of low_balance).
  const { frozenVariant: defaultFrozen, ...defaultOverride } = overrides?.get('default') ?? {};
  const upper = [patternEntry, entry, patternOverride, own];
  const merged = {
    ...BASE_TYPE, ...(Object.hasOwn(settings.types, 'default') ? settings.types.default : {}), ...defaultOverride, ...(patternEntry ?? {}), ...(entry ?? {}),
    ...(patternOverride ?? {}), ...(own ?? {}),
    name, known: entry !== undefined || patternEntry !== undefined || patternOverride !== undefined || own !== undefined,
  };
  if (defaultFrozen !== undefined && upper.every((l) => l?.templates === undefined && l?.frozenVariant === undefined)) merged.frozenVariant = defaultFrozen;
  // A variant frozen by a pattern that is not among this type's own templates freezes nothing here.
  if (merged.frozenVariant !== null && !merged.templates.some((t) => t.id === merged.frozenVariant)) merged.frozenVariant = null;
  return merged;
}

export const hours = (h: number): number => h * HOUR;
