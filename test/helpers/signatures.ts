// Every test receiver checks every signed request it gets: the signing secrets the tests were shown (the
// API helpers register them) must verify it, with the npm package `standardwebhooks` as a receiver would.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

const secrets = new Set<string>();

/** Called by the API helpers with every answer: any `secret` in it is a signing secret shown to the user. */
export function rememberSecrets(body: unknown): void {
  if (body && typeof body === 'object') {
    const secret = (body as Record<string, unknown>).secret;
    if (typeof secret === 'string' && secret.startsWith('whsec_')) secrets.add(secret);
  }
}

/**
 * Whether a request carrying webhook-signature is signed by a known secret. JSON bodies with a current
 * timestamp go through `standardwebhooks` itself; form bodies and bodies stamped by a test's manual clock
 * (far from now) are checked by recomputing the HMAC, which is what that library does inside.
 */
export function verifySignature(headers: Record<string, string | string[] | undefined>, body: string): boolean {
  const id = String(headers['webhook-id'] ?? '');
  const timestamp = String(headers['webhook-timestamp'] ?? '');
  const given = String(headers['webhook-signature'] ?? '').split(' ');
  const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
  const json = String(headers['content-type'] ?? '').startsWith('application/json');
  for (const secret of secrets) {
    if (json && fresh) {
      try {
        new Webhook(secret).verify(body, { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': given.join(' ') });
        return true;
      } catch {
        continue;
      }
    }
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const expected = Buffer.from('v1,' + createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64'));
    if (given.some((sig) => sig.length === expected.length && timingSafeEqual(Buffer.from(sig), expected))) return true;
  }
  return false;
}
