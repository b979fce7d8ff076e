#!/usr/bin/env node
// Entry point for `npx botgate`: the CLI is TypeScript run by Node 24 type stripping.
await import("../src/cli/main.ts");
