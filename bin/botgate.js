#!/usr/bin/env node
// `npx botgate …`: the CLI is TypeScript run by Node 24's type stripping (the project pins Node 24).
const { runCli } = await import('../src/cli/main.ts');
await runCli(process.argv.slice(2));
