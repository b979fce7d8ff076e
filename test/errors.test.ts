// Every coded error is documented, and bodies have the API shape.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BotgateError, apiErrorBody, errorCodes } from '../src/errors.ts';

describe('error registry', () => {
  it('documents every code with its status in docs/errors.md', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    for (const [code, { status }] of Object.entries(errorCodes)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      assert.ok(row, `${code} is documented`);
      if (code !== 'BG_ERR_CONFIG_INVALID') assert.ok(row.includes(`| ${status} |`), `${code} documents status ${status}`);
    }
  });

  it('gives the API body shape', () => {
    const error = new BotgateError('BG_ERR_ENDPOINT_NOT_FOUND', 'No endpoint ep_1');
    assert.deepEqual(apiErrorBody(error), { statusCode: 404, code: 'BG_ERR_ENDPOINT_NOT_FOUND', message: 'No endpoint ep_1' });
  });
});
