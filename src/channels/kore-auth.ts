// The Kore.ai webhook channel's JWT: HS256 only, signed with the app's client secret; the client id is the
// `appId` claim, else `iss`; exp/iat/nbf honoured with a configurable skew; `userIdentity`, when present,
// must equal from.id (DESIGN.md, "Kore.ai Webhook channel v1").
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT } from 'jose';

export class KoreAuthError extends Error {
  override name = 'KoreAuthError';
}

export interface VerifiedToken {
  clientId: string;
  subject: string | null;
  claims: Record<string, unknown>;
}

/** The bearer token of an `Authorization: bearer <JWT>` header (any case of "bearer"), or null. */
export function bearerOf(header: string | undefined): string | null {
  const match = header ? /^bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match ? match[1] : null;
}

export async function verifyKoreToken(token: string, secret: Uint8Array, expected: ExpectedClaims): Promise<VerifiedToken> {
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw new KoreAuthError('the token is not a JWT');
  }
  if (alg !== 'HS256') throw new KoreAuthError(`the token must be signed with HS256, not ${alg ?? 'nothing'}`);
  let claims: Record<string, unknown>;
  try {
    ({ payload: claims } = await jwtVerify(token, secret, {
      algorithms: ['HS256'],
      clockTolerance: expected.skewSeconds,
      currentDate: new Date(expected.now),
    }));
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw new KoreAuthError('the token has expired');
    if (error instanceof joseErrors.JWTClaimValidationFailed) throw new KoreAuthError(`the token is not valid yet or has a bad claim (${error.claim})`);
    throw new KoreAuthError('the token signature does not verify with the app\'s client secret');
  }
  return checkClaims(claims, expected);
}

export interface ExpectedClaims {
  clientId: string;
  /** The body's from.id, which a userIdentity claim must match; null: not checked (the body is not read yet). */
  fromId: string | null;
  skewSeconds: number;
  now: number;
}

/** The claim checks, also for a token whose signature verified before: times, client id, userIdentity. */
export function checkClaims(claims: Record<string, unknown>, expected: ExpectedClaims): VerifiedToken {
  const skew = expected.skewSeconds * 1000;
  if (typeof claims.exp === 'number' && claims.exp * 1000 + skew <= expected.now) throw new KoreAuthError('the token has expired');
  if (typeof claims.nbf === 'number' && claims.nbf * 1000 - skew > expected.now) throw new KoreAuthError('the token is not valid yet or has a bad claim (nbf)');
  if (typeof claims.iat === 'number' && claims.iat * 1000 > expected.now + skew) throw new KoreAuthError('the token is issued in the future (iat)');
  // appId when present (of any type: a non-string one names no app), else iss.
  const named = claims.appId !== undefined ? claims.appId : claims.iss;
  const clientId = typeof named === 'string' ? named : null;
  if (clientId !== expected.clientId) throw new KoreAuthError('the token names another app (appId, else iss)');
  if (expected.fromId !== null && claims.userIdentity !== undefined && claims.userIdentity !== expected.fromId) {
    throw new KoreAuthError('userIdentity does not match from.id');
  }
  return { clientId, subject: typeof claims.sub === 'string' ? claims.sub : null, claims };
}

/** A token as a Kore.ai integration signs it (for the demo banner, `botgate token` and tests). */
export async function signKoreToken(secret: Uint8Array, claims: { clientId: string; sub: string; style?: 'appId' | 'iss'; ttlSeconds?: number; userIdentity?: string }, now: number): Promise<string> {
  const payload: Record<string, unknown> = claims.style === 'iss'
    ? { iss: claims.clientId, aud: 'https://idproxy.kore.ai/authorize', sub: claims.sub, isAnonymous: true }
    : { appId: claims.clientId, sub: claims.sub };
  if (claims.userIdentity) payload.userIdentity = claims.userIdentity;
  const iat = Math.floor(now / 1000);
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt(iat).setExpirationTime(iat + (claims.ttlSeconds ?? 86_400)).sign(secret);
}
