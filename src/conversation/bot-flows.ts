// Reads a bot file's `flows`: plain and choice states, the states they lead to, and which states no intent
// can ever reach (docs/bots.md, "States and how a turn runs").
import type { ChoiceState, FlowState, PlainState } from './bot.ts';
import { at, checkName, isMapping, readMapping, readString, type Mapping, type ProblemList } from './bot-problems.ts';
import { readMessages } from './bot-messages.ts';
import { optionKey } from './choice-options.ts';

const PLAIN_KEYS = ['message', 'next_state', 'end_reason', 'handoff'];
/** Keys a choice state cannot use as options: they mean something else in a plain state. */
const NOT_OPTIONS = ['next_state', 'end_reason', 'handoff'];
export const DEFAULT_END_REASON = 'Fulfilled';

/**
 * Reads every state. `entries` are the states intents start at (null when the intents could not be read:
 * reachability is then not checked, to avoid a flood of follow-on problems).
 */
export function readFlows(problems: ProblemList, value: unknown, entries: string[] | null): Record<string, FlowState> {
  const flows: Record<string, FlowState> = {};
  const raw = readMapping(problems, 'flows', value);
  if (!raw) return flows;
  const names = new Set(Object.keys(raw));
  for (const [name, body] of Object.entries(raw)) {
    const path = at('flows', name);
    if (!checkName(problems, path, name)) continue;
    if (!isMapping(body)) {
      problems.add(path, 'a state is a mapping (message, next_state, … or a choice\'s options)');
      continue;
    }
    flows[name] = name.startsWith('choice_') ? readChoice(problems, path, name, body, names) : readPlain(problems, path, name, body, names);
  }
  if (entries) {
    checkReachable(problems, flows, entries);
    checkChoicesAsked(problems, flows, entries);
  }
  return flows;
}

function readPlain(problems: ProblemList, path: string, name: string, raw: Mapping, names: Set<string>): PlainState {
  for (const key of Object.keys(raw)) {
    if (PLAIN_KEYS.includes(key)) continue;
    problems.add(at(path, key), key === 'fallback_message' ? 'unknown key (only choice_ states have a fallback_message)' : 'unknown key');
  }
  let message: PlainState['message'] = [];
  if (raw.message === undefined) problems.add(path, 'a state needs a message (what it says when entered)');
  else message = readMessages(problems, at(path, 'message'), raw.message, names);
  let nextState = 'end';
  if (raw.next_state === undefined) problems.add(path, 'a plain state needs a next_state (a state, or end)');
  else {
    const target = readString(problems, at(path, 'next_state'), raw.next_state);
    if (target !== null && target !== 'end' && !names.has(target)) problems.add(at(path, 'next_state'), `unknown state "${target}"`);
    nextState = target ?? 'end';
  }
  let endReason = DEFAULT_END_REASON;
  if (raw.end_reason !== undefined) {
    endReason = readString(problems, at(path, 'end_reason'), raw.end_reason) ?? endReason;
    if (raw.next_state !== undefined && nextState !== 'end') problems.add(at(path, 'end_reason'), 'only applies when next_state is end');
  }
  let handoff = false;
  if (raw.handoff !== undefined) {
    if (typeof raw.handoff === 'boolean') handoff = raw.handoff;
    else problems.add(at(path, 'handoff'), 'must be true or false');
  }
  return { kind: 'plain', name, message, nextState, endReason, handoff };
}

function readChoice(problems: ProblemList, path: string, name: string, raw: Mapping, names: Set<string>): ChoiceState {
  const options: [string, string][] = []; // made an object at the end: fromEntries keeps "__proto__" a plain key
  const seen = new Map<string, string>(); // comparable form → key as written
  for (const [key, target] of Object.entries(raw)) {
    if (key === 'message' || key === 'fallback_message') continue;
    const keyPath = at(path, key);
    if (NOT_OPTIONS.includes(key)) {
      problems.add(keyPath, `a choice state has no ${key} (its options say where each answer leads)`);
      continue;
    }
    const comparable = optionKey(key);
    if (comparable === '') problems.add(keyPath, 'an option must contain more than spaces and punctuation');
    else if (seen.has(comparable)) problems.add(keyPath, `same option as "${seen.get(comparable)}" (answers ignore case and trailing punctuation)`);
    else seen.set(comparable, key);
    const state = readString(problems, keyPath, target);
    if (state === 'end') problems.add(keyPath, 'an option leads to a state, not to end (add a state with next_state: end)');
    else if (state !== null && !names.has(state)) problems.add(keyPath, `unknown state "${state}"`);
    if (state !== null) options.push([key, state]);
  }
  if (Object.keys(raw).every((key) => key === 'message' || key === 'fallback_message' || NOT_OPTIONS.includes(key))) {
    problems.add(path, 'a choice state needs at least one option');
  }
  let fallbackMessage: ChoiceState['fallbackMessage'] = [];
  if (raw.fallback_message === undefined) problems.add(path, 'a choice state needs a fallback_message');
  else fallbackMessage = readMessages(problems, at(path, 'fallback_message'), raw.fallback_message, names);
  const message = raw.message === undefined ? [] : readMessages(problems, at(path, 'message'), raw.message, names);
  return { kind: 'choice', name, options: Object.fromEntries(options), fallbackMessage, message };
}

function leadsTo(state: FlowState): string[] {
  return state.kind === 'plain' ? [state.nextState] : Object.values(state.options);
}

/**
 * Every state must be reachable from an intent's entry state through next_state and choice options. Only the
 * first state of each unreachable chain is reported: what it leads to is reached once it is.
 */
function checkReachable(problems: ProblemList, flows: Record<string, FlowState>, entries: string[]): void {
  const reached = reachableFrom(flows, entries);
  const lost = Object.keys(flows).filter((name) => !reached.has(name));
  const ledToByLost = reachableFrom(flows, lost.flatMap((name) => leadsTo(flows[name])));
  // Chain heads first; a cycle of lost states has no head, so then any of its states in file order.
  const heads = [...lost.filter((name) => !ledToByLost.has(name)), ...lost.filter((name) => ledToByLost.has(name))];
  const covered = new Set<string>();
  for (const name of heads) {
    if (covered.has(name)) continue;
    problems.add(at('flows', name), 'unreachable (no intent, option or next_state leads here)');
    for (const next of reachableFrom(flows, [name])) covered.add(next);
  }
}

/** The states `starts` are or lead to, directly or not. */
function reachableFrom(flows: Record<string, FlowState>, starts: string[]): Set<string> {
  const reached = new Set<string>();
  const queue = starts.filter((name) => Object.hasOwn(flows, name));
  for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
    if (reached.has(name)) continue;
    reached.add(name);
    queue.push(...leadsTo(flows[name]).filter((next) => Object.hasOwn(flows, next) && !reached.has(next)));
  }
  return reached;
}

/**
 * A plain state's messages ask the question of the choice state it leads to. A choice state that an intent or
 * another choice's option leads to straight away has no such question, so it must carry its own `message`.
 */
function checkChoicesAsked(problems: ProblemList, flows: Record<string, FlowState>, entries: string[]): void {
  const direct = new Set(entries);
  for (const state of Object.values(flows)) if (state.kind === 'choice') for (const target of Object.values(state.options)) direct.add(target);
  for (const name of direct) {
    const state = Object.hasOwn(flows, name) ? flows[name] : undefined;
    if (state?.kind === 'choice' && state.message.length === 0) {
      problems.add(at('flows', name), 'needs a message: an intent or a choice option leads here directly, so no state asks its question');
    }
  }
}
