// docs/configuration.md lists every configuration key with its default, and the docs name no key that does not
// exist, so the docs stay true.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { configSchema } from '../../src/config/schema.ts';

const ROOT = new URL('../../', import.meta.url);

function keys(shape: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(shape).flatMap(([key, node]) => {
    const inner = (node as { unwrap?: () => unknown }).unwrap?.() as { shape?: Record<string, unknown> } | undefined;
    return inner?.shape ? keys(inner.shape, `${prefix}${key}.`) : [`${prefix}${key}`];
  });
}

/** The rows of the key table: key → its default cell. */
function documentedDefaults(doc: string): Map<string, string> {
  return new Map([...doc.matchAll(/^\| `([a-z0-9_.]+)` \| ([^|]*) \|/gm)].map((m) => [m[1], m[2].trim()]));
}

/** The rows of the key table: key → its range cell. */
function documentedRanges(doc: string): Map<string, string> {
  return new Map([...doc.matchAll(/^\| `([a-z0-9_.]+)` \| [^|]* \| ([^|]*) \|/gm)].map((m) => [m[1], m[2].trim()]));
}

interface JsonSchema {
  type?: string; properties?: Record<string, JsonSchema>; items?: JsonSchema;
  minimum?: number; exclusiveMinimum?: number; maximum?: number; exclusiveMaximum?: number;
  minLength?: number; maxLength?: number; minItems?: number; maxItems?: number;
}

/** A key's bounds as the range column writes them: `1 to 300`, `≥ 0, whole`, `> 0, ≤ 8760`, `16+ characters`, or nothing. */
function range(node: JsonSchema): string {
  if (node.type === 'number' || node.type === 'integer') {
    const max = node.maximum === Number.MAX_SAFE_INTEGER ? undefined : node.maximum;
    const whole = node.type === 'integer' ? ', whole' : '';
    if (node.minimum !== undefined && max !== undefined) return `${node.minimum} to ${max}${whole}`;
    const low = node.minimum !== undefined ? `≥ ${node.minimum}` : node.exclusiveMinimum !== undefined ? `> ${node.exclusiveMinimum}` : null;
    const high = max !== undefined ? `≤ ${max}` : node.exclusiveMaximum !== undefined ? `< ${node.exclusiveMaximum}` : null;
    return [low, high].filter((part) => part !== null).join(', ') + whole;
  }
  if (node.type === 'array' && node.items && range(node.items) && node.minItems !== undefined && node.maxItems !== undefined) {
    return `${node.minItems} to ${node.maxItems} items, each ${range(node.items)}`;
  }
  if (node.type === 'string' && node.maxLength !== undefined) return `${node.minLength ?? 0} to ${node.maxLength} characters`;
  if (node.type === 'string' && (node.minLength ?? 0) > 1) return `${node.minLength}+ characters`;
  return '';
}

/** Each key's range, from the schema: config path → range. */
function ranges(node: JsonSchema, prefix = ''): [string, string][] {
  return Object.entries(node.properties ?? {}).flatMap(([key, child]) =>
    child.type === 'object' && child.properties ? ranges(child, `${prefix}${key}.`) : [[`${prefix}${key}`, range(child)] as [string, string]]);
}

describe('configuration docs', () => {
  it('document every key', () => {
    const doc = readFileSync(new URL('docs/configuration.md', ROOT), 'utf8');
    const all = keys(configSchema.shape);
    assert.ok(all.length > 30);
    for (const key of all) assert.ok(doc.includes(`| \`${key}\` |`), `${key} is documented`);
    const invented = [...documentedDefaults(doc).keys()].filter((key) => !all.includes(key));
    assert.deepEqual(invented, [], 'the key table lists only keys the schema has');
  });

  it('give each key the default the schema has (and so does the README\'s table of the main keys)', () => {
    const doc = readFileSync(new URL('docs/configuration.md', ROOT), 'utf8');
    const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
    // The README's rows name variables: | `BOTGATE_PORT` | `3000` | … |
    const main = [...readme.matchAll(/^\| `BOTGATE_([A-Z0-9_]+)` \| ([^|]*) \|/gm)]
      .filter((m) => m[1] !== 'CONFIG')
      .map((m) => [m[1].toLowerCase().split('__').join('.'), m[2].trim(), 'README.md'] as const);
    assert.ok(main.length > 5);
    const defaults = configSchema.parse({}) as Record<string, unknown>;
    const wrong: string[] = [];
    for (const [key, cell, file] of [...[...documentedDefaults(doc)].map(([key, cell]) => [key, cell, 'docs/configuration.md'] as const), ...main]) {
      const value = key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], defaults);
      if (value === undefined) continue; // unset, generated or derived: the cell says what happens
      const code = /^`([^`]*)`$/.exec(cell)?.[1];
      if (code === undefined && file === 'README.md') continue; // in words ("empty")
      if (code === undefined || JSON.stringify(typeof value === 'string' ? code : JSON.parse(code)) !== JSON.stringify(value)) {
        wrong.push(`${file}: ${key}: documented ${cell}, the schema's default is ${JSON.stringify(value)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('give each key the range the schema takes', () => {
    const doc = readFileSync(new URL('docs/configuration.md', ROOT), 'utf8');
    const documented = documentedRanges(doc);
    const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
    const wrong = ranges(schema).filter(([key, bounds]) => documented.get(key) !== bounds).map(([key, bounds]) => `${key}: documented ${JSON.stringify(documented.get(key))}, the schema takes ${JSON.stringify(bounds)}`);
    assert.deepEqual(wrong, []);
    assert.equal(documented.get('delivery.jitter'), '0 to 0.9');
  });

  it('name only settings that exist, in README.md and docs/', () => {
    const all = keys(configSchema.shape);
    const files = ['README.md', ...readdirSync(new URL('docs/', ROOT)).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const sections = [...new Set(all.filter((k) => k.includes('.')).map((k) => k.split('.')[0]))];
    const wrong: string[] = [];
    for (const file of files) {
      const text = readFileSync(new URL(file, ROOT), 'utf8');
      // BOTGATE_DELIVERY__ALLOW_PRIVATE is delivery.allow_private; BOTGATE_CONFIG names the file, BOTGATE_TEST_* the tests.
      for (const [name] of text.matchAll(/\bBOTGATE_[A-Z0-9_]*[A-Z0-9]/g)) {
        if (name === 'BOTGATE_CONFIG' || name.startsWith('BOTGATE_TEST_')) continue;
        const key = name.slice('BOTGATE_'.length).toLowerCase().split('__').join('.');
        if (!all.includes(key) && !all.some((k) => k.startsWith(`${key}.`))) wrong.push(`${file}: ${name}`);
      }
      // A dotted key of a settings group in code (`delivery.concurrency`); event types (`handoff.requested`) are no settings.
      for (const [, key] of text.matchAll(new RegExp(`\`((?:${sections.join('|')})\\.[a-z0-9_]+(?:\\.[a-z0-9_]+)*)\``, 'g'))) {
        const event = /^(handoff|kore|platform)\.(requested|assigned|message|closed|timed_out)$/.test(key);
        if (!event && !all.includes(key) && !all.some((k) => k.startsWith(`${key}.`))) wrong.push(`${file}: ${key}`);
      }
    }
    assert.deepEqual(wrong, []);
  });
});
