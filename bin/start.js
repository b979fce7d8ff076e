#!/usr/bin/env node
// `npm start`: the gateway (src/main.ts) with Node's module compile cache on. Node keeps the type-stripped
// TypeScript and V8's compiled code of every module on disk (os.tmpdir()/node-compile-cache, or
// NODE_COMPILE_CACHE; NODE_DISABLE_COMPILE_CACHE=1 turns it off), so a start neither loads the type stripper
// (~12-17 MB resident for the life of the process) nor compiles the modules again. A short-lived child fills the
// cache first (bin/compile-cache.js), so even the first start after an install or an update runs without the
// stripper. This file is JavaScript so that nothing is stripped before the cache is on, and that an older Node
// reads it and says it is too old.
import module from 'node:module';
import { GATEWAY_MODULES, warmCompileCache } from './compile-cache.js';
import { requireNodeVersion } from './node-version.js';

requireNodeVersion();
warmCompileCache(GATEWAY_MODULES);
module.enableCompileCache();
const { start } = await import('../src/main.ts');
start();
