// Kore.ai channel test helpers: a gateway with the demo bot, an app, and tokens signed with `jose` the way a
// Kore.ai integration signs them (both claim styles).
import { SignJWT } from 'jose';
import { DEMO_BOT_FILE } from '../../src/provision.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

export interface KoreFixture {
  gw: TestGateway;
  clientId: string;
  secret: string;
  /** Signs claims with the app's secret (HS256). */
  token(claims?: Record<string, unknown>, options?: { alg?: string; secret?: string; expiresIn?: string | number; notBefore?: string | number }): Promise<string>;
  /** POSTs a Kore webhook request; returns status, parsed body and raw text. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; text: string }>;
}

export async function koreFixture(env: Record<string, string> = {}): Promise<KoreFixture> {
  const gw = await startTestGateway(env);
  await gw.bots.load(DEMO_BOT_FILE);
  const created = await gw.api('POST', '/api/apps', { name: 'kore-test' });
  const clientId: string = created.body.client_id;
  const secret: string = created.body.client_secret;
  return {
    gw,
    clientId,
    secret,
    async token(claims = { appId: clientId, sub: 'user-1' }, options = {}) {
      const jwt = new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' }).setIssuedAt();
      if (options.expiresIn !== undefined) jwt.setExpirationTime(options.expiresIn);
      else jwt.setExpirationTime('1h');
      if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
      return jwt.sign(new TextEncoder().encode(options.secret ?? secret));
    },
    async post(path, body, headers = {}) {
      const response = await gw.app.inject({
        method: 'POST',
        url: path,
        headers: { 'content-type': 'application/json', ...headers },
        payload: typeof body === 'string' ? body : JSON.stringify(body),
      });
      let parsed: unknown = null;
      try {
        parsed = response.body ? JSON.parse(response.body) : null;
      } catch {
        parsed = response.body;
      }
      return { status: response.statusCode, body: parsed, text: response.body };
    },
  };
}

export const say = (text: string, from = 'user-1', extra: Record<string, unknown> = {}) => ({ message: { text }, from: { id: from }, ...extra });
