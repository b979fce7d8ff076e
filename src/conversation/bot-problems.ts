// The problem list a bot file's validation fills, and the small typed readers it is built from: each reader
// reports a wrong value at its path (`flows.x.next_state`) and returns null, so validation goes on.
import type { BotProblem } from './bot.ts';

export type Mapping = Record<string, unknown>;

/** Names of intents and states: a letter, then letters, digits and `_` (docs/bots.md, "Top level"). */
export const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_]*$/;

export class ProblemList {
  readonly items: BotProblem[] = [];

  add(path: string, message: string): void {
    this.items.push({ path, message });
  }
}

/** `flows` + `x` → `flows.x`; numbers are list indices: `webhooks` + 0 → `webhooks[0]`. */
export function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

export function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function readMapping(problems: ProblemList, path: string, value: unknown): Mapping | null {
  if (isMapping(value)) return value;
  problems.add(path, 'must be a mapping');
  return null;
}

export function readList(problems: ProblemList, path: string, value: unknown): unknown[] | null {
  if (Array.isArray(value)) return value;
  problems.add(path, 'must be a list');
  return null;
}

/** A non-empty string. */
export function readString(problems: ProblemList, path: string, value: unknown): string | null {
  if (typeof value !== 'string') {
    problems.add(path, typeof value === 'number' || typeof value === 'boolean' ? 'must be a string (quote it)' : 'must be a string');
    return null;
  }
  if (value.trim() === '') {
    problems.add(path, 'must not be empty');
    return null;
  }
  return value;
}

/** A non-empty string that must be there. */
export function readRequiredString(problems: ProblemList, path: string, value: unknown): string | null {
  if (value !== undefined) return readString(problems, path, value);
  problems.add(path, 'required');
  return null;
}

/** A list of non-empty strings. */
export function readStrings(problems: ProblemList, path: string, value: unknown): string[] | null {
  const list = readList(problems, path, value);
  if (!list) return null;
  const strings = list.map((item, index) => readString(problems, at(path, index), item));
  return strings.every((item) => item !== null) ? (strings as string[]) : null;
}

/** An intent or state name; `end` is reserved for `next_state: end`. */
export function checkName(problems: ProblemList, path: string, name: string): boolean {
  if (name === 'end') {
    problems.add(path, '"end" is reserved (it is what next_state names to end a flow)');
    return false;
  }
  if (!NAME_PATTERN.test(name)) {
    problems.add(path, 'invalid name: use ASCII letters, digits and _, starting with a letter');
    return false;
  }
  return true;
}

export function checkKeys(problems: ProblemList, path: string, value: Mapping, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) if (!allowed.includes(key)) problems.add(at(path, key), 'unknown key');
}
