// Runs every benchmark script in bench/ (each *.ts but this runner) in turn with the same arguments.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const self = basename(fileURLToPath(import.meta.url));
const scripts = readdirSync(here).filter((f) => f.endsWith('.ts') && f !== self).sort();
let failed = 0;
for (const script of scripts) {
  console.log(`\n=== bench/${script} ===`);
  const r = spawnSync(process.execPath, [join(here, script), ...process.argv.slice(2)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`bench/${script} failed (${r.signal ?? `exit code ${r.status}`})`);
  }
}
process.exit(failed > 0 ? 1 : 0);
