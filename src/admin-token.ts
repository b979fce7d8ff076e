// The admin token guarding /api: BOTGATE_ADMIN_TOKEN when set; otherwise one generated at first start,
// stored only as a hash, and printed once as a stdout banner by the caller.
import type { Clock } from './clock.ts';
import { generateToken, hashToken, tokenMatches } from './crypto/tokens.ts';
import type { Store } from './store/store.ts';

const SETTING = 'admin_token_sha256';
const CACHE_MS = 5000;

export interface AdminAuth {
  /** Constant-time check of a presented token. */
  verify(token: string): Promise<boolean>;
}

/** Makes sure a token exists; returns the plain token only when this call generated it. */
export async function ensureAdminToken(store: Store, configured: string | undefined): Promise<{ generated: string | null }> {
  if (configured) return { generated: null };
  if (await store.settings.get(SETTING)) return { generated: null };
  const token = generateToken('bgadm');
  return { generated: (await store.settings.setIfAbsent(SETTING, hashToken(token))) ? token : null };
}

/** Replaces the stored token (CLI `admin-token reset`); returns the new plain token. */
export async function resetAdminToken(store: Store): Promise<string> {
  const token = generateToken('bgadm');
  await store.settings.set(SETTING, hashToken(token));
  return token;
}

export function createAdminAuth(store: Store, configured: string | undefined, clock: Clock): AdminAuth {
  if (configured) {
    const hash = hashToken(configured);
    return { verify: async (token) => tokenMatches(token, hash) };
  }
  let cached: { hash: string | null; at: number } | null = null;
  return {
    async verify(token) {
      const now = clock.now();
      if (!cached || now - cached.at > CACHE_MS) cached = { hash: await store.settings.get(SETTING), at: now };
      return cached.hash !== null && tokenMatches(token, cached.hash);
    },
  };
}
