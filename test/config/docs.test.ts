// docs/configuration.md lists every configuration key with its default, so the docs stay true.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configSchema } from '../../src/config/schema.ts';

function keys(shape: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(shape).flatMap(([key, node]) => {
    const inner = (node as { unwrap?: () => unknown }).unwrap?.() as { shape?: Record<string, unknown> } | undefined;
    return inner?.shape ? keys(inner.shape, `${prefix}${key}.`) : [`${prefix}${key}`];
  });
}

describe('configuration docs', () => {
  it('document every key', () => {
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const all = keys(configSchema.shape);
    assert.ok(all.length > 30);
    for (const key of all) assert.ok(doc.includes(`| \`${key}\` |`), `${key} is documented`);
  });
});
