// Intent accuracy of a bot on a held-out set of labelled utterances (used by the tests and the benchmarks).
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { createIntentMatcher } from './intents.ts';
import { knowledgeStems, loadKnowledge } from './knowledge.ts';

export interface IntentMiss {
  text: string;
  expected: string;
  /** The top intent and its confidence, or null when nothing scored. */
  got: { intent: string; confidence: number } | null;
}

export interface IntentAccuracy {
  accuracy: number;
  correct: number;
  total: number;
  misses: IntentMiss[];
}

/**
 * Scores the bot file's intents on a held-out file (intent → utterances; `none` for text no intent should
 * match). An utterance is correct when its top intent is the expected one with at least the bot's
 * `intent_threshold`, or, for `none`, when no intent reaches the threshold.
 */
export async function intentAccuracy(botFile: string, heldoutFile: string): Promise<IntentAccuracy> {
  const bot = parse(await readFile(botFile, 'utf8')) as { intents: Record<string, string[]>; knowledge?: string[]; settings?: { intent_threshold?: number } };
  const heldout = parse(await readFile(heldoutFile, 'utf8')) as Record<string, string[]>;
  const threshold = bot.settings?.intent_threshold ?? 0.6;
  // As the gateway matches: with the words of the bot's knowledge base as topics.
  const matcher = createIntentMatcher(bot.intents, knowledgeStems(await loadKnowledge(botFile, bot.knowledge ?? [])));
  const misses: IntentMiss[] = [];
  let total = 0;
  for (const [expected, utterances] of Object.entries(heldout)) {
    for (const text of utterances.map(String)) {
      total++;
      const got = matcher.match(text);
      const reached = got !== null && got.confidence >= threshold;
      const ok = expected === 'none' ? !reached : reached && got.intent === expected;
      if (!ok) misses.push({ text, expected, got });
    }
  }
  const correct = total - misses.length;
  return { accuracy: total === 0 ? 1 : correct / total, correct, total, misses };
}
