// Standard Webhooks signatures: `v1,<base64 HMAC-SHA256(key, id.timestamp.body)>`, one per valid secret
// (standardwebhooks.com). Secrets are `whsec_` + base64 of random bytes.
import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

const PREFIX = 'whsec_';

export function generateSigningSecret(bytes = 24): string {
  return PREFIX + randomBytes(bytes).toString('base64');
}

export function isSigningSecret(secret: string): boolean {
  // Standard base64 only: Node's decoder would also take URL-safe and stray characters, which receivers' libraries
  // (standardwebhooks) refuse, so they could never check the signatures.
  const text = secret.slice(PREFIX.length);
  // Padded too: Python's base64 (the Python standardwebhooks) refuses text whose length is not a multiple of 4.
  if (!secret.startsWith(PREFIX) || !/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) return false;
  const key = Buffer.from(secret.slice(PREFIX.length), 'base64');
  return key.length >= 24 && key.length <= 64;
}

/** The secret's key, decoded once and reused for every signature (a KeyObject: ~5× faster HMACs than a Buffer). */
export function signingKey(secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64'));
}

/** The webhook-signature header value: space-separated `v1,…` signatures, one per key. */
export function signatureHeader(keys: readonly KeyObject[], webhookId: string, timestampSeconds: number, body: string): string {
  const content = `${webhookId}.${timestampSeconds}.${body}`;
  return keys.map((key) => 'v1,' + createHmac('sha256', key).update(content).digest('base64')).join(' ');
}
