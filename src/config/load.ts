// Loads the configuration: defaults → optional config file (YAML or JSON) → BOTGATE_* environment, validated
// and frozen. The only module that reads process.env.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isPair, isScalar, isSeq, parseDocument, visit } from 'yaml';
import { z } from 'zod';
import { configSchema, type Config } from './schema.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly code = 'BG_ERR_CONFIG_INVALID';

  /** As printed when start-up or a command stops: the code after the first line (the one that names the key). */
  get printed(): string {
    const [first, ...rest] = this.message.split('\n');
    return [`${first.replace(/:$/, '')} (${this.code})${first.endsWith(':') ? ':' : ''}`, ...rest].join('\n');
  }
}

export interface LoadOptions {
  /** Environment to read; defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** A config file; defaults to BOTGATE_CONFIG. */
  file?: string;
  /** Values that win over everything (command-line flags). */
  overrides?: Record<string, unknown>;
}

/** Env variable name for a config path: `delivery.concurrency` → BOTGATE_DELIVERY__CONCURRENCY. */
export function envName(path: readonly (string | number)[]): string {
  return 'BOTGATE_' + path.map((p) => String(p).toUpperCase()).join('__');
}

export function loadConfig(options: LoadOptions = {}): Readonly<Config> {
  const env = options.env ?? process.env;
  const file = options.file ?? nonEmpty(env.BOTGATE_CONFIG);
  const raw: Record<string, unknown> = file ? readConfigFile(file) : {};
  // A bot file named in the config file is found next to it (as a bot's knowledge next to the bot), wherever the
  // gateway runs from.
  if (file && Array.isArray(raw.bots)) {
    for (const bot of raw.bots) {
      if (bot && typeof bot === 'object' && typeof (bot as { file?: unknown }).file === 'string') {
        (bot as { file: string }).file = resolve(dirname(resolve(file)), (bot as { file: string }).file);
      }
    }
  }
  const sources = new Map<string, string>(); // config path → where its value came from
  const fromEnv = new Set<string>();

  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('BOTGATE_') || name === 'BOTGATE_CONFIG' || name.startsWith('BOTGATE_TEST_')) continue;
    if (nonEmpty(value) === undefined) continue; // an empty variable counts as unset
    const path = name.slice('BOTGATE_'.length).toLowerCase().split('__');
    const leaf = schemaAt(path);
    if (!leaf) throw new ConfigError(`${name}: not a configuration key`);
    setPath(raw, path, coerceEnv(name, value as string, leaf));
    sources.set(path.join('.'), name);
    fromEnv.add(path.join('.'));
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(raw, key.split('.'), value);
    sources.set(key, `--${key.replaceAll('_', '-')}`);
  }

  /** Where the value at a config path was set: the variable or option, or the file and the path in it. */
  const where = (path: readonly PropertyKey[]): string => {
    const key = path.map(String).join('.');
    // The setting the path is in, or one of its parents (a list item's issue is the list's variable's).
    const source = path.map((_, i) => sources.get(path.slice(0, path.length - i).map(String).join('.'))).find((s) => s !== undefined);
    return source ? (source === sources.get(key) ? source : `${source} (${key})`) : file ? `${file}: ${key || '(root)'}` : key;
  };
  const problems = resolveSecretReferences(raw, env, (path, named) => {
    // A value refused is blamed on the key that names its variable: the file has no key `client_secret`.
    const from = sources.get(path.split('.')[0]) ?? file;
    sources.set(path, from ? `${from}: ${named}` : named);
  }).map((problem) => `${where(problem.path)}: ${problem.message}`);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    problems.push(...result.error.issues.map((issue) => {
      const key = issue.path.join('.');
      const at = where(issue.path);
      // A value of the wrong kind is quoted (a secret is never of the wrong kind: they are all text).
      const value = valueAt(raw, issue.path);
      if ((issue.code === 'invalid_type' || issue.code === 'invalid_union') && (typeof value === 'string' || typeof value === 'number')) {
        const kind = issue.code === 'invalid_type' ? issue.expected : 'union';
        const expected = ({ number: 'expected a number', int: 'expected a whole number', boolean: 'expected true or false', string: 'expected text', array: 'expected a list ([a, b])' } as Record<string, string>)[kind];
        const what = expected ?? issue.message.replace(/^Invalid input: /, '').replace(/, received \w+$/, '');
        return `${at}: ${what}, got ${JSON.stringify(value)}${typeof value === 'string' ? hint(value, key, kind, fromEnv.has(String(issue.path[0]))) : ''}`;
      }
      const extra = issue.code === 'unrecognized_keys' ? ` (${issue.keys.join(', ')})` : '';
      return `${at}: ${issue.message}${extra}`;
    }));
  }
  // Every problem at once, so one restart fixes them all.
  if (problems.length) throw new ConfigError(invalidConfiguration(problems));
  const config = deepFreeze(result.data!);
  places.set(config, where);
  return config;
}

/** Where each loaded configuration's values were set (see configPlace). */
const places = new WeakMap<object, (path: readonly PropertyKey[]) => string>();

/**
 * Where a path of a loaded configuration was set, as the loader's messages name it (`botgate.yaml: apps.0`,
 * `BOTGATE_APPS (apps.0)`): problems found later, applying the declarations, are named the same way.
 */
export function configPlace(config: object, path: readonly PropertyKey[]): string {
  return places.get(config)?.(path) ?? path.map(String).join('.');
}

/** Problems of the configuration, each starting with where it was set: one in one line (as a start-up failure is); several, one line each. */
export function invalidConfiguration(problems: readonly string[]): string {
  return problems.length === 1 ? `invalid configuration: ${problems[0]}` : `invalid configuration:\n  ${problems.join('\n  ')}`;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`config file ${file}: ${(error as Error).message}`);
  }
  const doc = parseDocument(text); // YAML (1.2, unless the file says %YAML 1.1) is a superset of JSON
  // The first line of an error says what and where; the parser goes on to quote the line, which may hold a secret.
  if (doc.errors.length) {
    // The library's words for a second document are advice to a programmer (use parseAllDocuments()).
    const [error] = doc.errors;
    const first = error.message.split('\n')[0].replace(/:$/, '');
    const text = error.code === 'MULTIPLE_DOCS' ? first.replace(/^.*?(?= at line|$)/, 'the file holds several YAML documents (a line "---" starts another); a config file is one') : first;
    throw new ConfigError(`config file ${file}: ${text}`);
  }
  const surprise = leadingZero(doc);
  if (surprise) throw new ConfigError(`config file ${file}: ${surprise}`);
  const parsed: unknown = doc.toJS();
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config file ${file}: must hold a mapping`);
  return parsed as Record<string, unknown>;
}

/**
 * A number written with a leading zero (`port: 017`): YAML 1.2 reads it as decimal 17, YAML 1.1 and habit as octal 15.
 * Refused, naming the key, rather than read one way or the other; 0o17 is octal, 0x1F hexadecimal.
 */
function leadingZero(doc: ReturnType<typeof parseDocument>): string | null {
  if (doc.directives?.yaml.version === '1.1') return null; // the file asked for 1.1's reading: 017 is octal there
  let found: string | null = null;
  visit(doc, {
    Scalar(_key, node, path) {
      if (typeof node.value !== 'number' || !/^[-+]?0\d/.test(node.source ?? '')) return;
      const at: (string | number)[] = [];
      path.forEach((step, i) => {
        if (isPair(step) && isScalar(step.key)) at.push(String(step.key.value));
        if (isSeq(step)) at.push(step.items.indexOf((path[i + 1] ?? node) as never));
      });
      const [, sign, digits] = /^([-+]?)0+(\d.*)$/.exec(node.source!)!;
      found = `${at.join('.')}: ${node.source} has a leading zero, which YAML 1.2 reads as ${node.value} and YAML 1.1 as octal: write ${sign}${digits} (decimal) or ${sign}0o${digits} (octal), or quote it if it is text`;
      return visit.BREAK;
    },
  });
  return found;
}

/** The value at a path of the raw (unvalidated) configuration. */
function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let node = raw;
  for (const part of path) node = node && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[part] : undefined;
  return node;
}

/**
 * A declaration given as a plain text (`apps: [kore-prod]`): what it is declared by, and the keys the text most
 * likely belongs to (with … for the other required keys).
 */
const DECLARED: Record<string, { by: string; keys: (value: string) => Record<string, string> }> = {
  bots: { by: 'a bot is declared by its file', keys: (file) => ({ file }) },
  apps: { by: 'an app is declared by its name', keys: (name) => ({ name }) },
  endpoints: {
    by: 'an endpoint is declared by its name and url',
    keys: (value) => (/^https?:\/\//i.test(value) ? { name: '…', url: value } : { name: value, url: 'https://…' }),
  },
  channels: { by: 'a channel is declared by its name, bot, app and mode (sync or async)', keys: (name) => ({ name, bot: '…', app: '…', mode: 'sync' }) },
};

/**
 * What to write instead of a text where a number or a boolean belongs (a duration with its unit, yes for true), or
 * where a declaration belongs (a bot is `{file: …}`, an app `{name: …}`: a text alone is not one).
 */
function hint(value: string, key: string, expected: string, fromEnv: boolean): string {
  const declared = /^(bots|apps|endpoints|channels)(\.\d+)?$/.exec(key)?.[1];
  if (declared) {
    const { by, keys } = DECLARED[declared];
    const entries = Object.entries(keys(value));
    if (fromEnv) return ` (${by}: write [{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')}}])`;
    const item = entries.length === 1 ? `${entries[0][0]}: ${entries[0][1]}` : `{${entries.map(([k, v]) => `${k}: ${v}`).join(', ')}}`;
    return ` (${by}: write "- ${item}" as an item of ${declared})`;
  }
  const unit = /[._](ms|seconds|minutes|hours|days|bytes)$/.exec(key)?.[1];
  if (unit && (expected === 'number' || expected === 'int') && /^\s*[-+.\d]/.test(value)) return ` (a number of ${unit === 'ms' ? 'milliseconds' : unit}, without a unit or quotes)`;
  if (expected !== 'string' && /^(y|yes|n|no|on|off)$/i.test(value)) return ' (YAML 1.2 reads yes, no, on and off as text: write true or false)';
  return '';
}

/** Words an environment variable may give a boolean key. */
const TRUE = /^(1|true|yes|on)$/i;
const FALSE = /^(0|false|no|off)$/i;

/**
 * A number as the config file's YAML 1.2 writes one: decimal (without a leading zero, refused as in the file),
 * 0x hexadecimal or 0o octal; undefined for anything else (0b…, 1_000, Infinity, "12 s").
 */
function parseNumber(text: string): number | undefined {
  const t = text.trim();
  if (/^0x[0-9a-f]+$/i.test(t)) return parseInt(t.slice(2), 16);
  if (/^0o[0-7]+$/i.test(t)) return parseInt(t.slice(2), 8);
  if (/^[-+]?(?:(?:0|[1-9]\d*)(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?$/i.test(t)) return Number(t);
  return undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** The zod schema of one config path, unwrapped from defaults and optionals. */
function schemaAt(path: string[]): z.ZodType | undefined {
  let node: z.ZodType = configSchema;
  for (const part of path) {
    node = unwrap(node);
    if (!(node instanceof z.ZodObject)) return undefined;
    const child = (node.shape as Record<string, z.ZodType>)[part];
    if (!child) return undefined;
    node = child;
  }
  return unwrap(node);
}

function unwrap(node: z.ZodType): z.ZodType {
  let current: z.ZodType = node;
  for (;;) {
    if (current instanceof z.ZodDefault || current instanceof z.ZodOptional || current instanceof z.ZodPrefault) {
      current = (current as unknown as { unwrap(): z.ZodType }).unwrap();
    } else {
      return current;
    }
  }
}

/** Environment values are strings: turn them into the type the schema wants, or say why not. */
function coerceEnv(name: string, value: string, leaf: z.ZodType): unknown {
  const text = value.trim();
  if (leaf instanceof z.ZodUnion) {
    // e.g. `auto | true | false`: the first option the text reads as (a boolean in any of the words below).
    for (const option of (leaf as z.ZodUnion<z.ZodType[]>).options.map(unwrap)) {
      if (option instanceof z.ZodBoolean && (TRUE.test(text) || FALSE.test(text))) return TRUE.test(text);
      if (option instanceof z.ZodNumber && parseNumber(text) !== undefined) return parseNumber(text);
    }
    return value;
  }
  if (leaf instanceof z.ZodNumber) {
    const n = parseNumber(text);
    if (n === undefined) throw new ConfigError(`${name}: expected a number (decimal without a leading zero, 0x hex or 0o octal), got ${JSON.stringify(value)}`);
    return n;
  }
  if (leaf instanceof z.ZodBoolean) {
    if (TRUE.test(text)) return true;
    if (FALSE.test(text)) return false;
    throw new ConfigError(`${name}: expected true or false (or 1, 0, yes, no, on, off), got ${JSON.stringify(value)}`);
  }
  if (leaf instanceof z.ZodArray) {
    if (text.startsWith('[')) {
      try {
        return JSON.parse(text);
      } catch {
        throw new ConfigError(`${name}: expected a JSON array or a comma-separated list`);
      }
    }
    const items = text.split(',').map((s) => s.trim()).filter(Boolean);
    // An item that is no number stays text: the schema names it (BOTGATE_X (x.2): expected a number, got "abc").
    return unwrap((leaf as z.ZodArray<z.ZodType>).element) instanceof z.ZodNumber ? items.map((item) => parseNumber(item) ?? item) : items;
  }
  if (leaf instanceof z.ZodObject) {
    throw new ConfigError(`${name}: is a group of settings; set its keys (${name}__KEY) instead`);
  }
  if (leaf instanceof z.ZodRecord) {
    throw new ConfigError(`${name}: is a map of names, set in the config file only (docs/configuration.md)`);
  }
  return value;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * A secret kept out of files and command lines in the environment variable `name` (a config key ending in `_env`, a
 * CLI option ending in `-env`): its value without the newline a variable filled from a secret file often ends in
 * (the other side never has it); undefined when unset or empty.
 */
export function envSecret(name: string, env: Record<string, string | undefined> = process.env): string | undefined {
  return nonEmpty(env[name])?.trim();
}

/**
 * Declared resources keep secrets out of the file: `client_secret_env: KORE_SECRET` (and any key ending in
 * `_env` inside a declaration or its `auth`) is replaced by that variable's value. The problems are returned, all of
 * them (each variable that is not set, at the key naming it; a secret given in both forms, at its declaration), to
 * stop start-up with the other problems of the file.
 */
function resolveSecretReferences(
  raw: Record<string, unknown>, env: Record<string, string | undefined>, resolved: (path: string, named: string) => void,
): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  for (const group of ['apps', 'endpoints', 'channels']) {
    const list = raw[group];
    if (!Array.isArray(list)) continue;
    list.forEach((item, index) => {
      if (!item || typeof item !== 'object') return;
      const targets = [item as Record<string, unknown>];
      const auth = (item as Record<string, unknown>).auth;
      if (auth && typeof auth === 'object' && !Array.isArray(auth)) targets.push(auth as Record<string, unknown>);
      for (const target of targets) {
        for (const key of Object.keys(target)) {
          if (!key.endsWith('_env') || typeof target[key] !== 'string') continue;
          const name = target[key] as string;
          const base = key.slice(0, -'_env'.length);
          const declaration = [group, index, ...(target === item ? [] : ['auth'])];
          // Both forms: the variable's value won in silence over the file's, which its reader takes for the one in use.
          if (Object.hasOwn(target, base)) {
            problems.push({ path: declaration, message: `give one of ${base} and ${key}` });
            continue;
          }
          const value = envSecret(name, env);
          if (value === undefined) {
            problems.push({ path: [...declaration, key], message: `the environment variable ${name} is not set` });
            continue;
          }
          target[base] = value;
          const at = `${group}.${index}${target === item ? '' : '.auth'}.`;
          resolved(at + base, `${at}${key} (the value of ${name})`);
          if (target !== item) delete target[key];
        }
      }
    });
  }
  return problems;
}
