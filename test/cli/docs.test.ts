// Every CLI command README.md and docs/ name exists, with the options they give it (and those given to `npm start --`):
// the docs stay true to the CLI.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.ts';

const ROOT = new URL('../../', import.meta.url);

/** Each `botgate …` command line in the code of a Markdown file (fenced blocks and inline code), up to its comment or description. */
function commandLines(markdown: string): string[] {
  const code = [...markdown.matchAll(/```[^\n]*\n([\s\S]*?)```/g)].flatMap((m) => m[1].split('\n'));
  const inline = [...markdown.replace(/```[\s\S]*?```/g, '').matchAll(/`([^`]+)`/g)].map((m) => m[1].replaceAll('\n', ' '));
  return [...code, ...inline]
    // `npm start -- OPTIONS` takes the options of `botgate serve` (and the global --config).
    .map((line) => line.replace(/^(\s*)npm start -- /, '$1botgate serve '))
    .map((line) => /^\s*(?:\$\s*)?(?:npx |npm exec -- )?botgate\s+(\S.*)$/.exec(line)?.[1])
    .filter((rest): rest is string => rest !== undefined && rest !== 'is running') // the start-up banner, not a command
    .map((rest) => rest.split(/\s{2,}|\s#/)[0].trim());
}

/** Why a command line does not parse as the CLI's, or null. */
function problem(program: Command, line: string): string | null {
  let command = program;
  const words = line.split(/\s+/).map((w) => w.replace(/^\[|\]$/g, '')).filter((w) => w !== '' && w !== '\\');
  let positional = 0;
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (word.startsWith('-')) {
      if (word === '--help' || word === '-h') continue;
      let option = undefined;
      for (let at: Command | null = command; at && !option; at = at.parent) option = at.options.find((o) => o.long === word || o.short === word);
      if (!option) return `${command.name()} has no option ${word}`;
      if (option.required || option.optional) i++; // its value
      continue;
    }
    if (command.commands.length > 0) {
      for (const name of word.split('|')) {
        if (!command.commands.some((c) => c.name() === name)) return `${command.name()} has no command ${name}`;
      }
      if (word.includes('|')) return null; // alternatives: each exists
      command = command.commands.find((c) => c.name() === word)!;
      continue;
    }
    const args = command.registeredArguments;
    if (positional >= args.length && !args.at(-1)?.variadic) return `${command.name()} takes ${args.length} argument(s), given ${word}`;
    positional++;
  }
  const required = command.registeredArguments.filter((a) => a.required).length;
  if (command.commands.length === 0 && positional < required && !/--help/.test(line)) return `${command.name()} needs ${required} argument(s)`;
  return null;
}

describe('CLI in the docs', () => {
  it('names only commands and options the CLI has', () => {
    const files = ['README.md', ...readdirSync(new URL('docs/', ROOT)).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const program = buildProgram();
    const checked: string[] = [];
    const wrong: string[] = [];
    for (const file of files) {
      for (const line of commandLines(readFileSync(new URL(file, ROOT), 'utf8'))) {
        checked.push(line);
        const why = problem(program, line);
        if (why) wrong.push(`${file}: botgate ${line}: ${why}`);
      }
    }
    assert.deepEqual(wrong, []);
    // The README's command list names every command group.
    for (const group of program.commands.map((c) => c.name())) assert.ok(checked.some((line) => line.startsWith(`${group} `) || line === group), `${group} is in the docs`);
  });

  it('finds what is wrong in a command line', () => {
    const program = buildProgram();
    assert.equal(problem(program, 'endpoints list|create|enable'), null);
    assert.equal(problem(program, 'channels create my-bot --app cs-1 --mode async'), null);
    assert.match(problem(program, 'endpoints list|purge') ?? '', /no command purge/);
    assert.match(problem(program, 'apps create x --colour red') ?? '', /no option --colour/);
    assert.match(problem(program, 'bots validate') ?? '', /needs 1 argument/);
  });
});
