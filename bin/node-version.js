// The Node version botgate needs (package.json `engines`: 24.7, where node:sqlite binds ?1-style parameters by
// position; import.meta.main needs 24.2), checked before anything else is loaded: an older Node stops in a line
// saying so instead of a SyntaxError or a failing query deep inside. JavaScript, which any Node can read.
import { readFileSync } from 'node:fs';

const MINIMUM = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).engines.node.replace(/^>=\s*/, '');

/** Why this Node cannot run botgate, or null. */
export function nodeVersionProblem(version = process.versions.node) {
  const have = version.split('.').map(Number);
  const need = MINIMUM.split('.').map(Number);
  const diff = need.map((n, i) => (have[i] ?? 0) - n).find((d) => d !== 0) ?? 0;
  if (diff >= 0) return null;
  return `Node ${MINIMUM} or later is needed, and this is Node ${version}: npm start and npx botgate run the Node the project pins (after npm install)`;
}

/** Stops the process (exit 1) on a Node too old for botgate. */
export function requireNodeVersion() {
  const problem = nodeVersionProblem();
  if (problem) {
    process.stderr.write(`botgate: ${problem}\n`);
    process.exit(1);
  }
}
