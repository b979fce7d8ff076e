// Apps: a client id and client secret that a Kore.ai integration signs its JWTs with. The secret is shown once,
// stored sealed under the master key, and kept opened in memory for verifying tokens.
import { randomBytes, randomUUID } from 'node:crypto';
import { checkName, checkSecret } from '../ranges.ts';
import type { Clock } from '../clock.ts';
import type { SecretBox } from '../crypto/secret-box.ts';
import { BotgateError } from '../errors.ts';
import type { AppRecord, Store } from '../store/store.ts';

const CACHE_MS = 5000;

export type AppService = ReturnType<typeof createAppService>;

export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function createAppService(deps: { store: Store; box: SecretBox; clock: Clock }) {
  const { store, box, clock } = deps;
  // The key being opened or opened, per app: callers arriving meanwhile share one read (no stampede every
  // CACHE_MS); an unchanged secret keeps its key object, so tokens verified with it stay verified.
  const opened = new Map<string, { key: Promise<Uint8Array | null>; at: number }>();

  async function get(id: string): Promise<AppRecord> {
    const app = await store.apps.get(id);
    if (!app) throw new BotgateError('BG_ERR_APP_NOT_FOUND', `No app ${id}`);
    return app;
  }

  return {
    get,
    async create(input: { name: string; clientId?: string; clientSecret?: string }): Promise<{ app: AppRecord; secret: string }> {
      checkName('name', input.name);
      if (await store.apps.byName(input.name)) throw new BotgateError('BG_ERR_CONFLICT', `An app named ${JSON.stringify(input.name)} exists`);
      const secret = input.clientSecret ?? generateClientSecret();
      checkSecret('client_secret', secret);
      const now = clock.now();
      const app: AppRecord = { id: input.clientId ?? `cs-${randomUUID()}`, name: input.name, secretSealed: box.seal(secret), createdAt: now, updatedAt: now };
      if (await store.apps.get(app.id)) throw new BotgateError('BG_ERR_CONFLICT', `An app with client id ${app.id} exists`);
      await store.apps.insert(app);
      return { app, secret };
    },
    /** A new client secret; tokens signed with the old one stop verifying (within seconds on every process). */
    async rotateSecret(id: string, secret = generateClientSecret()): Promise<{ app: AppRecord; secret: string }> {
      checkSecret('client_secret', secret);
      await get(id);
      const app = (await store.apps.update(id, { secretSealed: box.seal(secret), updatedAt: clock.now() }))!;
      opened.delete(id);
      return { app, secret };
    },
    async delete(id: string): Promise<void> {
      if ((await store.channels.where({ appId: id })).length > 0) {
        throw new BotgateError('BG_ERR_CONFLICT', `App ${id} is used by a channel; delete or move the channel first`);
      }
      if (!(await store.apps.delete(id))) throw new BotgateError('BG_ERR_APP_NOT_FOUND', `No app ${id}`);
      opened.delete(id);
    },
    /** The HS256 key of an app's client secret (cached briefly, so a rotation elsewhere takes effect within seconds). */
    async signingKey(id: string): Promise<Uint8Array | null> {
      const cached = opened.get(id);
      if (cached && clock.now() - cached.at < CACHE_MS) return cached.key;
      const previous = cached?.key;
      const key = (async () => {
        const app = await store.apps.get(id);
        if (!app) return null;
        const fresh = new TextEncoder().encode(box.open(app.secretSealed));
        const before = await previous?.catch(() => null);
        return before && Buffer.compare(before, fresh) === 0 ? before : fresh;
      })();
      opened.set(id, { key, at: clock.now() });
      key.catch(() => opened.get(id)?.key === key && opened.delete(id));
      return key;
    },
  };
}

export function appView(app: AppRecord) {
  return { client_id: app.id, name: app.name, created_at: new Date(app.createdAt).toISOString(), updated_at: new Date(app.updatedAt).toISOString() };
}
