// Validates a parsed bot file against docs/bots.md and builds its BotDefinition, reporting every problem found
// (not just the first), each with the path of the offending key.
import type { BotDefinition, BotMessage, BotProblem, BotSettings, WebhookRule } from './bot.ts';
import { readFlows } from './bot-flows.ts';
import { readMessages } from './bot-messages.ts';
import { isReservedEventType } from '../delivery/event-types.ts';
import {
  at, checkKeys, checkName, isMapping, readList, readMapping, readRequiredString, readString, readStrings, ProblemList,
} from './bot-problems.ts';

const TOP_KEYS = ['id', 'name', 'description', 'settings', 'knowledge', 'intents', 'global_intents', 'handoff_intents', 'flows', 'webhooks'];
const SETTINGS_KEYS = [
  'intent_threshold', 'interrupt_threshold', 'knowledge_threshold', 'dont_know', 'restart_notice',
  'handoff_phrases', 'close_phrases', 'handoff_message', 'handoff_unavailable', 'agent_timeout_message', 'agent_closed_message', 'opt_outs',
];
const OPT_OUT_KEYS = ['phrases', 'event_type', 'message'];
const WEBHOOK_KEYS = ['event', 'states', 'intents', 'endpoint'];
/** Bot ids appear in URLs (`/chatbot/hooks/{id}`). */
const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** The event types the messages API accepts (src/http/routes/messages.ts). */
const EVENT_PATTERN = /^[A-Za-z0-9_.:-]{1,200}$/;

export const DEFAULT_SETTINGS: Readonly<BotSettings> = Object.freeze({
  intentThreshold: 0.6,
  interruptThreshold: 0.7,
  knowledgeThreshold: 0.35,
  dontKnow: [{ text: "Sorry, I didn't understand that. Could you put it another way?" }],
  restartNotice: [{ text: "Sorry, this conversation changed while you were away, so let's start again." }],
  handoffPhrases: ['talk to agent', 'talk to an agent', 'talk to a human', 'talk to a person', 'live chat', 'live agent', 'human', 'agent', 'real person', 'customer service'],
  closePhrases: ['end chat', 'close chat', 'back to bot', 'bye agent'],
  optOuts: [
    { phrases: ['stop offers', 'no more offers', 'unsubscribe from offers'], eventType: 'marketing_offer', message: [{ text: "Done: you won't get offers from us any more." }] },
    { phrases: ['stop notifications', 'unsubscribe', 'stop messaging me'], eventType: '*', message: [{ text: "Done: from now on we'll only message you about failed payments and your account's security." }] },
  ],
  handoffMessage: [{ text: 'Connecting you to a person. Please wait a moment.' }],
  handoffUnavailable: [{ text: "Sorry, I can't connect you to a person here. I'm happy to keep helping myself." }],
  agentTimeout: [{ text: "No one is free right now, sorry. I'm back: how can I help?" }],
  agentClosed: [{ text: "You're back with the bot. Anything else I can do?" }],
});

export function validateBot(raw: unknown): { bot: BotDefinition } | { problems: BotProblem[] } {
  const problems = new ProblemList();
  if (raw === null || raw === undefined) return { problems: [{ path: '', message: 'the file is empty' }] };
  if (!isMapping(raw)) return { problems: [{ path: '', message: 'the top level must be a mapping (id, name, intents, flows, …)' }] };
  checkKeys(problems, '', raw, TOP_KEYS);
  const id = readRequiredString(problems, 'id', raw.id);
  if (id !== null && !ID_PATTERN.test(id)) problems.add('id', 'use 1–64 ASCII letters (A–Z, a–z), digits, _, - and .');
  const name = readRequiredString(problems, 'name', raw.name);
  const description = absent(raw.description) ? null : readString(problems, 'description', raw.description);
  const stateNames = new Set(isMapping(raw.flows) ? Object.keys(raw.flows) : []);

  const intents = raw.intents === undefined ? (problems.add('intents', 'required'), null) : readIntents(problems, raw.intents);
  const flows = raw.flows === undefined ? (problems.add('flows', 'required'), {}) : readFlows(problems, raw.flows, intents && Object.keys(intents));
  const handoffIntents = absent(raw.handoff_intents) ? [] : readIntentRefs(problems, 'handoff_intents', raw.handoff_intents, intents);
  for (const intent of Object.keys(intents ?? {})) {
    // A handoff intent needs no flow: handing over is what it does.
    if (isMapping(raw.flows) && !Object.hasOwn(raw.flows, intent) && !handoffIntents.includes(intent)) problems.add(at('intents', intent), `no flow starts here (add flows.${intent})`);
  }
  const settings = readSettings(problems, raw.settings, stateNames);
  const knowledge = absent(raw.knowledge) ? [] : readStrings(problems, 'knowledge', raw.knowledge) ?? [];
  knowledge.forEach((pattern, index) => {
    if (pattern.startsWith('/')) problems.add(at('knowledge', index), 'must be relative to the bot file');
    else if (pattern.split(/[\\/]/).includes('..')) problems.add(at('knowledge', index), 'must stay inside the bot file\'s folder (no .. segment)');
  });
  const globalIntents = absent(raw.global_intents) ? [] : readIntentRefs(problems, 'global_intents', raw.global_intents, intents);
  const webhooks = absent(raw.webhooks) ? [] : readWebhooks(problems, raw.webhooks, intents, stateNames, flows);

  if (problems.items.length > 0) return { problems: problems.items };
  return {
    bot: { id: id!, name: name!, description, settings, knowledge, intents: intents!, globalIntents, handoffIntents, flows, webhooks },
  };
}

/** An optional key left empty (`webhooks:` with nothing after it is null in YAML) counts as absent. */
function absent(value: unknown): value is undefined | null {
  return value === undefined || value === null;
}

function readIntents(problems: ProblemList, value: unknown): Record<string, string[]> | null {
  const raw = readMapping(problems, 'intents', value);
  if (!raw) return null;
  const intents: Record<string, string[]> = {};
  const owner = new Map<string, string>(); // an example, lower-cased → the intent it belongs to
  for (const [name, examples] of Object.entries(raw)) {
    const path = at('intents', name);
    if (!checkName(problems, path, name)) continue;
    const list = readStrings(problems, path, examples);
    if (list && list.length === 0) problems.add(path, 'needs at least one example utterance');
    list?.forEach((example, index) => {
      const key = example.trim().toLowerCase();
      const other = owner.get(key);
      // The same utterance under two intents makes the matcher guess; under one intent it is only noise.
      if (other !== undefined && other !== name) problems.add(at(path, index), `"${example}" is also an example of ${other}`);
      owner.set(key, name);
    });
    intents[name] = list ?? [];
  }
  return intents;
}

/** A list of intent names; `intents` null means they could not be read (then names are not checked). */
function readIntentRefs(problems: ProblemList, path: string, value: unknown, intents: Record<string, string[]> | null): string[] {
  const names = readStrings(problems, path, value) ?? [];
  names.forEach((name, index) => {
    if (intents && !Object.hasOwn(intents, name)) problems.add(at(path, index), `"${name}" is not an intent`);
    else if (names.indexOf(name) < index) problems.add(at(path, index), `"${name}" is listed twice`);
  });
  return names;
}

function readSettings(problems: ProblemList, value: unknown, states: ReadonlySet<string>): BotSettings {
  const settings: BotSettings = { ...DEFAULT_SETTINGS };
  if (absent(value)) return settings;
  const raw = readMapping(problems, 'settings', value);
  if (!raw) return settings;
  checkKeys(problems, 'settings', raw, SETTINGS_KEYS);
  settings.intentThreshold = readThreshold(problems, 'settings.intent_threshold', raw.intent_threshold) ?? settings.intentThreshold;
  settings.interruptThreshold = readThreshold(problems, 'settings.interrupt_threshold', raw.interrupt_threshold) ?? settings.interruptThreshold;
  settings.knowledgeThreshold = readThreshold(problems, 'settings.knowledge_threshold', raw.knowledge_threshold) ?? settings.knowledgeThreshold;
  settings.dontKnow = readOptionalMessages(problems, 'settings.dont_know', raw.dont_know, states) ?? settings.dontKnow;
  settings.restartNotice = readOptionalMessages(problems, 'settings.restart_notice', raw.restart_notice, states) ?? settings.restartNotice;
  if (raw.handoff_phrases !== undefined) settings.handoffPhrases = readStrings(problems, 'settings.handoff_phrases', raw.handoff_phrases) ?? settings.handoffPhrases;
  if (raw.close_phrases !== undefined) settings.closePhrases = readStrings(problems, 'settings.close_phrases', raw.close_phrases) ?? settings.closePhrases;
  settings.handoffMessage = readOptionalMessages(problems, 'settings.handoff_message', raw.handoff_message, states) ?? settings.handoffMessage;
  settings.handoffUnavailable = readOptionalMessages(problems, 'settings.handoff_unavailable', raw.handoff_unavailable, states) ?? settings.handoffUnavailable;
  settings.agentTimeout = readOptionalMessages(problems, 'settings.agent_timeout_message', raw.agent_timeout_message, states) ?? settings.agentTimeout;
  settings.agentClosed = readOptionalMessages(problems, 'settings.agent_closed_message', raw.agent_closed_message, states) ?? settings.agentClosed;
  if (raw.opt_outs !== undefined) settings.optOuts = readOptOuts(problems, raw.opt_outs, states) ?? settings.optOuts;
  return settings;
}

/** settings.opt_outs: [{phrases: [...], event_type: name or '*', message: ...}]. */
function readOptOuts(problems: ProblemList, value: unknown, states: ReadonlySet<string>): BotSettings['optOuts'] | null {
  const list = readList(problems, 'settings.opt_outs', value);
  if (!list) return null;
  const out: BotSettings['optOuts'] = [];
  list.forEach((item, index) => {
    const path = at('settings.opt_outs', index);
    const raw = readMapping(problems, path, item);
    if (!raw) return;
    checkKeys(problems, path, raw, OPT_OUT_KEYS);
    const phrases = readStrings(problems, `${path}.phrases`, raw.phrases);
    const eventType = readString(problems, `${path}.event_type`, raw.event_type);
    const message = readMessages(problems, `${path}.message`, raw.message, states);
    if (phrases && eventType && message) out.push({ phrases, eventType, message });
  });
  return out;
}

function readThreshold(problems: ProblemList, path: string, value: unknown): number | null {
  if (value === undefined) return null;
  if (typeof value === 'number' && value >= 0 && value <= 1) return value;
  problems.add(path, 'must be a number between 0 and 1');
  return null;
}

function readOptionalMessages(problems: ProblemList, path: string, value: unknown, states: ReadonlySet<string>): BotMessage[] | null {
  return value === undefined ? null : readMessages(problems, path, value, states);
}

function readWebhooks(
  problems: ProblemList, value: unknown, intents: Record<string, string[]> | null,
  states: ReadonlySet<string>, flows: BotDefinition['flows'],
): WebhookRule[] {
  const list = readList(problems, 'webhooks', value) ?? [];
  return list.flatMap((item, index) => {
    const path = at('webhooks', index);
    const raw = readMapping(problems, path, item);
    if (!raw) return [];
    checkKeys(problems, path, raw, WEBHOOK_KEYS);
    const event = readRequiredString(problems, at(path, 'event'), raw.event);
    if (event !== null && !EVENT_PATTERN.test(event)) problems.add(at(path, 'event'), 'use 1–200 ASCII letters, digits, _, ., : and -');
    // Receivers take these as botgate's own word (an endpoint.disabled from a bot would read as the engine's).
    else if (event !== null && isReservedEventType(event)) problems.add(at(path, 'event'), `"${event}" is published by botgate itself (docs/delivery.md, "Event types"); choose another type`);
    const endpoint = readRequiredString(problems, at(path, 'endpoint'), raw.endpoint);
    const ruleStates = absent(raw.states) ? [] : readStrings(problems, at(path, 'states'), raw.states) ?? [];
    ruleStates.forEach((state, i) => {
      const statePath = at(at(path, 'states'), i);
      if (!states.has(state)) problems.add(statePath, `unknown state "${state}"`);
      // Choice states are waited at, never entered: such a rule would never fire.
      else if (flows[state]?.kind === 'choice') {
        problems.add(statePath, `"${state}" is a choice state, which is never entered (list the states its options lead to)`);
      }
    });
    const ruleIntents = absent(raw.intents) ? [] : readIntentRefs(problems, at(path, 'intents'), raw.intents, intents);
    if (ruleStates.length === 0 && ruleIntents.length === 0) problems.add(path, 'fires on nothing: list states and/or intents');
    if (event === null || endpoint === null) return [];
    return [{ event, states: ruleStates, intents: ruleIntents, endpoint }];
  });
}
