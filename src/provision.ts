// Config as code and the demo: apps, endpoints, bots and channels declared in the config file are created or
// brought up to date at start (keyed by name, so applying twice changes nothing); with no bots declared, the
// demo bot, its app, a sync channel and the `orders` endpoint are set up the same way.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configPlace, invalidConfiguration } from './config/load.ts';
import type { ChannelDeclaration, Config, EndpointDeclaration } from './config/schema.ts';
import type { EndpointInput } from './delivery/endpoints.ts';
import type { Services } from './services.ts';
import type { ChannelRecord, EndpointRecord } from './store/store.ts';

export const DEMO_BOT_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', 'bots', 'demo', 'bot.yaml');
export const DEMO_ORDERS_PATH = '/demo/orders';

export interface Provisioned {
  /** Secrets generated now for declared apps without one (printed once by the caller). */
  generatedSecrets: { app: string; clientId: string; secret: string }[];
  /**
   * whsec_ signing secrets generated now for declared endpoints without one and for the endpoints of declared
   * async channels (their POST_URL), printed once by the caller: the receivers need them to check signatures.
   */
  generatedSigningSecrets: { kind: 'endpoint' | 'channel'; name: string; secret: string }[];
  /** ordersEndpointId: the demo's orders endpoint, the gateway's own receiver (DEMO_ORDERS_PATH) unless demo.orders_url names another. */
  demo: { botId: string; botName: string; appId: string; channel: ChannelRecord; ordersEndpointId: string } | null;
}

export function demoEnabled(config: Config): boolean {
  return config.demo.enabled === true || (config.demo.enabled === 'auto' && config.bots.length === 0);
}

/** What a start provisioned so far: filled as it goes, so the secrets generated before a failure are still shown. */
export function emptyProvisioned(): Provisioned {
  return { generatedSecrets: [], generatedSigningSecrets: [], demo: null };
}

/** A declaration of the config file that cannot be applied: start-up stops with its message (no stack trace). */
export class DeclarationError extends Error {
  override name = 'DeclarationError';
}

/**
 * Applies the declarations into `result`. A failure names the declaration it came from as a problem of the file
 * does (`invalid configuration: botgate.yaml: channels.0 (kore-pizza): No bot nobot`); what was generated before it
 * stays in `result`, to be shown.
 */
export async function provision(services: Services, config: Config, internalBase: string, result: Provisioned = emptyProvisioned()): Promise<Provisioned> {
  // A failure of a step is named by `where`; `shape` makes the line a problem of the configuration, or keeps it as is.
  const asProblem = (line: string) => invalidConfiguration([line]);
  const step = async <T>(where: string, fn: () => Promise<T>, shape = asProblem): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw new DeclarationError(shape(`${where}: ${(error as Error).message}`), { cause: error });
    }
  };
  // A declaration is named where the config was read (the file, or a variable), in the loader's notation.
  const declaration = (group: string, i: number, name: string) => `${configPlace(config, [group, i])} (${name})`;
  const asIs = (line: string) => line;
  for (const [i, declared] of config.apps.entries()) await step(declaration('apps', i, declared.name), async () => {
    const secret = declared.client_secret ?? null;
    const existing = await services.store.apps.byName(declared.name);
    if (!existing) {
      const created = await services.apps.create({ name: declared.name, clientId: declared.client_id, clientSecret: secret ?? undefined });
      if (!secret) result.generatedSecrets.push({ app: declared.name, clientId: created.app.id, secret: created.secret });
    } else if (declared.client_id !== undefined && declared.client_id !== existing.id) {
      throw new Error(`client_id ${declared.client_id} is declared but the app has ${existing.id}, and a client id cannot change; delete the app to declare it anew`);
    } else if (secret && services.box.open(existing.secretSealed) !== secret) {
      await services.apps.rotateSecret(existing.id, secret);
    }
  });
  for (const [i, declared] of config.endpoints.entries()) await step(declaration('endpoints', i, declared.name), async () => {
    const { generated } = await ensureEndpoint(services, declared.name, endpointInput(declared));
    if (generated) result.generatedSigningSecrets.push({ kind: 'endpoint', name: declared.name, secret: generated });
  });
  // Every bot file is tried: start-up reports the problems of all of them at once, not one file per restart.
  const botProblems: string[] = [];
  const botIds = new Map<string, string>(); // bot id → the declaration that loaded it
  for (const [i, declared] of config.bots.entries()) {
    await step(declaration('bots', i, declared.file), () => services.bots.load(declared.file, { requireEndpoints: true, takenIds: botIds }), asIs)
      .then((bot) => botIds.set(bot.id, `bots.${i} (${declared.file})`), (error: Error) => botProblems.push(error.message));
  }
  if (botProblems.length) throw new DeclarationError(invalidConfiguration(botProblems));
  for (const [i, declared] of config.channels.entries()) await step(declaration('channels', i, declared.name), async () => {
    const { generated } = await ensureChannel(services, declared);
    if (generated) result.generatedSigningSecrets.push({ kind: 'channel', name: declared.name, secret: generated });
  });

  // The bundled demo, named like a declaration when it fails (a one-line reason, not a stack).
  if (demoEnabled(config)) await step('demo (the bundled demo bot; demo.enabled: false leaves it out)', async () => {
    const bot = await services.bots.load(DEMO_BOT_FILE, { takenIds: botIds });
    let app = await services.store.apps.byName('demo');
    if (!app) app = (await services.apps.create({ name: 'demo' })).app;
    const ordersUrl = config.demo.orders_url ?? internalBase + DEMO_ORDERS_PATH;
    // The demo's own receiver reads the orders endpoint's secret from the store: nothing to print.
    // The demo's own endpoint (provider demo): an endpoint of the user's named orders is neither taken over nor a conflict.
    const orders = await ensureEndpoint(services, 'orders', { name: 'orders', url: ordersUrl, event_types: ['order.confirmed'], provider: 'demo' }, (e) => e.provider === 'demo');
    const { channel } = await ensureChannel(services, { name: 'demo', bot: bot.id, app: app.name, mode: 'sync' });
    result.demo = { botId: bot.id, botName: bot.name, appId: app.id, channel, ordersEndpointId: orders.endpoint.id };
  }, asIs);
  // An event type sent to an endpoint that does not exist would skip its events (no_channel), critical ones too.
  for (const [name, type] of Object.entries(config.notify.types)) {
    if (type.endpoint && !(await services.store.endpoints.get(type.endpoint))) {
      throw new DeclarationError(invalidConfiguration([`${configPlace(config, ['notify', 'types', name, 'endpoint'])}: no endpoint ${type.endpoint} (an endpoint's id, as GET /api/endpoints lists them)`]));
    }
  }
  return result;
}

function endpointInput(declared: EndpointDeclaration): EndpointInput {
  const { secret_env: _secretEnv, auth, ...rest } = declared;
  return { ...rest, auth: auth ? (auth as EndpointInput['auth']) : undefined };
}

async function findEndpoint(services: Services, name: string, mine: (e: EndpointRecord) => boolean = () => true): Promise<EndpointRecord | null> {
  const named = (await services.store.endpoints.list({ name }, { limit: 100_000 })).filter(mine);
  // Declarations are keyed by name: with two of a name, which one the file means is a guess, and a wrong one would
  // be rewritten (its URL, its auth) while the real one is left alone.
  if (named.length > 1) {
    throw new Error(`${named.length} endpoints are named "${name}" (${named.map((e) => e.id).join(', ')}): a declared endpoint must be the only one of its name; rename or delete the others`);
  }
  return named[0] ?? null;
}

/**
 * Creates or updates a declared endpoint; `generated` is the signing secret made for it when it was created with
 * none. A declared secret that differs from the one signing now is rotated in (the old one keeps signing for the
 * rotation overlap, as after any rotation), so changing the variable and restarting takes effect.
 */
async function ensureEndpoint(
  services: Services, name: string, input: EndpointInput, mine?: (e: EndpointRecord) => boolean,
): Promise<{ endpoint: EndpointRecord; generated: string | null }> {
  const existing = await findEndpoint(services, name, mine);
  if (!existing) {
    const created = await services.endpoints.create(input);
    return { endpoint: created.endpoint, generated: input.secret ? null : created.secret };
  }
  const { secret, ...declared } = input;
  // A key the declaration no longer names goes back to its default: the same file gives the same endpoint, whatever
  // it said before. Whether it is active is left alone unless declared (a 410 may have disabled it since).
  const settings: EndpointInput = {
    provider: null, auth: { kind: 'none' }, custom_headers: {}, content_type: 'json', signing: true,
    timeout_seconds: services.config.delivery.default_timeout_seconds, retry_schedule: null, max_attempts: null, event_types: null,
    rate_limit_per_second: null, ordered: false,
    ...Object.fromEntries(Object.entries(declared).filter(([, v]) => v !== undefined)),
  };
  const endpoint = await services.endpoints.update(existing.id, settings);
  if (secret && services.endpoints.signingSecrets(endpoint, services.clock.now())[0] !== secret) await services.endpoints.rotateSecret(endpoint.id, secret);
  return { endpoint, generated: null };
}

/** Creates or updates a declared channel; `generated` is the signing secret of a new async channel's POST_URL endpoint. */
async function ensureChannel(services: Services, declared: ChannelDeclaration): Promise<{ channel: ChannelRecord; generated: string | null }> {
  const app = await services.store.apps.byName(declared.app);
  if (!app) throw new Error(`no app named ${declared.app}`);
  const existing = (await services.store.channels.list({ limit: 10_000 })).find((c) => c.name === declared.name);
  if (!existing) {
    const created = await services.channels.create(declared.bot, {
      name: declared.name, mode: declared.mode, app_id: app.id, post_url: declared.post_url, access_token: declared.access_token,
      sync_timeout_seconds: declared.sync_timeout_seconds,
    });
    return { channel: created.channel, generated: created.secret };
  }
  if (existing.botId !== declared.bot || existing.mode !== declared.mode) {
    throw new Error(`its bot or mode changed; delete the channel to declare it anew`);
  }
  // As on creation: the same file is refused on a fresh store and on this one.
  if (declared.mode === 'async' && !declared.post_url) throw new Error('an async channel needs post_url');
  // A setting the declaration no longer names goes back to its default, as for endpoints: the file is what it becomes.
  const channel = await services.channels.update(existing.id, {
    app_id: app.id, sync_timeout_seconds: declared.sync_timeout_seconds ?? services.config.kore.sync_timeout_seconds,
    // A sync channel's post_url or access_token is refused by the update, as by the creation.
    ...(declared.mode === 'async' ? { post_url: declared.post_url, access_token: declared.access_token ?? null } : { post_url: declared.post_url, access_token: declared.access_token }),
  });
  return { channel, generated: null };
}
