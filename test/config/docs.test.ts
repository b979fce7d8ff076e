// docs/configuration.md lists every configuration key with its default, and the docs name no key that does not
// exist, so the docs stay true.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
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
  return new Map([...doc.matchAll(/^\| `([a-z_.]+)` \| ([^|]*) \|/gm)].map((m) => [m[1], m[2].trim()]));
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

  it('give each key the default the schema has', () => {
    const doc = readFileSync(new URL('docs/configuration.md', ROOT), 'utf8');
    const defaults = configSchema.parse({}) as Record<string, unknown>;
    const wrong: string[] = [];
    for (const [key, cell] of documentedDefaults(doc)) {
      const value = key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], defaults);
      if (value === undefined) continue; // unset, generated or derived: the cell says what happens
      const code = /^`([^`]*)`$/.exec(cell)?.[1];
      if (code === undefined || JSON.stringify(typeof value === 'string' ? code : JSON.parse(code)) !== JSON.stringify(value)) {
        wrong.push(`${key}: documented ${cell}, the schema's default is ${JSON.stringify(value)}`);
      }
    }
    assert.deepEqual(wrong, []);
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
      for (const [, key] of text.matchAll(new RegExp(`\`((?:${sections.join('|')})\\.[a-z_]+(?:\\.[a-z_]+)*)\``, 'g'))) {
        const event = /^(handoff|kore|platform)\.(requested|assigned|message|closed|timed_out)$/.test(key);
        if (!event && !all.includes(key) && !all.some((k) => k.startsWith(`${key}.`))) wrong.push(`${file}: ${key}`);
      }
    }
    assert.deepEqual(wrong, []);
  });
});
