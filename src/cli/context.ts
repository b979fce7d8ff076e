// What CLI commands share: loading config from the global --config flag, opening the services, printing.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, envSecret, loadConfig } from '../config/load.ts';
import { createServices, type Services } from '../services.ts';
import { httpBase } from '../listen-address.ts';
import { BotgateError } from '../errors.ts';
import { isCursorOf } from '../http/paging.ts';
import type { IdPrefix } from '../ids.ts';

export function configFrom(command: Command) {
  const globals = command.optsWithGlobals() as { config?: string };
  return loadConfig({ file: globals.config });
}

/** A command refused for a reason its message gives, that is neither a bad setting nor a coded error: exit 2. */
export class Refusal extends Error {
  override name = 'Refusal';
}

/**
 * Opens the store (applying migrations), runs fn, closes. A SQLite data directory that does not exist is refused
 * unless `create` (migrate): a command run in the wrong directory would make a store (and a master key) there that
 * no gateway uses, and report on it. The master key is held from its check to the close (a rotation waits for the
 * command: what it seals with the key it checked is sealed again), unless `holdKey: false` (the rotation itself).
 */
export async function withServices<T>(command: Command, fn: (services: Services) => Promise<T>, options: { create?: boolean; holdKey?: boolean } = {}): Promise<T> {
  const config = configFrom(command);
  if (!config.database_url && !options.create && !existsSync(config.data_dir)) {
    throw new ConfigError(
      `no data directory at ${resolve(config.data_dir)} (data_dir, BOTGATE_DATA_DIR): run the CLI where the gateway runs, or give it the gateway's settings (BOTGATE_DATA_DIR, BOTGATE_DATABASE_URL or --config); botgate migrate makes a new store`,
    );
  }
  const services = await createServices(config, { holdKey: options.holdKey !== false });
  try {
    return await fn(services);
  } finally {
    await services.close();
  }
}

export function print(text: string): void {
  process.stdout.write(text + '\n');
}

/**
 * A list command's --cursor, refused (exit 2) unless it is an id of the listed kind, as the API refuses one: another
 * list's id sorts anywhere among these ids, so the page would be empty or everything. `what`: such an id, in words.
 */
export function checkCursor(cursor: string | undefined, ids: IdPrefix, what: string): void {
  if (cursor !== undefined && !isCursorOf(cursor, ids)) throw new Refusal(`--cursor: not a cursor of this list (${what}, ${ids}_…)`);
}

/**
 * Prints a page of a list command that asked for one row more than --limit, as the API's lists do: the rows (a JSON
 * array with --json, else a table) on stdout and, when there are more, the cursor of the next page on stderr.
 */
export function printPage<R>(rows: R[], options: { limit: number; json?: boolean }, view: (row: R) => Record<string, unknown> & { id: string }, columns: string[], command: string): void {
  const views = rows.slice(0, options.limit).map(view);
  if (options.json) printJson(views);
  else printTable(views, columns);
  if (rows.length > options.limit) process.stderr.write(`more: botgate ${command} --cursor ${views.at(-1)!.id} (with the same options)\n`);
}

export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

/** A plain text table: columns padded to their widest cell. */
export function printTable(rows: Record<string, unknown>[], columns: string[]): void {
  if (rows.length === 0) return print('(none)');
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : Array.isArray(v) ? v.join(',') : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  print(columns.map((c, i) => c.toUpperCase().padEnd(widths[i])).join('  '));
  for (const row of rows) print(columns.map((c, i) => cell(row[c]).padEnd(widths[i])).join('  ').trimEnd());
}

/** A date, or a date and time with optional seconds, fraction and zone (without a zone it is local time). */
const ISO_TIME = /^\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)?)?$/i;

/** A time given as ISO 8601 or as an age ("90s", "30m", "2h", "7d" ago); anything else is a bad option value (exit 2). */
export function parseWhen(text: string, now: number, option: string): number {
  const age = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(text.trim());
  // Whole milliseconds, as stored: PostgreSQL's bigint columns refuse 1000.1 (1.0001s) as a bad value. An age past the
  // dates a time can have (±8.64e15 ms) is none either: PostgreSQL refused -8.64e27 the same way.
  // ISO 8601 only: Date.parse also takes "5" (May 2001) or "March 7" (of 2001), so an age without its unit was a date.
  const at = age
    ? Math.round(now - Number(age[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[age[2] as 's']!)
    : ISO_TIME.test(text.trim()) ? Date.parse(text.trim()) : Number.NaN;
  if (Number.isNaN(new Date(at).getTime())) throw new BotgateError('BG_ERR_VALIDATION', `${option}: not a time: ${text} (use ISO 8601 or an age like 2h, 7d)`);
  return at;
}

/** The gateway's address as clients reach it: `--public-url` when given, else public_url, else http://host:port (as the gateway prints it). */
export function publicBase(config: Services['config'], given?: string): string {
  return (given ?? config.public_url ?? httpBase(config.host, config.port)).replace(/\/$/, '');
}

/** The options of the gateway, the same for `npm start -- …` (main.ts) and `botgate serve`. */
export function serveOptions(command: Command): Command {
  return command
    .option('-p, --port <port>', 'port to listen on (BOTGATE_PORT)', numberOption(0, 65_535, true))
    .option('--host <host>', 'address to listen on (BOTGATE_HOST)');
}

/** A number as people write it: decimal digits, a fraction after a point where one is taken (a sign where below 0 is). */
const DECIMAL_INTEGER = /^\d+$/;
const DECIMAL = /^\d+(?:\.\d+)?$/;

/**
 * The one parser of every numeric option: the text must be a plain decimal number (an integer when asked) within
 * [min, max], else commander stops with "error: option '--x <n>' argument '1e1' is invalid. …" (the CLI exits 2).
 * Number() alone took `1e1`, `0x10`, `0b1`, ` 5` and `5.`: no one means those, and a typo should not pass as one.
 */
export function numberOption(min: number, max: number, integer = false): (text: string) => number {
  return (text) => {
    const value = Number(text);
    const digits = min < 0 && text.startsWith('-') ? text.slice(1) : text;
    if (!(integer ? DECIMAL_INTEGER : DECIMAL).test(digits) || !Number.isFinite(value) || value < min || value > max) {
      throw new InvalidArgumentError(`expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, in decimal digits`);
    }
    return value;
  };
}

/**
 * A secret option in two forms: `--x <value>`, which `ps` shows and shell history keeps, and `--x-env <name>`, the
 * environment variable holding it (as the config file's `_env` keys); one of the two. The action reads
 * `options.x ?? options.xEnv`; a variable that is not set is a bad option value (exit 2).
 */
export function secretOption(command: Command, flags: `--${string} <${string}>`, description: string): Command {
  const long = flags.split(' ')[0];
  const attribute = long.slice(2).replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
  return command
    .option(flags, `${description} (ps shows it, shell history keeps it: prefer ${long}-env)`)
    .addOption(new Option(`${long}-env <name>`, `the same, read from the environment variable <name>`).conflicts(attribute).argParser((name: string) => {
      const value = envSecret(name);
      if (value === undefined) throw new InvalidArgumentError(`the environment variable ${name} is not set`);
      return value;
    }));
}
