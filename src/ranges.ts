// Numbers, names and ids a service takes, checked where every way in passes (the API's schemas check them too; the CLI and
// config as code come straight to the services).
import { BotgateError } from './errors.ts';

/** Refuses a present value outside [min, max] (or not an integer, when asked) with a 400 naming the field. */
export function checkRange(field: string, value: number | null | undefined, min: number, max: number, integer = false): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
    throw new BotgateError('BG_ERR_VALIDATION', `${field} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
  }
}

/**
 * Refuses a time window [since, until) that holds no instant (until at or before since) with a 400 naming both ends:
 * a list asked for one answered an empty page, as if nothing had happened then. Either end may be absent (open).
 */
export function checkWindow(since: number | undefined, until: number | undefined, names = { since: 'since', until: 'until' }): void {
  if (since !== undefined && until !== undefined && !(since < until)) {
    throw new BotgateError('BG_ERR_VALIDATION', `${names.since} must be before ${names.until}`);
  }
}

/** Only white space and format characters (zero-width space and joiners, word joiner, BOM, soft hyphen, …). */
const BLANK = /^[\p{White_Space}\p{Cf}]*$/u;

/**
 * Whether a text is missing or shows nothing: only white space and Unicode format characters (trim() would keep
 * U+200B, U+200D, U+2060, which a user sees as nothing). A blank user id would start a conversation for no one
 * (every blank id the same user), a blank message a turn of nothing, a blank name tells nothing apart.
 */
export const isBlank = (text: string | undefined): text is undefined | '' => text === undefined || BLANK.test(text);

/** Refuses a name that is empty (or blank: see isBlank) or longer than max characters, as the API's schemas do. */
export function checkName(field: string, value: string, max = 200): void {
  if (typeof value !== 'string' || isBlank(value) || value.length > max) {
    throw new BotgateError('BG_ERR_VALIDATION', `${field} must be 1 to ${max} characters, not only white space or format characters`);
  }
}

/** The fewest characters a secret given to botgate may have: an app's client secret, a signed source's signing secret. */
export const MIN_SECRET_CHARS = 16;

/** Refuses a secret a forger could guess or try through (shorter than MIN_SECRET_CHARS) with a 400 naming the field. */
export function checkSecret(field: string, value: string): void {
  if (value.length < MIN_SECRET_CHARS) throw new BotgateError('BG_ERR_VALIDATION', `${field} must be at least ${MIN_SECRET_CHARS} characters`);
}
