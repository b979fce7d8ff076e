#!/usr/bin/env node
// `npm start`: the gateway (src/main.ts) with Node's module compile cache on. Node keeps the type-stripped
// TypeScript and V8's compiled code of every module on disk (os.tmpdir()/node-compile-cache, or
// NODE_COMPILE_CACHE; NODE_DISABLE_COMPILE_CACHE=1 turns it off), so a later start neither loads the type
// stripper (~12 MB resident for the life of the process) nor compiles the modules again. This file is
// JavaScript so that nothing is stripped before the cache is on, and that an older Node reads it and says it is too old.
import module from 'node:module';
import { requireNodeVersion } from './node-version.js';

requireNodeVersion();
module.enableCompileCache();
const { start } = await import('../src/main.ts');
start();
