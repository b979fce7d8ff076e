// A user's local time of day and quiet hours, from an IANA zone. Zone offsets are looked up once per zone and
// hour (Intl is slow next to a decision) and DST is handled by that lookup.

import { BotgateError } from '../errors.ts';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const formatters = new Map<string, Intl.DateTimeFormat>();
const offsets = new Map<string, number>();

/**
 * The IANA zone's canonical spelling ("europe/berlin" → "Europe/Berlin", "utc" → "UTC"), or null for what is not an
 * IANA name: unknown, or a bare offset such as "+05:00" (it knows no daylight saving time; Etc/GMT-5 says it plainly).
 */
export function canonicalZone(tz: string): string | null {
  if (/^[+-]/.test(tz)) return null;
  // UTC, the default, without Intl: the first DateTimeFormat pages in ICU's zone and locale data (~7 MB resident).
  if (tz === 'UTC') return tz;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

export function isValidZone(tz: string): boolean {
  return canonicalZone(tz) !== null;
}

/** The zone's canonical spelling, or a 400 naming `field`. */
export function zoneOrRefuse(tz: string, field: string): string {
  const zone = canonicalZone(tz);
  if (zone === null) throw new BotgateError('BG_ERR_VALIDATION', `${field}: unknown time zone ${tz} (use an IANA name such as Europe/Berlin)`);
  return zone;
}

/** The zone's offset from UTC in ms at time t (local = utc + offset). */
export function zoneOffset(tz: string, t: number): number {
  const hour = Math.floor(t / HOUR);
  const key = `${tz}\u0000${hour}`;
  const cached = offsets.get(key);
  if (cached !== undefined) return cached;
  let formatter = formatters.get(tz);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' });
    formatters.set(tz, formatter);
  }
  const at = hour * HOUR;
  const parts: Record<string, number> = {};
  for (const p of formatter.formatToParts(at)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const local = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute);
  const offset = local - at;
  if (offsets.size > 100_000) offsets.clear();
  offsets.set(key, offset);
  return offset;
}

/** Minutes since local midnight. */
export function localMinute(tz: string, t: number): number {
  const local = t + zoneOffset(tz, t);
  return Math.floor((((local % 86_400_000) + 86_400_000) % 86_400_000) / MINUTE);
}

export function parseClock(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
}

/** Whether t is inside [start, end) local time; the window may cross midnight (22:00–08:00). */
export function inWindow(tz: string, t: number, start: number, end: number): boolean {
  const m = localMinute(tz, t);
  return start <= end ? m >= start && m < end : m >= start || m < end;
}

/** The first time at or after t when the local clock reads `end` (the window opens again). */
export function nextLocal(tz: string, t: number, end: number): number {
  const m = localMinute(tz, t);
  const wait = ((end - m + 1440) % 1440) * MINUTE;
  const candidate = Math.floor(t / MINUTE) * MINUTE + wait;
  // Across a DST change the local clock jumps: correct by the difference in offsets.
  return candidate + (zoneOffset(tz, t) - zoneOffset(tz, candidate));
}
