// Reads a bot file (YAML, or JSON, which YAML includes; docs/bots.md): parses and validates it, and formats
// the problems found one per line, as `npx botgate bots validate` prints them.
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import type { BotDefinition, BotProblem } from './bot.ts';
import { validateBot } from './bot-validate.ts';

/** Enough for shared anchors, too few for an alias "billion laughs". */
const MAX_ALIAS_COUNT = 100;

/**
 * Parses and validates a bot file's text. `source` names where the text came from; problems carry only key
 * paths, and formatProblems puts the source in front.
 */
export function parseBot(text: string, source: string): { bot: BotDefinition } | { problems: BotProblem[] } {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    return {
      problems: document.errors.map((error) => {
        const { line, col } = lines.linePos(error.pos[0]);
        return { path: '', message: `YAML syntax error at line ${line}, column ${col}: ${error.message.split('\n')[0]}` };
      }),
    };
  }
  let raw: unknown;
  try {
    raw = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    return { problems: [{ path: '', message: `cannot read ${source} as YAML: ${(error as Error).message}` }] };
  }
  return validateBot(raw);
}

export async function loadBotFile(
  path: string,
): Promise<{ bot: BotDefinition; path: string } | { problems: BotProblem[]; path: string }> {
  let text: string;
  try {
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
