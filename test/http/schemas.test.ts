// Shared route schemas: a nullable field takes null or its own type, in requests and in answers; and the
// TypeBox type provider stays a compile-time helper (its run-time half loads ~300 modules the gateway never uses).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { Type } from 'typebox';
import { Nullable, Timestamp } from '../../src/http/schemas.ts';
import { installJsonParser, installValidation } from '../../src/http/validation.ts';

describe('route schemas', () => {
  it('writes a nullable field of one type as a type list (what OpenAPI 3.1 reads), other schemas as anyOf with null', () => {
    assert.deepEqual(Nullable(Type.String()), { type: ['string', 'null'] });
    assert.deepEqual(Nullable(Timestamp), { type: ['string', 'null'], format: 'date-time' });
    assert.deepEqual(Nullable(Type.Array(Type.Number(), { minItems: 1 })), { type: ['array', 'null'], items: { type: 'number' }, minItems: 1 });
    const union = Nullable(Type.Union([Type.String(), Type.Number()])) as { anyOf?: unknown[] };
    assert.equal(union.anyOf?.length, 2);
  });

  it('takes null or a value of the type, refuses another type, and answers both forms', async () => {
    const app = Fastify();
    installValidation(app);
    installJsonParser(app);
    const Body = Type.Object({
      at: Nullable(Timestamp),
      tags: Nullable(Type.Array(Type.String(), { minItems: 1 })),
      score: Nullable(Type.Number()),
    }, { additionalProperties: false });
    app.post('/echo', { schema: { body: Body, response: { 200: Body } } }, async (request) => request.body);
    try {
      const post = (payload: unknown) => app.inject({ method: 'POST', url: '/echo', payload: payload as object });
      const nulls = await post({ at: null, tags: null, score: null });
      assert.equal(nulls.statusCode, 200, nulls.body);
      assert.deepEqual(nulls.json(), { at: null, tags: null, score: null });
      const values = await post({ at: '2026-12-01T10:00:00Z', tags: ['a'], score: 0.5 });
      assert.equal(values.statusCode, 200, values.body);
      assert.deepEqual(values.json(), { at: '2026-12-01T10:00:00Z', tags: ['a'], score: 0.5 });
      for (const bad of [{ at: 'yesterday', tags: null, score: null }, { at: null, tags: [], score: null }, { at: null, tags: null, score: '1' }, { at: 5, tags: null, score: null }]) {
        assert.equal((await post(bad)).statusCode, 400, JSON.stringify(bad));
      }
    } finally {
      await app.close();
    }
  });

  it('imports only types from @fastify/type-provider-typebox (Type comes from typebox)', () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.ts') && /^import (?!type )[^;]*from '@fastify\/type-provider-typebox'/m.test(readFileSync(path, 'utf8'))) offenders.push(path);
      }
    };
    walk(join(import.meta.dirname, '../../src'));
    assert.deepEqual(offenders, []);
  });
});
