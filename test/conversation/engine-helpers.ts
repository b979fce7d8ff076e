// The conversation engine's tests share these: the demo bot and a small shop bot parsed, a fake intent matcher and
// knowledge base, and a conversation that carries its position from turn to turn (each turn given it frozen).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseBot } from '../../src/conversation/bot-file.ts';
import { runTurn } from '../../src/conversation/engine.ts';
import type {
  BotDefinition, BotRuntime, ConversationPosition, IntentMatcherLike, KnowledgeBaseLike, TurnContext, TurnResult,
} from '../../src/conversation/bot.ts';
const DEMO_PATH = new URL('../../bots/demo/bot.yaml', import.meta.url).pathname;

export function load(text: string, source: string): BotDefinition {
  const result = parseBot(text, source);
  if ('problems' in result) assert.fail(JSON.stringify(result.problems));
  return result.bot;
}

export const demo = load(readFileSync(DEMO_PATH, 'utf8'), DEMO_PATH);

/** Exact example utterances match with confidence 1; a word from `keywords` with the confidence given. */
function fakeMatcher(intents: Record<string, string[]>, keywords: Record<string, [string, number]>): IntentMatcherLike {
  return {
    match(text) {
      const said = text.trim().toLowerCase();
      for (const [intent, examples] of Object.entries(intents)) {
        if (examples.some((example) => example.toLowerCase() === said)) return { intent, confidence: 1 };
      }
      for (const word of said.split(/\W+/)) if (Object.hasOwn(keywords, word)) return { intent: keywords[word][0], confidence: keywords[word][1] };
      return null;
    },
  };
}

const KEYWORDS: Record<string, [string, number]> = {
  pizza: ['order_pizza', 0.7], balance: ['check_balance', 0.8], hungry: ['order_pizza', 0.5], halt: ['cancel', 0.5],
  somebody: ['talk_to_agent', 0.5], stop: ['cancel', 0.62], operator: ['talk_to_agent', 0.9],
};

export const fakeKnowledge: KnowledgeBaseLike = {
  search(text) {
    if (/open/i.test(text)) return { answer: 'We open at 11:00 every day.', score: 0.9, source: 'knowledge/hours.md', heading: 'Hours' };
    if (/deliver/i.test(text)) return { answer: 'We deliver within 5 km.', score: 0.2, source: 'knowledge/delivery.md', heading: 'Delivery' };
    return null;
  },
};

export function runtime(definition: BotDefinition, knowledge: KnowledgeBaseLike | null = fakeKnowledge): BotRuntime {
  return { definition, intents: fakeMatcher(definition.intents, KEYWORDS), knowledge, version: 1 };
}

export const ADA: TurnContext = { user: { id: 'u-1', firstName: 'Ada' }, customData: {}, group: null };
export const IDLE: ConversationPosition = { state: null, memory: {}, lastPrompt: [] };

/** A conversation that carries its position from turn to turn; the bot may be swapped (a reload). */
export function conversation(bot: BotRuntime, context: TurnContext = ADA) {
  const chat = {
    bot,
    position: IDLE,
    say(text: string, newSession = false): TurnResult {
      const result = runTurn(chat.bot, deepFreeze(chat.position), { text, newSession, context });
      chat.position = result.position;
      return result;
    },
  };
  return chat;
}

/** Turns must never change the position they are given. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

export const texts = (result: TurnResult) => result.replies.map((reply) => reply.text);

/** A small bot to exercise choice states that the demo does not use. */
const SHOP = `
id: shop
name: Shop
intents:
  order: [order]
  choice_menu: [menu]
flows:
  order:
    message: [Which size?]
    next_state: choice_size
  choice_size:
    small: choice_crust
    large: done
    fallback_message: [Small or large?]
    message: ["(Sizes: small, large)"]
  choice_crust:
    thin: done
    thick: done
    message: [Thin or thick crust?]
    fallback_message: [Thin or thick?]
  choice_menu:
    pizza: order
    message: [Pizza?]
    fallback_message: [Say pizza.]
  done:
    message: ["Done, {{memory.choice_size}} {{memory.choice_crust|regular}}."]
    next_state: end
webhooks:
  - { event: order.started, intents: [order], states: [order], endpoint: orders }
  - { event: order.done, states: [done], endpoint: orders }
`;
export const shop = load(SHOP, 'shop.yaml');
