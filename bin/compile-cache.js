// Fills Node's module compile cache (the type-stripped TypeScript and V8's code of every module) in a short-lived
// child process, so the process that then loads those modules finds them there and never loads the type stripper,
// which would stay resident for its whole life (~12-17 MB; a gateway runs for weeks after one start). With the cache
// already filled the child takes ~0.3 s; the first start after an install or an update, ~1 s more. The child runs
// with the parent's V8 flags, which the cache is keyed by, without those that would make it profile or preload too.
// JavaScript, for the same reasons as bin/start.js.
import { spawnSync } from 'node:child_process';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

/** What a gateway process loads: src/main.ts and all it imports, and the PostgreSQL store (imported only when configured). */
export const GATEWAY_MODULES = ['../src/main.ts', '../src/store/postgres/postgres-store.ts'].map((m) => new URL(m, import.meta.url));

const SIDE_EFFECT_FLAGS = /^--(cpu-prof|heap-prof|prof|import|require|inspect|watch|test)/;

/** Fills the cache for these modules (and all they import) unless NODE_DISABLE_COMPILE_CACHE is set. Failures are ignored: the parent then compiles as usual. */
export function warmCompileCache(moduleUrls) {
  if (process.env.NODE_DISABLE_COMPILE_CACHE) return;
  const flags = [];
  for (let i = 0; i < process.execArgv.length; i++) {
    const flag = process.execArgv[i];
    if (!SIDE_EFFECT_FLAGS.test(flag)) flags.push(flag);
    else if (!flag.includes('=') && /^--(import|require)$/.test(flag)) i++; // its value is the next word
  }
  spawnSync(process.execPath, [...flags, fileURLToPath(import.meta.url), ...moduleUrls.map(String)], { stdio: 'ignore', timeout: 60_000 });
}

if (import.meta.main) {
  module.enableCompileCache();
  for (const url of process.argv.slice(2)) {
    try {
      await import(url);
    } catch {
      // the process that needs it compiles it, and reports what is wrong
    }
  }
  module.flushCompileCache();
}
