// A real browser for page tests: Debian's chromium driven by playwright-core (browser downloads fail here).
// Without chromium the page tests are skipped with the reason printed, unless BOTGATE_TEST_REQUIRE_BROWSER=1
// (set by CI), which makes a missing browser a failure.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.BOTGATE_TEST_CHROMIUM ?? '/usr/bin/chromium';

export function browserAvailability(): { skip: string } | { path: string } {
  if (existsSync(CHROMIUM)) return { path: CHROMIUM };
  const reason = `no browser at ${CHROMIUM} (apt-get install -y chromium; BOTGATE_TEST_REQUIRE_BROWSER=1 makes this a failure)`;
  if (process.env.BOTGATE_TEST_REQUIRE_BROWSER === '1') throw new Error(`a browser is required: ${reason}`);
  process.stderr.write(`page tests skipped: ${reason}\n`);
  return { skip: reason };
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}
