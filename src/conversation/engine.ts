// Runs one conversation turn: the state machine of docs/bots.md ("States and how a turn runs") as a pure
// function of the bot, the conversation's position and the message (no I/O, no clock).
//
// Termination: entering a state never enters another one — a plain state sends its messages and *waits* at
// its next_state, and reaching a choice state is waiting at it. So a turn enters at most one state (the answer
// to a plain state, an intent's state, or a choice option's target), whatever cycles a malformed runtime holds,
// and needs no loop guard.
import type {
  BotDefinition, BotMessage, BotRuntime, ConversationPosition, FiredWebhook, TurnContext, TurnInput, TurnResult, WebhookRule,
} from './bot.ts';
import { findOption, storedOptionKey } from './choice-options.ts';
import { renderMessage, type TemplateValues } from './templates.ts';

/** The state a conversation waits at after a step (null: idle), and the question that led there. */
interface Waiting {
  state: string | null;
  lastPrompt: BotMessage[];
}

/** What the turn has produced so far. */
interface Turn {
  bot: BotDefinition;
  memory: Record<string, string>;
  values: TemplateValues;
  replies: BotMessage[];
  fired: FiredWebhook[];
  missing: Set<string>;
  endOfTask: { reason: string } | null;
  handoff: { reason: string } | null;
  optOut: { eventType: string } | null;
}

/** A fresh value each time: results never share arrays a caller might change. */
const idle = (): Waiting => ({ state: null, lastPrompt: [] });

export function runTurn(runtime: BotRuntime, position: ConversationPosition, input: TurnInput): TurnResult {
  // The text is matched against the intents at most once per turn (a handoff intent, then the flow, ask).
  const bot = { ...runtime, intents: matchedOnce(runtime.intents) };
  const definition = bot.definition;
  const turn = newTurn(definition, position, input.context);
  const text = input.text.trim();
  // Step 1: session.new forgets the state waited at; memory is kept.
  let waiting: Waiting = input.newSession ? idle() : { state: position.state, lastPrompt: position.lastPrompt };
  // A reload removed the state: say so, then handle the message as if idle (docs/bots.md, "Reloading").
  if (waiting.state !== null && !hasState(definition, waiting.state)) {
    send(turn, definition.settings.restartNotice);
    waiting = idle();
  }
  // "stop offers": the user opts out of a notification type; the flow stays where it was.
  const optOut = definition.settings.optOuts.find((o) => saysPhrase(o.phrases, text));
  if (optOut) {
    send(turn, optOut.message);
    turn.optOut = { eventType: optOut.eventType };
    return result(turn, { waiting, understood: { kind: 'unknown' } });
  }
  const human = asksForHuman(bot, text);
  const step = human
    ? handOver(turn, human)
    : waiting.state === null ? whenIdle(turn, bot, text) : whenWaiting(turn, bot, text, waiting, waiting.state);
  return result(turn, step);
}

/**
 * The bot takes a conversation back from a human: `before` is sent (e.g. agent_closed), then the flow state
 * given (a satisfaction question, say) is entered as if an intent had started it; null or unknown: idle.
 */
export function resumeAt(bot: BotRuntime, position: ConversationPosition, state: string | null, context: TurnContext, before: BotMessage[]): TurnResult {
  const turn = newTurn(bot.definition, position, context);
  send(turn, before);
  const known = state !== null && hasState(bot.definition, state);
  const waiting = known ? enter(turn, state, []) : idle();
  return result(turn, { waiting, understood: known ? { kind: 'state', state } : { kind: 'unknown' } });
}

function newTurn(definition: BotDefinition, position: ConversationPosition, context: TurnContext): Turn {
  const memory = { ...position.memory };
  const { user, customData, group } = context;
  return {
    bot: definition, memory, values: { memory, user, customData, group },
    replies: [], fired: [], missing: new Set(), endOfTask: null, handoff: null, optOut: null,
  };
}

function result(turn: Turn, step: Step): TurnResult {
  return {
    position: { state: step.waiting.state, memory: turn.memory, lastPrompt: step.waiting.lastPrompt },
    replies: turn.replies,
    endOfTask: turn.endOfTask,
    handoff: turn.handoff,
    fired: turn.fired,
    understood: step.understood,
    missingValues: [...turn.missing],
    optOut: turn.optOut,
  };
}

type Step = { waiting: Waiting; understood: TurnResult['understood'] };

/**
 * Normalised for phrase matching: compatibility forms folded (full-width letters), lower case, no punctuation, single
 * spaces. Combining marks are part of their word (the vowel signs of "मानव", the harakat of Arabic): not spaces.
 */
function normal(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/[^\p{L}\p{M}\p{N}\s]+/gu, ' ').replace(/\s+/g, ' ').trim();
}

/** Whether a message says a configured handoff phrase (a one-word phrase must be the whole message). */
export function saysPhrase(phrases: readonly string[], text: string): boolean {
  let normalised = normalisedPhrases.get(phrases);
  if (!normalised) normalisedPhrases.set(phrases, (normalised = phrases.map(normal).filter((p) => p !== '')));
  const said = normal(text);
  const padded = ` ${said} `;
  return normalised.some((p) => said === p || (p.includes(' ') && padded.includes(` ${p} `)));
}

/** Phrase lists are a bot's settings, fixed once loaded: normalised once. */
const normalisedPhrases = new WeakMap<readonly string[], string[]>();

function matchedOnce(intents: BotRuntime['intents']): BotRuntime['intents'] {
  let last: { text: string; match: ReturnType<BotRuntime['intents']['match']> } | null = null;
  return {
    match(text) {
      if (last?.text !== text) last = { text, match: intents.match(text) };
      return last.match;
    },
  };
}

/**
 * A request for a human: a handoff phrase, or a handoff intent above the threshold. Never a close phrase ("bye
 * agent" said again after the agent left, or racing the agent's own close, must not queue the user again).
 */
function asksForHuman(bot: BotRuntime, text: string): { intent: string | null; confidence: number } | null {
  const definition = bot.definition;
  if (saysPhrase(definition.settings.closePhrases, text)) return null;
  if (saysPhrase(definition.settings.handoffPhrases, text)) return { intent: null, confidence: 1 };
  if (definition.handoffIntents.length === 0) return null;
  const match = bot.intents.match(text);
  if (match && match.confidence >= definition.settings.intentThreshold && definition.handoffIntents.includes(match.intent)) return match;
  return null;
}

/** Hands the conversation over: the intent's flow runs first when it has one; the flow position is left. */
function handOver(turn: Turn, asked: { intent: string | null; confidence: number }): Step {
  if (asked.intent && hasState(turn.bot, asked.intent)) startIntent(turn, asked.intent, asked.confidence, false);
  else if (asked.intent) fireIntent(turn, asked.intent); // a handoff intent without a flow is matched all the same
  turn.handoff ??= { reason: asked.intent ? `intent ${asked.intent}` : 'asked for a human' };
  return { waiting: idle(), understood: asked.intent ? { kind: 'intent', intent: asked.intent, confidence: asked.confidence, global: false } : { kind: 'unknown' } };
}

function whenWaiting(turn: Turn, bot: BotRuntime, text: string, waiting: Waiting, name: string): Step {
  // Step 2: a global intent interrupts the flow (before the message is read as an answer or an option). Where any
  // text is an answer (a plain state: an address, a name), it must be plainly meant ("Stop Lane 4" is an address
  // with one intent word in it, not "stop"): there the bar is interrupt_threshold.
  const match = turn.bot.globalIntents.length > 0 ? bot.intents.match(text) : null;
  const settings = turn.bot.settings;
  const bar = turn.bot.flows[name]?.kind === 'plain' ? Math.max(settings.intentThreshold, settings.interruptThreshold) : settings.intentThreshold;
  const global = match && match.confidence >= bar && turn.bot.globalIntents.includes(match.intent);
  const state = turn.bot.flows[name];
  // An answer that names one of a menu's options is that option, even when it is also a global intent's
  // phrase: "cancel" at "1. Confirm 2. Cancel" chooses Cancel (the option could never be chosen otherwise).
  const option = state?.kind === 'choice' ? findOption(state.options, text) : null;
  if (global && option === null && hasState(turn.bot, match.intent)) return startIntent(turn, match.intent, match.confidence, true);
  // Step 3, a plain state: the answer is stored under the state's name, then the state is entered.
  if (state.kind === 'plain') {
    turn.memory[name] = text;
    return { waiting: enter(turn, name, waiting.lastPrompt), understood: { kind: 'state', state: name } };
  }
  // Step 3, a choice state: the option key as written is stored (`choice_confirmation: "1"`).
  if (option === null) {
    // The fallback, then the question again: the messages that led here, as they were sent (not rendered a
    // second time, so a template-like answer stored in memory is never expanded), then the menu's own message.
    send(turn, state.fallbackMessage);
    turn.replies.push(...waiting.lastPrompt);
    send(turn, state.message);
    return { waiting, understood: { kind: 'choice', state: name, option: null } };
  }
  turn.memory[name] = storedOptionKey(state.options, option);
  return { waiting: enter(turn, state.options[option], waiting.lastPrompt), understood: { kind: 'choice', state: name, option } };
}

// Step 4: the best intent above the threshold, else a relevant enough knowledge passage, else dont_know.
function whenIdle(turn: Turn, bot: BotRuntime, text: string): Step {
  const settings = turn.bot.settings;
  const match = bot.intents.match(text);
  if (match && match.confidence >= settings.intentThreshold && hasState(turn.bot, match.intent)) {
    return startIntent(turn, match.intent, match.confidence, false);
  }
  const hit = bot.knowledge?.search(text) ?? null;
  if (hit && hit.score >= settings.knowledgeThreshold) {
    turn.replies.push({ text: hit.answer }); // Markdown from the knowledge base, not a template
    return { waiting: idle(), understood: { kind: 'knowledge', source: hit.source, score: hit.score } };
  }
  send(turn, settings.dontKnow);
  return { waiting: idle(), understood: { kind: 'unknown' } };
}

/** `global` is true when the intent interrupted a flow. */
function startIntent(turn: Turn, intent: string, confidence: number, global: boolean): Step {
  fireIntent(turn, intent);
  // A new flow starts with no question behind it: an interrupted flow's prompt is not carried over.
  return { waiting: enter(turn, intent, []), understood: { kind: 'intent', intent, confidence, global } };
}

/**
 * Enters a state. A plain state sends its messages and waits at its next_state (or ends the flow); the
 * messages just sent become the prompt a choice state re-sends after its fallback.
 *
 * A choice state reached straight away (an intent's state, or another choice's option) had no plain state ask
 * its question, so its own `message` is sent now and is the whole re-prompt (lastPrompt empty, since the
 * re-prompt appends the menu's message anyway). Without a message — the validator refuses that — the previous
 * prompt is kept, the best question there is.
 */
function enter(turn: Turn, name: string, lastPrompt: BotMessage[]): Waiting {
  // Only a malformed runtime leads to a missing state; waiting there gets the restart notice next turn.
  if (!hasState(turn.bot, name)) return { state: name, lastPrompt };
  const state = turn.bot.flows[name];
  if (state.kind === 'choice') {
    if (state.message.length === 0) return { state: name, lastPrompt };
    send(turn, state.message);
    return { state: name, lastPrompt: [] };
  }
  for (const rule of turn.bot.webhooks) if (rule.states.includes(name)) fire(turn, rule, name, null);
  const sent = send(turn, state.message);
  if (state.handoff) turn.handoff = { reason: `state ${name}` };
  if (state.nextState === 'end') {
    turn.endOfTask = { reason: state.endReason };
    return idle();
  }
  return { state: state.nextState, lastPrompt: sent };
}

/** Renders and queues messages; returns them as sent. */
function send(turn: Turn, messages: BotMessage[]): BotMessage[] {
  const sent = messages.map((message) => {
    const rendered = renderMessage(message, turn.values);
    for (const path of rendered.missing) turn.missing.add(path);
    return rendered.message;
  });
  turn.replies.push(...sent);
  return sent;
}

/** The webhooks listing an intent fire as it is matched (before any state). */
function fireIntent(turn: Turn, intent: string): void {
  for (const rule of turn.bot.webhooks) if (rule.intents.includes(intent)) fire(turn, rule, null, intent);
}

/** A rule fires at most once per turn, even when both its intent and its state match. */
function fire(turn: Turn, rule: WebhookRule, state: string | null, intent: string | null): void {
  if (!turn.fired.some((fired) => fired.rule === rule)) turn.fired.push({ rule, state, intent });
}

function hasState(bot: BotDefinition, name: string): boolean {
  return Object.hasOwn(bot.flows, name);
}
