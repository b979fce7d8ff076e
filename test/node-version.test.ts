// The Node version botgate needs: package.json `engines` states it, and bin/ refuses an older Node in a line.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { nodeVersionProblem } from '../bin/node-version.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

describe('node version', () => {
  it('is stated in package.json engines: 24.7 (node:sqlite binds ?1-style parameters by position from there on), which the pinned Node meets', () => {
    assert.equal(pkg.engines?.node, '>=24.7.0');
    assert.equal(nodeVersionProblem(process.versions.node), null, 'the Node running the tests');
    assert.equal(nodeVersionProblem(String(pkg.devDependencies.node).replace(/^\^/, '')), null, 'the pinned Node');
  });

  it('refuses an older Node in a line that says which is needed', () => {
    for (const old of ['20.20.2', '24.2.0', '24.6.9']) assert.match(nodeVersionProblem(old) ?? '', new RegExp(`^Node 24\\.7\\.0 or later is needed, and this is Node ${old.replaceAll('.', '\\.')}`));
    for (const fine of ['24.7.0', '24.21.0', '25.0.0', '26.1.3']) assert.equal(nodeVersionProblem(fine), null, fine);
  });
});
