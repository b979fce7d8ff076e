// Intent matching for the built-in bot: how confidently a user message means each intent, from the intent's examples.
import { distance as levenshtein } from 'fastest-levenshtein';

/** `confidence` is 0–1; the caller compares it with the bot's `intent_threshold`. */
export type IntentScore = { intent: string; confidence: number };

export interface IntentMatcher {
  /** The best intent, or null when no intent shares anything with the text. */
  match(text: string): IntentScore | null;
  /** Every intent that scores above 0, best first (ties by name, so the order is deterministic). */
  rank(text: string): IntentScore[];
}

// Function words and politeness carry little meaning but do tell "what can you do" from "do it": they are kept
// with a small weight instead of being dropped.
export const STOP_WORDS: ReadonlySet<string> = new Set(
  ('a an the i me my mine you your we us our it its this that these those is am are was were be been do does did ' +
    'can could would should will shall may might must have has had to of in on at for with from by about into ' +
    'and or but so if then some any please thanks thank just now there here what which who how why when where ' +
    'one two three four five six seven eight nine ten').split(' '),
);
const STOP_FACTOR = 0.2;
// Words the bot has never seen count against a match (that is what keeps "the weather is nice today" low) but
// less than a word known to belong to an intent: they are often fillers or entities ("my house", "two").
const UNKNOWN_FACTOR = 0.6;
// A word no intent knows but the bot's knowledge base does ("refunds") names a topic: it counts against every intent
// more than the most telling intent word counts for one, so "how do refunds work" is no "how does this work" (help)
// and goes to the pages. 1.5 was chosen on the demo bot's dev paraphrases (its accuracy there did not move).
const TOPIC_FACTOR = 1.5;
/**
 * An example's confidence is explained^0.6 × recognised^0.4. rank() compares examples by that to the power 2.5,
 * explained^1.5 × recognised (the same order: x ↦ x^2.5 is increasing), which takes a square root instead of two
 * pow() calls per example, most of a match's time; the best one is raised to 0.4 once.
 */
const EXPLAINED_WEIGHT = 0.6;

// Chat spellings and contractions written without an apostrophe ("couldnt"); see `tokens`.
const CHAT_WORDS: Record<string, string> = { u: 'you', ur: 'your', r: 'are', pls: 'please', plz: 'please', thx: 'thanks', im: 'i am', ive: 'i have' };
const NOT_AUXILIARIES = new Set(['do', 'does', 'did', 'could', 'would', 'should', 'is', 'are', 'was', 'were', 'have', 'has', 'had', 'ca', 'wo', 'must', 'need']);

/**
 * Longer runs of letters are no word of any language the bot knows (a pasted id, a key mashed): they are left out,
 * which also keeps the typo and compound look-ups, whose cost grows with a word's length squared, cheap.
 */
export const MAX_WORD_LENGTH = 40;

/**
 * The words of a message matched against intents and the knowledge base: the first 64. A longer message is no
 * question a phrase or a passage answers better, and every word costs a fuzzy lookup: 10 KB of random words took
 * about 140 ms of the event loop, which any client with a valid token could ask for again and again.
 */
export const MAX_QUERY_WORDS = 64;

/**
 * Lower-cased words of a text, with contractions and chat spellings expanded ("what's" → "what", "can't" → "can not").
 * Words are letters and digits of any script ("привет", "straße"): Latin accents are dropped, other marks kept.
 */
export function tokens(text: string): string[] {
  const clean = text
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[\u2018\u2019`]/g, "'")
    .replace(/n't\b/g, ' not')
    .replace(/'(s|d|m|re|ll|ve)\b/g, (_, c: string) => ({ s: '', d: ' would', m: ' am', re: ' are', ll: ' will', ve: ' have' })[c] ?? '');
  const out: string[] = [];
  for (const word of clean.split(/[^\p{L}\p{N}\p{M}]+/u)) {
    const aux = word.endsWith('nt') ? word.slice(0, -2) : '';
    if (NOT_AUXILIARIES.has(aux)) out.push(aux, 'not');
    else if (word !== '' && word.length <= MAX_WORD_LENGTH) out.push(...(CHAT_WORDS[word] ?? word).split(' '));
  }
  return out.map((w) => (w === 'ca' ? 'can' : w === 'wo' ? 'will' : w)); // "can't", "won't"
}

/** A light suffix stripper (plurals, -ing, -ed, -ment, final e): enough for "pizzas", "declined", "payment". */
export function stem(word: string): string {
  let w = word;
  if (w.length <= 3 || /\d/.test(w)) return w;
  if (w.endsWith('ies') && w.length > 4) w = w.slice(0, -3) + 'y';
  else if (w.endsWith('s') && !/(ss|us|is)$/.test(w)) w = w.slice(0, -1);
  for (const suffix of ['ing', 'ed', 'ment']) {
    if (w.endsWith(suffix) && w.length - suffix.length >= 3) {
      w = w.slice(0, -suffix.length);
      if (/([^aeioulsz])\1$/.test(w)) w = w.slice(0, -1); // "topping" → "top"
      break;
    }
  }
  if (w.endsWith('e') && w.length > 4) w = w.slice(0, -1);
  return w;
}

/**
 * Edit distance counting an adjacent transposition ("hlep" → "help", the commonest typo) as one edit, which plain
 * Levenshtein counts as two. Transposition plus another edit is left to Levenshtein alone.
 */
export function editDistance(a: string, b: string): number {
  const d = levenshtein(a, b);
  if (d !== 2 || a.length !== b.length) return d;
  const i = [...a].findIndex((ch, k) => ch !== b[k]);
  return a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2) ? 1 : d;
}

/** A word of the message: its weight, and the vocabulary stems it may be, each with a similarity in (0, 1]. */
type Term = { weight: number; stems: Map<string, number> };
/**
 * An example utterance as parallel arrays over stem numbers (plain loops: rank() runs for every message, and
 * iterating Maps there allocated most of a bot turn's garbage); `has` marks the stems it uses.
 */
type Example = { stems: Int32Array; weights: Float64Array; has: Uint8Array; total: number };

/** `topics`: the stems of the words of the bot's knowledge base (knowledge.ts knowledgeStems); none by default. */
export function createIntentMatcher(intents: Record<string, string[]>, topics: ReadonlySet<string> = new Set()): IntentMatcher {
  const names = Object.keys(intents).sort();
  const vocabulary = new Map<string, Set<string>>(); // stem → intents using it
  const spellings = new Map<string, string>(); // surface word or stem → stem, for exact and fuzzy look-ups
  const stopStems = new Set<string>();
  for (const name of names) {
    for (const word of intents[name].flatMap(tokens)) {
      const s = stem(word);
      vocabulary.set(s, (vocabulary.get(s) ?? new Set()).add(name));
      spellings.set(word, s).set(s, s);
      if (STOP_WORDS.has(word)) stopStems.add(s);
    }
  }
  // IDF across intents: a word used by one intent identifies it; one used by all of them hardly tells anything.
  const maxIdf = Math.log(1 + names.length);
  const weightOf = (s: string) => Math.log(1 + names.length / vocabulary.get(s)!.size) * (stopStems.has(s) ? STOP_FACTOR : 1);
  const stemIds = new Map([...vocabulary.keys()].map((s, i) => [s, i]));
  const toExample = (utterance: string): Example => {
    const weights = new Map(tokens(utterance).map((w) => [stem(w), weightOf(stem(w))]));
    const has = new Uint8Array(stemIds.size);
    for (const s of weights.keys()) has[stemIds.get(s)!] = 1;
    return {
      stems: Int32Array.from(weights.keys(), (s) => stemIds.get(s)!), weights: Float64Array.from(weights.values()), has,
      total: [...weights.values()].reduce((a, b) => a + b, 0),
    };
  };
  const examples = names.map((name) => intents[name].map(toExample)); // by intent number (names' order)
  // Stem → the numbers of the intents using it; and scratch arrays rank() reuses (reset after each call): it runs
  // for every message, where fresh Maps and typed arrays were a third of its time.
  const intentsOf = new Map([...vocabulary].map(([s, users]) => [s, Int32Array.from(users, (name) => names.indexOf(name))]));
  const covered = new Float64Array(stemIds.size); // stem → how well the message covers it
  const explainedBy = new Float64Array(names.length); // intent → weight of the message its vocabulary explains
  const termBest = new Float64Array(names.length); // intent → its best similarity to the current term

  /** Similar known stems for an unknown word: 1 edit from 4 letters, 2 from 8; closer spellings rank higher. */
  function fuzzy(word: string): Map<string, number> {
    const bound = word.length >= 8 ? 2 : word.length >= 4 ? 1 : 0;
    const found = new Map<string, number>();
    if (bound === 0) return found;
    let best = 0;
    for (const [spelling, s] of spellings) {
      const d = Math.abs(word.length - spelling.length) > bound ? bound + 1 : editDistance(word, spelling);
      // An edit costs more in a short word: "hlep" is 0.63 "help", "acount" 0.79 "account".
      const sim = 1 - (1.5 * d) / Math.max(word.length, spelling.length);
      if (d > bound || sim < best) continue;
      if (sim > best) found.clear(), (best = sim);
      found.set(s, sim);
    }
    return found;
  }

  function compound(word: string): [string, string] | null {
    for (let i = 2; i <= word.length - 2; i++) {
      const head = spellings.get(word.slice(0, i));
      const tail = spellings.get(word.slice(i)) ?? spellings.get(stem(word.slice(i)));
      if (head !== undefined && tail !== undefined) return [head, tail];
    }
    return null;
  }

  function terms(text: string): Term[] {
    const out = new Map<string, Term>();
    const words = tokens(text).slice(0, MAX_QUERY_WORDS);
    const add = (key: string, stems: Map<string, number>, stop: boolean) => {
      const known = [...stems.keys()].map(weightOf);
      const weight = known.length > 0 ? Math.max(...known) : maxIdf * UNKNOWN_FACTOR * (stop ? STOP_FACTOR : 1);
      out.set(key, { weight, stems });
    };
    for (const word of words) {
      const known = spellings.get(word) ?? spellings.get(stem(word));
      if (known !== undefined) {
        add(known, new Map([[known, 1]]), STOP_WORDS.has(word));
        continue;
      }
      // A word of the knowledge base's (spelt as there: no typo look-up) explains no intent.
      if (!STOP_WORDS.has(word) && topics.has(stem(word))) {
        out.set(stem(word), { weight: maxIdf * TOPIC_FACTOR, stems: new Map() });
        continue;
      }
      // A compound written as one word ("nevermind", "topup"), else a typo.
      const parts = compound(word);
      if (parts) for (const part of parts) add(part, new Map([[part, 1]]), false);
      else add(word, fuzzy(word), STOP_WORDS.has(word));
    }
    return [...out.values()];
  }

  function rank(text: string): IntentScore[] {
    const message = terms(text);
    let total = 0;
    // The message's candidate stems as numbers, term by term (terms[k] spans starts[k] … starts[k + 1]).
    const starts: number[] = [0];
    const ids: number[] = [];
    const sims: number[] = [];
    const touched: number[] = []; // intents some term explains
    for (const t of message) {
      total += t.weight;
      const termIntents: number[] = [];
      for (const [s, sim] of t.stems) {
        const id = stemIds.get(s)!;
        covered[id] = Math.max(sim, covered[id]);
        ids.push(id);
        sims.push(sim);
        for (const i of intentsOf.get(s)!) {
          if (termBest[i] === 0) termIntents.push(i);
          termBest[i] = Math.max(sim, termBest[i]);
        }
      }
      starts.push(ids.length);
      for (const i of termIntents) {
        if (explainedBy[i] === 0) touched.push(i);
        explainedBy[i] += t.weight * termBest[i];
        termBest[i] = 0;
      }
    }
    const scores: IntentScore[] = [];
    for (const i of touched) {
      const intentCover = explainedBy[i] / total;
      let best = 0; // the best example's confidence^2.5 (EXPLAINED_WEIGHT)
      for (const ex of examples[i]) {
        let exampleCover = 0;
        for (let e = 0; e < ex.stems.length; e++) exampleCover += ex.weights[e] * covered[ex.stems[e]];
        if (exampleCover === 0) continue;
        let messageCover = 0;
        for (let k = 0; k < message.length; k++) {
          let sim = 0;
          for (let j = starts[k]; j < starts[k + 1]; j++) if (sims[j] > sim && ex.has[ids[j]] === 1) sim = sims[j];
          messageCover += message[k].weight * sim;
        }
        // A weighted geometric mean: the message must be explained (by this example or the intent's others) and
        // the example recognisable in the message. Explaining weighs more, as paraphrases often borrow words
        // from several examples and use only part of any one ("transaction failed").
        const explained = (messageCover / total + intentCover) / 2;
        best = Math.max(best, explained * Math.sqrt(explained) * (exampleCover / ex.total));
      }
      const confidence = best ** (1 - EXPLAINED_WEIGHT);
      if (confidence > 0) scores.push({ intent: names[i], confidence: Math.min(1, confidence) });
      explainedBy[i] = 0;
    }
    for (const id of ids) covered[id] = 0;
    scores.sort((a, b) => b.confidence - a.confidence || (a.intent < b.intent ? -1 : 1));
    // A message two intents explain about equally well ("my account") is not confidently either: near-ties
    // lose up to 30%, a clear winner almost nothing (the 8th power of the runner-up's ratio).
    const alone = scores.map((x) => x.confidence);
    for (const [i, x] of scores.entries()) {
      const rival = i === 0 ? (alone[1] ?? 0) : alone[0];
      x.confidence *= 1 - 0.3 * Math.min(1, rival / x.confidence) ** 8;
    }
    return scores;
  }

  return { rank, match: (text) => rank(text)[0] ?? null };
}
