// The bot file tests share these: the demo bot's text, a small valid bot as parsed content, and the problems of a
// variant of it (or of a text) as `path: message` lines.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatProblems, parseBot } from '../../src/conversation/bot-file.ts';
import type { BotDefinition } from '../../src/conversation/bot.ts';
export const DEMO = new URL('../../bots/demo/bot.yaml', import.meta.url).pathname;
export const demoText = readFileSync(DEMO, 'utf8');

export type Raw = Record<string, any>;

/** A small valid bot, as a bot file's parsed content. */
export function base(): Raw {
  return {
    id: 'shop',
    name: 'Shop',
    intents: { order: ['order something'], cancel: ['cancel'] },
    global_intents: ['cancel'],
    flows: {
      order: { message: ['What would you like?'], next_state: 'item' },
      item: { message: [{ text: 'Sure?', quick_replies: ['Yes', 'No'] }], next_state: 'choice_sure' },
      choice_sure: { yes: 'done', no: 'cancel', fallback_message: ['Yes or no?'] },
      done: { message: ['Ordered {{memory.item}} for {{user.firstName|you}}'], next_state: 'end' },
      cancel: { message: ['Stopped.'], next_state: 'end', end_reason: 'Cancelled' },
    },
    webhooks: [{ event: 'order.done', states: ['done'], endpoint: 'orders' }],
  };
}

export function parsed(raw: Raw): BotDefinition {
  const result = parseBot(JSON.stringify(raw), 'shop.json');
  if ('problems' in result) assert.fail(formatProblems(result.problems, 'shop.json'));
  return result.bot;
}

/** The problems of a variant of the base bot, as `path: message`. */
export function problemsOf(change: (raw: Raw) => void): string[] {
  const raw = base();
  change(raw);
  return problemsIn(JSON.stringify(raw));
}

export function problemsIn(text: string): string[] {
  const result = parseBot(text, 'bot.yaml');
  assert.ok('problems' in result, 'expected problems');
  return result.problems.map((problem) => `${problem.path}: ${problem.message}`);
}
