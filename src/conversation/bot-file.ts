// Reads a bot file (YAML, or JSON, which YAML includes; docs/bots.md): parses and validates it, and formats
// the problems found one per line, as `npx botgate bots validate` prints them.
import { readFile, stat } from 'node:fs/promises';
import { isScalar, LineCounter, parseDocument, type ParsedNode } from 'yaml';
import type { BotDefinition, BotProblem } from './bot.ts';
import { validateBot } from './bot-validate.ts';
import { at } from './bot-problems.ts';

/** Enough for shared anchors, too few for an alias "billion laughs". */
const MAX_ALIAS_COUNT = 100;

/**
 * Parses and validates a bot file's text. `source` names where the text came from; problems carry only key
 * paths, and formatProblems puts the source in front.
 */
export function parseBot(text: string, source: string): { bot: BotDefinition } | { problems: BotProblem[] } {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: sameKey });
  if (document.errors.length > 0) {
    // A .json file is read as YAML (JSON is YAML), but its author wrote JSON: the error is named so.
    const kind = /\.json$/i.test(source) ? 'JSON' : 'YAML';
    return {
      problems: document.errors.map((error) => {
        const { line, col } = lines.linePos(error.pos[0]);
        return { path: '', message: `${kind} syntax error at line ${line}, column ${col}: ${yamlErrorText(error)}` };
      }),
    };
  }
  let raw: unknown;
  try {
    raw = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    return { problems: [{ path: '', message: `cannot read ${source} as YAML: ${(error as Error).message}` }] };
  }
  const unstorable = unstorableText(raw, '');
  if (unstorable.length > 0) return { problems: unstorable };
  return validateBot(raw);
}

/** The first line of a YAML parse error, in this project's words where the library's are advice to a programmer. */
function yamlErrorText(error: { code: string; message: string }): string {
  if (error.code === 'MULTIPLE_DOCS') return 'the file holds several YAML documents (a line "---" starts another); a bot file is one';
  return error.message.split('\n')[0];
}

/**
 * Keys are the same when they become the same text of the bot: `1:` and `"1":` (or `0x1:`, `true:` and `"true":`, `~:`
 * and `"":`) are one option, and YAML's own check (same type and value) let the later silently replace the earlier.
 */
function sameKey(a: ParsedNode, b: ParsedNode): boolean {
  return a === b || (isScalar(a) && isScalar(b) && keyText(a.value) === keyText(b.value));
}

/** A scalar key as toJS() makes it an object key (null becomes ""). */
function keyText(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}

/**
 * Keys and strings holding NUL ("\0" in YAML) or an unpaired UTF-16 surrogate ("\ud800"), as the API refuses in
 * JSON bodies: PostgreSQL cannot store NUL in text (a bot's name failed its save as a 500), and a lone surrogate
 * would be stored as U+FFFD, changed.
 */
function unstorableText(value: unknown, path: string, within = new Set<object>()): BotProblem[] {
  const problem = (where: string, text: string): BotProblem[] => {
    if (text.includes('\u0000')) return [{ path: where, message: 'may not contain the NUL character (U+0000)' }];
    if (!text.isWellFormed()) return [{ path: where, message: 'may not contain an unpaired UTF-16 surrogate (\\uD800–\\uDFFF)' }];
    return [];
  };
  if (typeof value === 'string') return problem(path, value);
  if (value === null || typeof value !== 'object') return [];
  // An alias inside the node it names (`a: &x [*x]`) is a cyclic value: reported, not followed until the stack
  // overflows. Only the nodes above count: one anchor used twice side by side is no cycle.
  if (within.has(value)) return [{ path, message: 'an alias refers to a node that contains it (a cycle)' }];
  within.add(value);
  const problems = Array.isArray(value)
    ? value.flatMap((item, index) => unstorableText(item, at(path, index), within))
    : Object.entries(value).flatMap(([key, item]) => [...problem(at(path, key), key), ...unstorableText(item, at(path, key), within)]);
  within.delete(value);
  return problems;
}

const BOT_FILE_EXTENSION = /\.(ya?ml|json)$/i;
/** Far above any hand-written bot (the demo is 12 KB); validating takes about 4.5 s per MB. */
export const MAX_BOT_FILE_BYTES = 2 * 1024 * 1024;

export async function loadBotFile(
  path: string,
): Promise<{ bot: BotDefinition; path: string } | { problems: BotProblem[]; path: string }> {
  let text: string;
  // A bot is a YAML or JSON file of a sensible size: another path (a device, a log, a system file) is refused before
  // it is read, so a wrong path can neither exhaust the gateway's memory nor echo the file's lines back as problems.
  if (!BOT_FILE_EXTENSION.test(path)) return { problems: [{ path: '', message: 'a bot file is YAML or JSON: its name ends in .yaml, .yml or .json' }], path };
  try {
    const info = await stat(path);
    if (info.isFile() && info.size > MAX_BOT_FILE_BYTES) {
      return { problems: [{ path: '', message: `the bot file is ${info.size} bytes; at most ${MAX_BOT_FILE_BYTES} are read` }], path };
    }
    if (!info.isFile() && !info.isDirectory()) return { problems: [{ path: '', message: 'cannot read the bot file: not a regular file' }], path };
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory, not a file' : (error as Error).message;
    return { problems: [{ path: '', message: `cannot read the bot file: ${reason}` }], path };
  }
  return { ...parseBot(text, path), path };
}

/** One line per problem: `bots/demo/bot.yaml: flows.x.next_state: unknown state "y"`. */
export function formatProblems(problems: readonly BotProblem[], source: string): string {
  return problems
    .map((problem) => (problem.path === '' ? `${source}: ${problem.message}` : `${source}: ${problem.path}: ${problem.message}`))
    .join('\n');
}
