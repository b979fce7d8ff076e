// The notification engine's vocabulary (DESIGN.md glossary): an *event* is a business fact about a user, a
// *decision* says whether it becomes a *notification*, and *engagement* (shown, clicked) is what the engine
// learns from. Times are milliseconds since the Unix epoch and always come from an injected clock.
import { templateUses } from '../conversation/templates.ts';
import type { NotificationRecord } from '../store/notify-records.ts';

export type DecisionKind = 'notify' | 'skip' | 'defer';

/** Why a decision came out as it did: the analytics source (docs/notifications.md lists them). */
export type DecisionReason =
  | 'sent' // notified: worth it (value × p̂ × fatigue ≥ cost)
  | 'critical' // notified: a critical type, past dedup and explicit opt-outs only
  | 'dedup' // skipped: the key was seen in the last 24 h
  | 'preference' // skipped: the user opted out of the type (or the channel), or muted everything non-critical
  | 'cooldown' // skipped: the type was sent to this user within its cooldown
  | 'cap' // skipped: the rolling 24 h cap of non-critical notifications is reached
  | 'below_value' // skipped: not worth the cost for this user now
  | 'expired' // skipped: the event is older than its type's TTL (or a deferred one outlived it)
  | 'no_channel' // skipped: worth sending but the user has no channel that can take it, and the type has no endpoint
  | 'in_handoff' // skipped: worth sending, but the user's only conversations that could take it are with a human agent (non-critical types)
  | 'quiet_hours' // deferred: inside the user's quiet hours; re-checked when the window opens
  | 'scheduled' // deferred: deliver_at is in the future; checked then
  | 'digest' // deferred: a batchable type waits in its digest window
  | 'coalesced' // the pending notification of this (user, type) was updated instead (decision: defer)
  | 'unknown_type'; // skipped: strict mode refuses types the config does not name

export interface EventInput {
  userId: string;
  eventType: string;
  params: Record<string, unknown>;
  idempotencyKey?: string | null;
  /** When the fact happened; the decision is taken at this time (replays). Default: the clock. */
  occurredAt?: number | null;
  /** Hold until then (a scheduled event). */
  deliverAt?: number | null;
  /** The caller shows the text itself (the legacy /kore-webhook): nothing is sent and nothing is held for later. */
  respondOnly?: boolean;
}

export interface Decision {
  id: string;
  userId: string;
  eventType: string;
  decision: DecisionKind;
  reason: DecisionReason;
  /** value × p̂ × fatigue, or null where scoring did not run (dedup, critical, …). */
  score: number | null;
  variant: string | null;
  notificationId: string | null;
  /** The time the decision was taken at. */
  decidedAt: number;
  /** For a duplicate: the decision first given for that key. */
  duplicateOf: string | null;
  /** The rendered text of a notification sent now. */
  text?: string | null;
}

/** A notification that left (decision notify, or a deferred one sent later): what a simulation needs to act on. */
export interface SentNotification {
  id: string;
  userId: string;
  eventType: string;
  variant: string;
  text: string;
  critical: boolean;
  sentAt: number;
}

export interface DueResult {
  sent: SentNotification[];
  /** Deferred notifications dropped: outlived their TTL, or a re-check said skip. */
  dropped: { id: string; reason: DecisionReason }[];
  /** Still held (quiet hours again, cap reached for now). */
  held: number;
}

export type ClickResult = 'recorded' | 'duplicate' | 'not_found';

/**
 * What is wrong with a type's link_url, or null: it must be an absolute http(s) URL once its {{params.x}} are filled
 * in (percent-encoded, so a placeholder can fill a query value or a path segment, not the whole URL: params.url
 * is the link of a type without link_url).
 */
export function linkUrlProblem(linkUrl: string): string | null {
  let url: URL;
  try {
    url = new URL(fillLinkUrl(linkUrl, () => 'x'));
  } catch {
    return 'must be an absolute http(s) URL ({{params.x}} fills in a part of it; a whole URL in the event goes in params.url, the link of a type without link_url)';
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? null : `must be an http(s) URL, not ${url.protocol}`;
}

/**
 * What is wrong with a variant's text, or null: each {{…}} must read what a notification has — `params.x` (the
 * event's), `user.id`, `user.tz` or `link` — else it would always be empty (a typo such as {{parms.name}}).
 */
export function templateTextProblem(text: string): string | null {
  const unknown = templateUses(text).find((u) => !(u.path === 'link' || u.path === 'user.id' || u.path === 'user.tz' || /^params\.[^.]/.test(u.path)));
  return unknown ? `{{${unknown.path}}} is nothing a notification has (params.x, user.id, user.tz or link)` : null;
}

/** A link_url with each {{params.x}} replaced by value(x), percent-encoded. */
export function fillLinkUrl(linkUrl: string, value: (param: string) => string): string {
  return linkUrl.replace(/\{\{\s*params\.([\w]+)\s*\}\}/g, (_m, k: string) => encodeURIComponent(value(k)));
}

/** The longest cooldown, TTL or dedup window a type may have (a year: times past it would not be dates). */
export const MAX_HOURS = 24 * 365;
/** The longest digest window (a week). */
export const MAX_DIGEST_MINUTES = 7 * 24 * 60;

/** What an event type does; config defaults, overridden per type through the admin API. */
export interface EventTypeSettings {
  name: string;
  critical: boolean;
  /** What a click is worth. The legacy `priority` maps here. */
  value: number;
  /** What a send costs (attention, opt-out risk), on the scale of a click worth 1. It takes the place of the legacy `threshold` (docs/notifications.md, "Legacy BotOptimizer mapping"). */
  cost: number;
  cooldownHours: number;
  ttlHours: number;
  /** params fields that make two events the same (with user, type and occurred_at) when no key is given. */
  dedupFields: string[];
  /** > 0: notifications of this type wait this long in a digest window, later events updating them. */
  digestMinutes: number;
  /** Message variants; `{{params.x}}`, `{{user.x}}` and `{{link}}` are filled in. */
  templates: { id: string; text: string }[];
  /** A frozen winner: always this variant, no more exploring. */
  frozenVariant: string | null;
  /** Send this type to an endpoint (e.g. Kore.ai's notify API) instead of the user's channel. */
  endpointId: string | null;
  /** Where a tracked link redirects; `{{params.x}}` allowed. Default: params.url. */
  linkUrl: string | null;
  /** The type's click-through rate before any data (the pooled prior's own prior). */
  priorMean: number;
}

export interface UserPreferences {
  /** Every non-critical type muted. */
  muted?: boolean;
  /** Opt-outs: a type ('*' all non-critical) on a channel ('*' every channel). */
  opt_outs?: { event_type: string; channel: string }[];
}

/** The engine's API, used by the HTTP routes, the scheduler and the simulation benchmark alike. */
export interface NotifyEngine {
  /** One decision per event, in order; everything is stored before this resolves. */
  decide(events: EventInput[]): Promise<Decision[]>;
  /** Deferred notifications that are due at the clock's time: re-checked, then sent or dropped. */
  runDue(limit?: number): Promise<DueResult>;
  /** A click on a notification (tracked link or feedback); a second click counts once. */
  recordClick(notificationId: string, at?: number): Promise<ClickResult>;
  /** recordClick for a notification the caller has already read. */
  recordClickOf(notification: NotificationRecord, at?: number): Promise<ClickResult>;
  /** Legacy feedback: a click on the user's latest notification of that type. */
  recordFeedback(userId: string, eventType: string, at?: number): Promise<ClickResult>;
  /** Users' messages in a conversation: engagement with each one's latest notification of the last 24 h, if any. */
  recordReplies(userIds: string[], at?: number): Promise<void>;
  /** Creates the user when unknown; sets the time zone (IANA name) and/or preferences. */
  updateUser(userId: string, patch: { tz?: string | null; preferences?: UserPreferences }): Promise<void>;
}
