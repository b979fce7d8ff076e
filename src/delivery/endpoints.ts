// Endpoints (outgoing webhook targets): create with a whsec_ secret shown once, update, rotate the secret
// (the old one stays valid for the overlap), enable and disable; and the API view that hides secrets.
import { isDeepStrictEqual } from 'node:util';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { SecretBox } from '../crypto/secret-box.ts';
import { BotgateError } from '../errors.ts';
import { checkName, checkRange } from '../ranges.ts';
import type { IdPrefix } from '../ids.ts';
import type { Announce, EndpointPatch, EndpointRecord, Store } from '../store/store.ts';
import { AuthSettingsError, authHeaderName, authKind, HEADER_NAME, headerNameProblem, headerValueProblem } from './endpoint-auth.ts';
import { checkEventTypeFilter } from './event-types.ts';
import { generateSigningSecret, isSigningSecret } from './signer.ts';

export interface AuthInput {
  kind: string;
  [field: string]: unknown;
}

/** The API's shape of an endpoint's settings (snake_case, as DESIGN.md's conventions ask). */
export interface EndpointInput {
  name?: string;
  provider?: string | null;
  url?: string;
  auth?: AuthInput;
  custom_headers?: Record<string, string>;
  content_type?: 'json' | 'form';
  signing?: boolean;
  timeout_seconds?: number;
  retry_schedule?: number[] | null;
  max_attempts?: number | null;
  is_active?: boolean;
  event_types?: string[] | null;
  rate_limit_per_second?: number | null;
  ordered?: boolean;
  /** A whsec_ secret to use instead of a generated one (on creation only). */
  secret?: string;
}

/**
 * What owns an endpoint (a Kore.ai async channel's POST_URL, a platform config's webhook): it sets `fields` itself,
 * through its own API (`changeWith`); they cannot be changed on the endpoint, which would break the owner.
 */
export interface EndpointOwner {
  owner: string;
  changeWith: string;
  fields: readonly (keyof EndpointInput)[];
}

export interface SigningSecret {
  secret: string;
  expiresAt: number | null;
}


export type EndpointService = ReturnType<typeof createEndpointService>;

export function createEndpointService(deps: { store: Store; box: SecretBox; clock: Clock; newId: (p: IdPrefix) => string; config: Config }) {
  const { store, box, clock } = deps;
  const changeListeners = new Set<(id: string) => unknown>();
  /** Tells the listeners; a change is answered once they are done (the worker has read the endpoint again). */
  const changed = async (id: string): Promise<void> => {
    await Promise.all([...changeListeners].map((fn) => fn(id)));
  };
  /** What else sends through an endpoint (a channel, an event type): each names its users of an id. */
  const users: ((id: string) => Promise<string[]>)[] = [];

  const usersOf = async (id: string) => (await Promise.all(users.map((lookup) => lookup(id)))).flat();
  const nameUsers: ((name: string) => Promise<string[]>)[] = [];
  const owners: ((id: string) => Promise<EndpointOwner | null>)[] = [];
  async function ownerOf(id: string): Promise<EndpointOwner | null> {
    for (const lookup of owners) {
      const owner = await lookup(id);
      if (owner) return owner;
    }
    return null;
  }
  /** What names an endpoint by this name, when no other endpoint carries it (the others would take over). */
  async function nameUsersOf(name: string, id: string): Promise<string[]> {
    const others = (await store.endpoints.list({ name }, { limit: 2 })).some((e) => e.id !== id);
    return others ? [] : (await Promise.all(nameUsers.map((lookup) => lookup(name)))).flat();
  }
  /** Everything that sends through the endpoint: by its id, and by its name when it is the last of that name. */
  async function everyUserOf(id: string): Promise<string[]> {
    const endpoint = await store.endpoints.get(id);
    return [...(await usersOf(id)), ...(endpoint ? await nameUsersOf(endpoint.name, id) : [])];
  }
  function refuseIfUsed(id: string, using: string[]): void {
    if (using.length) throw new BotgateError('BG_ERR_CONFLICT', `Endpoint ${id} is used by ${using.join(', ')}: delete or change ${using.length > 1 ? 'those' : 'that'} first`);
  }

  async function get(id: string): Promise<EndpointRecord> {
    const endpoint = await store.endpoints.get(id);
    if (!endpoint) throw new BotgateError('BG_ERR_ENDPOINT_NOT_FOUND', `No endpoint ${id}`);
    return endpoint;
  }

  return {
    get,
    onChange(listener: (id: string) => unknown) {
      changeListeners.add(listener);
    },

    async create(input: EndpointInput): Promise<{ endpoint: EndpointRecord; secret: string }> {
      if (!input.name || !input.url) throw new BotgateError('BG_ERR_VALIDATION', 'name and url are required');
      checkLimits(input);
      const secret = input.secret ?? generateSigningSecret();
      if (!isSigningSecret(secret)) throw new BotgateError('BG_ERR_VALIDATION', 'secret must be whsec_ followed by base64 of 24 to 64 bytes');
      const now = clock.now();
      const auth = parseAuth(input.auth ?? { kind: 'none' });
      const endpoint: EndpointRecord = {
        id: deps.newId('ep'),
        name: input.name,
        provider: input.provider ?? null,
        url: checkUrl(input.url),
        authKind: auth.kind,
        authPublic: auth.public,
        authSealed: auth.sealed,
        customHeaders: checkHeaders(input.custom_headers ?? {}),
        contentType: input.content_type ?? 'json',
        signing: input.signing ?? true,
        timeoutSeconds: input.timeout_seconds ?? deps.config.delivery.default_timeout_seconds,
        retrySchedule: input.retry_schedule ?? null,
        maxAttempts: input.max_attempts ?? null,
        isActive: input.is_active ?? true,
        disabledReason: input.is_active === false ? 'manual' : null,
        disabledAt: input.is_active === false ? now : null,
        eventTypes: input.event_types ?? null,
        rateLimitPerSecond: input.rate_limit_per_second ?? null,
        ordered: input.ordered ?? false,
        secretsSealed: box.seal(JSON.stringify([{ secret, expiresAt: null } satisfies SigningSecret])),
        failingSince: null,
        lastSuccessAt: null,
        createdAt: now,
        updatedAt: now,
      };
      checkAuthHeader(endpoint.authKind, endpoint.authPublic, endpoint.customHeaders);
      await store.endpoints.insert(endpoint);
      await changed(endpoint.id);
      return { endpoint, secret };
    },

    /** Changes an endpoint; `as` names its owner when the owner itself changes it (the fields it sets are its own). */
    async update(id: string, input: EndpointInput, options: { as?: string } = {}): Promise<EndpointRecord> {
      if (input.secret !== undefined) throw new BotgateError('BG_ERR_VALIDATION', 'secret cannot be changed by an update; rotate it');
      checkLimits(input);
      const current = await get(id);
      const owner = await ownerOf(id);
      if (owner && owner.owner !== options.as) {
        // A field sent with the value GET shows changes nothing (a client sending back what it read); auth is never
        // compared, its secret not being shown.
        const shown: Record<string, unknown> = endpointView(current);
        const owned = owner.fields.filter((field) => input[field] !== undefined && (field === 'auth' || !isDeepStrictEqual(shown[field], input[field])));
        if (owned.length) {
          throw new BotgateError('BG_ERR_CONFLICT', `Endpoint ${id} belongs to ${owner.owner}, which sets its ${owned.join(', ')}: change ${owned.length > 1 ? 'them' : 'it'} through ${owner.changeWith}`);
        }
      }
      const patch: EndpointPatch = { updatedAt: clock.now() };
      if (input.name !== undefined && input.name !== current.name) {
        // Renamed under what names it (a bot's webhooks): those would name nothing and their events be lost.
        const naming = await nameUsersOf(current.name, id);
        if (naming.length) throw new BotgateError('BG_ERR_CONFLICT', `Endpoint ${id} is named "${current.name}" by ${naming.join(', ')}: change ${naming.length > 1 ? 'those' : 'that'} first`);
      }
      if (input.name !== undefined) patch.name = input.name;
      if (input.provider !== undefined) patch.provider = input.provider;
      if (input.url !== undefined) patch.url = checkUrl(input.url);
      if (input.auth !== undefined) {
        const auth = parseAuth(input.auth);
        Object.assign(patch, { authKind: auth.kind, authPublic: auth.public, authSealed: auth.sealed });
      }
      if (input.custom_headers !== undefined) patch.customHeaders = checkHeaders(input.custom_headers);
      if (input.auth !== undefined || input.custom_headers !== undefined) {
        checkAuthHeader(patch.authKind ?? current.authKind, patch.authPublic ?? current.authPublic, patch.customHeaders ?? current.customHeaders);
      }
      if (input.content_type !== undefined) patch.contentType = input.content_type;
      if (input.signing !== undefined) patch.signing = input.signing;
      if (input.timeout_seconds !== undefined) patch.timeoutSeconds = input.timeout_seconds;
      if (input.retry_schedule !== undefined) patch.retrySchedule = input.retry_schedule;
      if (input.max_attempts !== undefined) patch.maxAttempts = input.max_attempts;
      if (input.event_types !== undefined) patch.eventTypes = input.event_types;
      if (input.rate_limit_per_second !== undefined) patch.rateLimitPerSecond = input.rate_limit_per_second;
      if (input.ordered !== undefined) patch.ordered = input.ordered;
      let updated = (await store.endpoints.update(id, patch)) ?? current;
      if (input.is_active !== undefined && input.is_active !== updated.isActive) {
        updated = (await store.endpoints.setActive(id, input.is_active, 'manual', clock.now())).endpoint ?? updated;
      }
      await changed(id);
      return updated;
    },

    /** Registers a lookup of what sends through an endpoint: such an endpoint cannot be deleted. */
    usedBy(lookup: (id: string) => Promise<string[]>) {
      users.push(lookup);
    },

    /** Refuses (409) when anything but `owner` sends through the endpoint: the owner is about to delete it with itself. */
    async assertOnlyUser(id: string | null, owner: string): Promise<void> {
      if (id) refuseIfUsed(id, (await everyUserOf(id)).filter((u) => u !== owner));
    },

    /** Registers a lookup of what owns an endpoint: the fields it sets cannot be changed on the endpoint (409). */
    ownedBy(lookup: (id: string) => Promise<EndpointOwner | null>) {
      owners.push(lookup);
    },

    /** Registers a lookup of what names endpoints by name: the last endpoint of a name so named cannot be renamed or deleted. */
    namedBy(lookup: (name: string) => Promise<string[]>) {
      nameUsers.push(lookup);
    },

    async delete(id: string): Promise<void> {
      refuseIfUsed(id, await everyUserOf(id));
      if (!(await store.endpoints.delete(id))) throw new BotgateError('BG_ERR_ENDPOINT_NOT_FOUND', `No endpoint ${id}`);
      await changed(id);
    },

    /** A new secret signs from now on; the previous ones stay valid for the overlap (Svix's 24 h). */
    async rotateSecret(id: string, secret?: string): Promise<{ secret: string; previousValidUntil: number }> {
      const current = await get(id);
      const next = secret ?? generateSigningSecret();
      if (!isSigningSecret(next)) throw new BotgateError('BG_ERR_VALIDATION', 'secret must be whsec_ followed by base64 of 24 to 64 bytes');
      const now = clock.now();
      const until = now + deps.config.delivery.secret_rotation_overlap_hours * 3600_000;
      const valid = (JSON.parse(box.open(current.secretsSealed)) as SigningSecret[]).filter((s) => s.expiresAt === null || s.expiresAt > now);
      // Every valid secret signs every try: unbounded, rotations in a loop grew webhook-signature past what receivers
      // take (Node answers 431 beyond 16 KB), failing every delivery for a day. Refused instead, as Svix does.
      const previous = valid.flatMap((s) => (s.expiresAt === null ? [] : [s.expiresAt]));
      if (previous.length >= MAX_PREVIOUS_SECRETS) {
        throw new BotgateError('BG_ERR_CONFLICT', `Endpoint ${id} already has ${previous.length} previous signing secrets still valid (at most ${MAX_PREVIOUS_SECRETS}): rotate again after ${new Date(Math.min(...previous)).toISOString()}, when the oldest expires`);
      }
      const kept = valid.map((s) => ({ secret: s.secret, expiresAt: Math.min(s.expiresAt ?? until, until) }));
      const secrets: SigningSecret[] = [{ secret: next, expiresAt: null }, ...kept];
      await store.endpoints.update(id, { secretsSealed: box.seal(JSON.stringify(secrets)), updatedAt: now });
      await changed(id);
      return { secret: next, previousValidUntil: until };
    },

    /** Re-enables an endpoint: its pending deliveries resume and its failure clock restarts. */
    async enable(id: string): Promise<EndpointRecord> {
      const { endpoint } = await store.endpoints.setActive(id, true, null, clock.now());
      if (!endpoint) throw new BotgateError('BG_ERR_ENDPOINT_NOT_FOUND', `No endpoint ${id}`);
      await changed(id);
      return endpoint;
    },

    /** Disables an endpoint; `changed` is true only for the caller that flipped it, who alone publishes `announce`. */
    async disable(id: string, reason: string, announce?: Announce): Promise<{ endpoint: EndpointRecord; changed: boolean }> {
      const result = await store.endpoints.setActive(id, false, reason, clock.now(), announce);
      if (!result.endpoint) throw new BotgateError('BG_ERR_ENDPOINT_NOT_FOUND', `No endpoint ${id}`);
      await changed(id);
      return { endpoint: result.endpoint, changed: result.changed };
    },

    /** The signing secrets still valid at `now`, newest first. */
    signingSecrets(endpoint: EndpointRecord, now: number): string[] {
      return (JSON.parse(box.open(endpoint.secretsSealed)) as SigningSecret[])
        .filter((s) => s.expiresAt === null || s.expiresAt > now)
        .map((s) => s.secret);
    },

    authSecret(endpoint: EndpointRecord): Record<string, unknown> | null {
      return endpoint.authSealed ? (JSON.parse(box.open(endpoint.authSealed)) as Record<string, unknown>) : null;
    },
  };

  function parseAuth(input: AuthInput): { kind: string; public: Record<string, unknown>; sealed: string | null } {
    const kind = authKind(input.kind);
    if (!kind) throw new BotgateError('BG_ERR_VALIDATION', `auth.kind ${JSON.stringify(input.kind)} is not known`);
    try {
      const parsed = kind.parse(input);
      return { kind: input.kind, public: parsed.public, sealed: parsed.secret ? box.seal(JSON.stringify(parsed.secret)) : null };
    } catch (error) {
      if (error instanceof AuthSettingsError) throw new BotgateError('BG_ERR_VALIDATION', error.message);
      throw error;
    }
  }
}

/**
 * The bounds of the numbers an endpoint takes, here where every way in passes (the API's schema checks them too;
 * the CLI and config as code come straight here): a timeout of -5 s would make every try fail at once.
 */
function checkLimits(input: EndpointInput): void {
  // Bots name endpoints by name: one of only spaces names nothing anyone can tell apart (as apps' and agents' names).
  if (input.name !== undefined) checkName('name', input.name);
  checkRange('timeout_seconds', input.timeout_seconds, 1, 300);
  checkRange('max_attempts', input.max_attempts, 1, 100, true);
  checkRange('rate_limit_per_second', input.rate_limit_per_second, 1, 100_000, true);
  if (input.retry_schedule !== undefined && input.retry_schedule !== null) {
    if (!Array.isArray(input.retry_schedule) || input.retry_schedule.length < 1 || input.retry_schedule.length > 50) {
      throw new BotgateError('BG_ERR_VALIDATION', 'retry_schedule must be a list of 1 to 50 delays');
    }
    for (const delay of input.retry_schedule) checkRange('retry_schedule[]', delay, 0, 604_800);
    // The first attempt is made at publish time; a first delay would be ignored, silently.
    if (input.retry_schedule[0] !== 0) throw new BotgateError('BG_ERR_VALIDATION', 'retry_schedule.0 must be 0: the first attempt is made at once, the delays after it are before each retry');
  }
  checkEventTypeFilter(input.event_types);
}

function checkUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BotgateError('BG_ERR_VALIDATION', 'url must be an absolute http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BotgateError('BG_ERR_VALIDATION', 'url must use http or https');
  if (url.username || url.password) throw new BotgateError('BG_ERR_VALIDATION', 'url must not carry credentials; use auth');
  // Port 0 names no port anything listens on: every try would fail to connect.
  if (url.port === '0') throw new BotgateError('BG_ERR_VALIDATION', 'url must not name port 0');
  return url.toString();
}

/** A custom header the auth sets as well would be overwritten on every try: refused, rather than silently lost. */
function checkAuthHeader(kind: string, pub: Record<string, unknown>, headers: Record<string, string>): void {
  const name = authHeaderName(kind, pub);
  if (name !== null && Object.hasOwn(headers, name)) {
    throw new BotgateError('BG_ERR_VALIDATION', `custom_headers: ${name} is set by the endpoint's auth (${kind}); keep one of the two`);
  }
}

/**
 * Refuses (409) work asked for to be sent now through a disabled endpoint, which would hold it unsent (a test
 * message, a resend, a recover); `subject` is what the message starts with ("Endpoint ep_…").
 */
export function refuseDisabled(endpoint: EndpointRecord, subject: string): void {
  if (endpoint.isActive) return;
  throw new BotgateError('BG_ERR_CONFLICT', `${subject} is disabled (${endpoint.disabledReason ?? 'manual'}): enable it first (POST /api/endpoints/${endpoint.id}/enable, or botgate endpoints enable ${endpoint.id})`);
}

/** Previous signing secrets an endpoint keeps valid at once (Svix's limit): each adds a signature to every try. */
const MAX_PREVIOUS_SECRETS = 10;

/** The most custom headers an endpoint (or platform config) takes, and the longest value: as the API's schemas say. */
const MAX_CUSTOM_HEADERS = 50;
const MAX_HEADER_VALUE = 4096;

function checkHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const names = Object.keys(headers);
  if (names.length > MAX_CUSTOM_HEADERS) throw new BotgateError('BG_ERR_VALIDATION', `custom_headers may hold at most ${MAX_CUSTOM_HEADERS} headers, not ${names.length}`);
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!HEADER_NAME.test(name)) throw new BotgateError('BG_ERR_VALIDATION', `custom_headers: ${JSON.stringify(name)} is not a valid header name`);
    // __proto__ among them: the API's parser refuses the key, but a config file or the CLI come straight here.
    const nameProblem = headerNameProblem('custom_headers', name);
    if (nameProblem) throw new BotgateError('BG_ERR_VALIDATION', nameProblem);
    // Header names are case-insensitive (RFC 9110): X-A and x-a are one header, and one of the values would be lost.
    if (Object.hasOwn(out, lower)) throw new BotgateError('BG_ERR_VALIDATION', `custom_headers: ${name} is given twice (header names ignore case); keep one`);
    if (typeof value !== 'string' || value.length > MAX_HEADER_VALUE) throw new BotgateError('BG_ERR_VALIDATION', `custom_headers.${name} must be text of at most ${MAX_HEADER_VALUE} characters`);
    const problem = headerValueProblem(`custom_headers.${name}`, value);
    if (problem) throw new BotgateError('BG_ERR_VALIDATION', problem);
    out[lower] = value;
  }
  return out;
}

/** What the API shows of an endpoint: everything but secrets. */
export function endpointView(e: EndpointRecord) {
  return {
    id: e.id,
    name: e.name,
    provider: e.provider,
    url: e.url,
    auth: { kind: e.authKind, ...e.authPublic },
    custom_headers: e.customHeaders,
    content_type: e.contentType,
    signing: e.signing,
    timeout_seconds: e.timeoutSeconds,
    retry_schedule: e.retrySchedule,
    max_attempts: e.maxAttempts,
    is_active: e.isActive,
    disabled_reason: e.disabledReason,
    disabled_at: iso(e.disabledAt),
    event_types: e.eventTypes,
    rate_limit_per_second: e.rateLimitPerSecond,
    ordered: e.ordered,
    failing_since: iso(e.failingSince),
    last_success_at: iso(e.lastSuccessAt),
    created_at: iso(e.createdAt)!,
    updated_at: iso(e.updatedAt)!,
  };
}

export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
