// The knowledge base of a bot: Markdown pages split into passages at headings, and full-text search over them.
import { glob, readFile, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import MiniSearch from 'minisearch';
import { MAX_QUERY_WORDS, STOP_WORDS, stem, tokens } from './intents.ts';
import { BotgateError } from '../errors.ts';

export interface KnowledgePage {
  /** Where the page came from (its path relative to the bot file), for logs and analytics. */
  source: string;
  markdown: string;
}

export interface Passage {
  source: string;
  /** The heading path, outermost first, joined with " > " ("Delivery > Delivery time"); '' before any heading. */
  heading: string;
  /** The text under the heading, trimmed: what the bot answers with. */
  text: string;
}

export interface KnowledgeAnswer {
  answer: string;
  /** 0–1: the share of the question's meaning the passage covers; compared with `knowledge_threshold`. */
  score: number;
  source: string;
  heading: string;
}

export interface KnowledgeBase {
  /** The most relevant passage, or null when no passage shares a word with the question. */
  search(text: string): KnowledgeAnswer | null;
}

// Words a question is phrased with rather than about ("can I get", "tell me", "how much"), on top of the
// function words intents also discount.
const QUESTION_WORDS = new Set(['get', 'tell', 'know', 'much', 'many', 'want', 'need', 'like']);
// A query word found in the passage only as a longer word or a near spelling ("deliver" in "delivery") is
// weaker evidence than the word itself.
const INEXACT_MATCH = 0.75;

/** The passages of a page: one per heading with text under it (ATX headings; fenced code is not a heading). */
export function splitPassages(page: KnowledgePage): Passage[] {
  const passages: Passage[] = [];
  const path: string[] = [];
  let body: string[] = [];
  let fenced = false;
  const flush = () => {
    const text = body.join('\n').trim();
    if (text !== '') passages.push({ source: page.source, heading: path.filter(Boolean).join(' > '), text });
    body = [];
  };
  for (const line of page.markdown.split(/\r?\n/)) {
    if (/^\s{0,3}(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (heading === null) {
      body.push(line);
      continue;
    }
    flush();
    const level = heading[1].length;
    path.length = level; // a heading closes every deeper one
    path[level - 1] = heading[2];
  }
  flush();
  return passages;
}

/** Index terms and query terms alike: the intents' words and stems, without function and question words. */
function term(word: string): string | null {
  return STOP_WORDS.has(word) || QUESTION_WORDS.has(word) ? null : stem(word);
}

/** The stems of the words the pages use (not function or question words): topics for the intent matcher. */
export function knowledgeStems(pages: KnowledgePage[]): Set<string> {
  const stems = new Set<string>();
  for (const p of pages.flatMap(splitPassages)) {
    for (const word of tokens(`${p.heading} ${p.text}`)) {
      const t = term(word);
      if (t !== null) stems.add(t);
    }
  }
  return stems;
}

// How many of the best BM25 results are compared on how much of the question they cover.
const CANDIDATES = 5;

export function createKnowledgeBase(pages: KnowledgePage[]): KnowledgeBase {
  const passages = pages.flatMap(splitPassages);
  // A passage's own heading ("Payment methods") says what it is about; the headings above it ("Payments") are
  // shared with its siblings and say less, so they are a field of their own with a smaller boost.
  const index = new MiniSearch<{ id: number; title: string; section: string; text: string }>({
    fields: ['title', 'section', 'text'],
    tokenize: (text) => tokens(text),
    processTerm: (word) => term(word),
    searchOptions: {
      boost: { title: 3, section: 1.5 },
      prefix: (word) => word.length >= 3,
      fuzzy: (word) => (word.length >= 5 ? 0.2 : false),
      combineWith: 'OR',
    },
  });
  index.addAll(passages.map((p, id) => {
    const path = p.heading === '' ? [] : p.heading.split(' > ');
    return { id, title: path.at(-1) ?? '', section: path.slice(0, -1).join(' '), text: p.text };
  }));

  // Passage frequency of each term, for weighting the question's words the same way BM25 ranks with them.
  const frequency = new Map<string, number>();
  for (const p of passages) {
    const terms = new Set(tokens(`${p.heading} ${p.text}`).map(term));
    for (const t of terms) if (t !== null) frequency.set(t, (frequency.get(t) ?? 0) + 1);
  }
  const weight = (t: string) => Math.log(1 + passages.length / Math.max(1, frequency.get(t) ?? 0));

  return {
    search(text) {
      const words = tokens(text).slice(0, MAX_QUERY_WORDS);
      const results = index.search(words.join(' ')).slice(0, CANDIDATES);
      if (results.length === 0) return null;
      // MiniSearch's BM25 score finds the candidates but has no upper bound (it grows with the number of query
      // terms, their rarity and the boosts), so it cannot be compared with a fixed threshold. The score is
      // instead the share of the question's words, weighted by rarity (IDF), that the passage contains: 1 when
      // it has every word, about 0 when it only shares a common one. A word found in no passage counts in full
      // against the answer: "what is the best time to visit paris" shares only "time" with the pages. The
      // answer is the candidate covering most of the question; among equals, BM25's order (a word in the
      // passage's own heading, or said more often in a shorter passage, ranks first).
      const asked = [...new Set(words.map(term))].filter((t) => t !== null);
      // Numbers alone ask about nothing: a "2" sent after its menu was gone is no question about a page that says 2.
      if (!asked.some((t) => /\p{L}/u.test(t))) return null;
      const total = asked.reduce((sum, t) => sum + weight(t), 0);
      const coverage = (result: (typeof results)[number]) => {
        let found = 0;
        for (const t of asked) if (result.queryTerms.includes(t)) found += weight(t) * (t in result.match ? 1 : INEXACT_MATCH);
        return total === 0 ? 0 : found / total;
      };
      let best = results[0];
      let score = coverage(best);
      for (const result of results.slice(1)) {
        const covered = coverage(result);
        if (covered > score + 1e-9) [best, score] = [result, covered];
      }
      const passage = passages[best.id as number];
      return { answer: passage.text, score, source: passage.source, heading: passage.heading };
    },
  };
}

/** What a bot's knowledge pages may come to, all together. */
export const MAX_KNOWLEDGE_BYTES = 16 * 1024 * 1024;

/** Whether a path is `dir` or inside it. */
function inside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (rel !== '..' && !rel.startsWith('..' + sep) && !isAbsolute(rel));
}

/**
 * Reads the Markdown pages a bot's `knowledge` globs match, relative to the bot file's directory, in a stable
 * order (sorted, each page once); sources are the paths relative to that directory, with forward slashes.
 * Only files inside that directory are read: a page matched outside it (`../`, a brace like `{..,x}`, or a
 * symbolic link leading out) refuses the bot, since its pages are answered to anyone who chats with it.
 */
export async function loadKnowledge(botFile: string, globs: string[]): Promise<KnowledgePage[]> {
  const dir = dirname(resolve(botFile));
  const files = new Set<string>();
  for (const pattern of globs) {
    for await (const file of glob(pattern, { cwd: dir })) files.add(resolve(dir, file));
  }
  const realDir = await realpath(dir);
  const pages: KnowledgePage[] = [];
  let total = 0;
  for (const file of [...files].sort()) {
    const source = relative(dir, file).split(sep).join('/');
    if (!inside(dir, file) || !inside(realDir, await unreadable(botFile, source, () => realpath(file)))) {
      throw new BotgateError('BG_ERR_BOT_INVALID', `${botFile}: knowledge: ${source} is outside the bot file's folder; only pages inside it are read`);
    }
    // Regular files of a bounded total (they are stored with each bot version and indexed in memory).
    const info = await unreadable(botFile, source, () => stat(file));
    if (!info.isFile()) continue;
    total += info.size;
    if (total > MAX_KNOWLEDGE_BYTES) throw new BotgateError('BG_ERR_BOT_INVALID', `${botFile}: knowledge: the pages come to more than ${MAX_KNOWLEDGE_BYTES} bytes`);
    pages.push({ source, markdown: await unreadable(botFile, source, () => readFile(file, 'utf8')) });
  }
  return pages;
}

const READ_FAILURES: Record<string, string> = {
  ENOENT: 'no such file', ELOOP: 'a loop of symbolic links', EACCES: 'permission denied', EPERM: 'permission denied',
};

/**
 * A page the globs matched but that cannot be read (a dangling symbolic link, one that loops, a file without read
 * permission) is a problem of the bot's files, named like the others: not an internal error (500, exit 1).
 */
async function unreadable<T>(botFile: string, source: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    // Other failures (EMFILE, EIO) are the machine's, not the bot's: they stay internal errors.
    const reason = READ_FAILURES[(error as NodeJS.ErrnoException).code ?? ''];
    if (reason === undefined) throw error;
    throw new BotgateError('BG_ERR_BOT_INVALID', `${botFile}: knowledge: ${source}: cannot read the page: ${reason}`, { cause: error });
  }
}
