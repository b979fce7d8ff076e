// Builds a gateway for tests: a temp data dir, SQLite (or a given PostgreSQL schema), loopback allowed,
// fast polling, an injected clock when asked; `api()` calls the admin API through inject().
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/gateway.ts';
import { rememberSecrets } from './signatures.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const MASTER_KEY = 'test-master-key-0123456789abcdef';

export interface TestGateway extends Gateway {
  api<T = any>(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: T; headers: Record<string, unknown> }>;
}

export function testConfig(env: Record<string, string> = {}) {
  return loadConfig({
    env: {
      BOTGATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'botgate-test-')),
      BOTGATE_ADMIN_TOKEN: ADMIN_TOKEN,
      BOTGATE_MASTER_KEY: MASTER_KEY,
      BOTGATE_LOG_LEVEL: 'silent',
      BOTGATE_DELIVERY__ALLOW_PRIVATE: '127.0.0.1',
      BOTGATE_DELIVERY__POLL_INTERVAL_MS: '20',
      BOTGATE_DEMO__ENABLED: 'false',
      ...env,
    },
  });
}

export async function startTestGateway(env: Record<string, string> = {}, options: GatewayOptions & { start?: boolean } = {}): Promise<TestGateway> {
  const gateway = await createGateway(testConfig(env), options);
  if (options.start !== false) await gateway.start();
  const api: TestGateway['api'] = async (method, url, body, headers = {}) => {
    const response = await gateway.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers },
      ...(body === undefined ? {} : { payload: body as object }),
    });
    let parsed: unknown = response.body;
    try {
      parsed = response.body ? JSON.parse(response.body) : null;
    } catch {
      // not JSON
    }
    rememberSecrets(parsed);
    return { status: response.statusCode, body: parsed as never, headers: response.headers };
  };
  return Object.assign(gateway, { api });
}

/** Polls until fn returns a truthy value. */
export async function eventually<T>(fn: () => Promise<T> | T, timeoutMs = 10_000, intervalMs = 20): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await fn();
    if (last) return last as NonNullable<T>;
    if (Date.now() > until) throw new Error(`condition not met in ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
