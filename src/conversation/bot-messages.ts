// Reads a bot file's message lists (a string, or text with quick replies or buttons) and checks that their
// templates name values that exist (docs/bots.md, "Messages").
import type { BotButton, BotMessage } from './bot.ts';
import {
  at, checkKeys, isMapping, readList, readRequiredString, readString, readStrings, type ProblemList,
} from './bot-problems.ts';
import { templateUses } from './templates.ts';

const MESSAGE_KEYS = ['text', 'quick_replies', 'buttons'];
const USER_FIELDS = ['id', 'firstName', 'lastName', 'email'];
const GROUP_FIELDS = ['id', 'name'];

/** Reads a non-empty message list; `states` are the names `{{memory.x}}` may use. */
export function readMessages(problems: ProblemList, path: string, value: unknown, states: ReadonlySet<string>): BotMessage[] {
  if (!Array.isArray(value)) {
    problems.add(path, 'must be a list of messages');
    return [];
  }
  if (value.length === 0) problems.add(path, 'must not be empty');
  const messages: BotMessage[] = [];
  value.forEach((item, index) => {
    const message = readMessage(problems, at(path, index), item, states);
    if (message) messages.push(message);
  });
  return messages;
}

function readMessage(problems: ProblemList, path: string, value: unknown, states: ReadonlySet<string>): BotMessage | null {
  if (typeof value === 'string') {
    const text = readString(problems, path, value);
    if (text !== null) checkTemplates(problems, path, text, states);
    return text === null ? null : { text };
  }
  if (!isMapping(value)) {
    problems.add(path, 'a message is a string or {text, quick_replies | buttons}');
    return null;
  }
  checkKeys(problems, path, value, MESSAGE_KEYS);
  const textPath = at(path, 'text');
  const text = readRequiredString(problems, textPath, value.text);
  if (text !== null) checkTemplates(problems, textPath, text, states);
  const message: BotMessage = { text: text ?? '' };
  if (value.quick_replies !== undefined && value.buttons !== undefined) {
    problems.add(path, 'use quick_replies or buttons, not both');
  }
  if (value.quick_replies !== undefined) {
    const replies = readStrings(problems, at(path, 'quick_replies'), value.quick_replies);
    if (replies?.length === 0) problems.add(at(path, 'quick_replies'), 'must not be empty');
    replies?.forEach((reply, index) => checkTemplates(problems, at(at(path, 'quick_replies'), index), reply, states));
    if (replies) message.quickReplies = replies;
  }
  if (value.buttons !== undefined) {
    const list = readList(problems, at(path, 'buttons'), value.buttons);
    if (list?.length === 0) problems.add(at(path, 'buttons'), 'must not be empty');
    const buttons = (list ?? []).map((item, index) => readButton(problems, at(at(path, 'buttons'), index), item, states));
    message.buttons = buttons.filter((button) => button !== null);
  }
  return text === null ? null : message;
}

function readButton(problems: ProblemList, path: string, value: unknown, states: ReadonlySet<string>): BotButton | null {
  if (!isMapping(value)) {
    problems.add(path, 'a button is {title, payload} or {title, url}');
    return null;
  }
  checkKeys(problems, path, value, ['title', 'payload', 'url']);
  const title = readRequiredString(problems, at(path, 'title'), value.title);
  if (title !== null) checkTemplates(problems, at(path, 'title'), title, states);
  if (value.payload === undefined && value.url === undefined) {
    problems.add(path, 'a button needs a payload (sent back as the answer) or a url');
    return null;
  }
  if (value.payload !== undefined && value.url !== undefined) {
    problems.add(path, 'a button has a payload or a url, not both');
    return null;
  }
  if (value.url !== undefined) {
    const url = readString(problems, at(path, 'url'), value.url);
    if (url !== null && !isWebUrl(url)) problems.add(at(path, 'url'), 'must be an http(s) URL');
    return title !== null && url !== null && isWebUrl(url) ? { title, url } : null;
  }
  const payload = readString(problems, at(path, 'payload'), value.payload);
  if (payload !== null) checkTemplates(problems, at(path, 'payload'), payload, states);
  return title !== null && payload !== null ? { title, payload } : null;
}

function isWebUrl(text: string): boolean {
  return URL.canParse(text) && ['http:', 'https:'].includes(new URL(text).protocol);
}

/** Each `{{…}}` must name a value the template table of docs/bots.md offers. */
function checkTemplates(problems: ProblemList, path: string, text: string, states: ReadonlySet<string>): void {
  for (const use of templateUses(text)) {
    const [root, ...keys] = use.path.split('.');
    const field = keys.join('.');
    if (root === 'memory' && keys.length === 1 && states.has(field)) continue;
    if (root === 'user' && keys.length === 1 && USER_FIELDS.includes(field)) continue;
    if (root === 'group' && keys.length === 1 && GROUP_FIELDS.includes(field)) continue;
    if (root === 'customData' && keys.length > 0 && keys.every((key) => key !== '')) continue;
    const hint = root === 'memory' && keys.length === 1 ? ` (no state "${field}")` : '';
    problems.add(path, `unknown template value {{${use.path}}}${hint}`);
  }
}
