// Bearer tokens we issue (admin token, later API keys): random, stored only as a hash, compared in constant time.
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

export function generateToken(prefix: string, bytes = 32): string {
  return `${prefix}_${randomBytes(bytes).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return hash('sha256', token, 'hex');
}

/** Constant-time check of a presented token against a stored sha256 hex hash. */
export function tokenMatches(presented: string, storedHash: string): boolean {
  return tokenMatchesAny(presented, [Buffer.from(storedHash, 'hex')]);
}

/** Whether a presented token matches any of the stored sha256 hashes: hashed once, each compared in constant time. */
export function tokenMatchesAny(presented: string, storedHashes: readonly Buffer[]): boolean {
  const a = hash('sha256', presented, 'buffer');
  let ok = false;
  for (const b of storedHashes) ok = (a.length === b.length && timingSafeEqual(a, b)) || ok;
  return ok;
}

/** Whether two secrets are equal, compared in constant time for equal lengths (only the length can tell them apart early). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
