#!/usr/bin/env node
// `npx botgate …`: the CLI is TypeScript run by Node 24's type stripping (the project pins Node 24), with Node's
// module compile cache on (bin/start.js says why), after checking the Node version (bin/node-version.js).
import module from 'node:module';
import { GATEWAY_MODULES, warmCompileCache } from './compile-cache.js';
import { requireNodeVersion } from './node-version.js';

requireNodeVersion();
// `serve` runs the gateway for long: its modules come from the cache, without the type stripper resident.
if (process.argv[2] === 'serve') {
  warmCompileCache([new URL('../src/cli/main.ts', import.meta.url), ...GATEWAY_MODULES]);
}
module.enableCompileCache();
const { runCli } = await import('../src/cli/main.ts');
await runCli(process.argv.slice(2));
