// The notification engine as the gateway runs it: settings from config, the channel router, signed click links,
// producer API keys, and the scheduler (held notifications and recurring feeds, run once across processes).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { checkName } from '../ranges.ts';
import { Cron } from 'croner';
import type { Clock, Random } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { TurnDirectory } from '../conversation/turn-directory.ts';
import { generateToken, hashToken, sameSecret, tokenMatchesAny } from '../crypto/tokens.ts';
import { BotgateError } from '../errors.ts';
import { emailValue } from '../identities.ts';
import { httpBase } from '../listen-address.ts';
import type { IdPrefix } from '../ids.ts';
import type { FeedRecord, NotificationRecord } from '../store/notify-records.ts';
import type { Store } from '../store/store.ts';
import { createChannelRouter } from './channel-router.ts';
import { createNotifyEngine } from './engine.ts';
import { isValidZone, zoneOrRefuse } from './local-time.ts';
import { notifySettings, type NotifySettings } from './settings.ts';
import { DAY } from './batch.ts';
import { fillLinkUrl, type EventTypeSettings } from './types.ts';

type TypeConfig = Config['notify']['types'][string];

/** Config's snake_case type settings → the engine's. */
export function typeFromConfig(t: TypeConfig): Partial<EventTypeSettings> {
  const out: Partial<EventTypeSettings> = {};
  if (t.critical !== undefined) out.critical = t.critical;
  if (t.value !== undefined) out.value = t.value;
  if (t.cost !== undefined) out.cost = t.cost;
  if (t.cooldown_hours !== undefined) out.cooldownHours = t.cooldown_hours;
  if (t.ttl_hours !== undefined) out.ttlHours = t.ttl_hours;
  if (t.dedup_fields !== undefined) out.dedupFields = t.dedup_fields;
  if (t.digest_minutes !== undefined) out.digestMinutes = t.digest_minutes;
  if (t.templates !== undefined) out.templates = t.templates;
  if (t.endpoint !== undefined) out.endpointId = t.endpoint;
  if (t.link_url !== undefined) out.linkUrl = t.link_url;
  if (t.prior_mean !== undefined) out.priorMean = t.prior_mean;
  return out;
}

export function settingsFromConfig(c: Config['notify']): NotifySettings {
  return notifySettings({
    defaultTz: c.default_tz, strict: c.strict, capPer24h: c.cap_per_24h, quietHours: c.quiet_hours, halfLifeDays: c.half_life_days,
    priorStrength: c.prior_strength, kappa: c.kappa, dedupTtlHours: c.dedup_ttl_hours, exploration: c.exploration, explorationConcentration: c.exploration_concentration, fatigueCost: c.fatigue_cost,
    types: Object.fromEntries(Object.entries(c.types).map(([name, t]) => [name, typeFromConfig(t)])),
  });
}

const PRODUCER_KEYS = 'notify.producer_keys';
/** How long a feed run is held by its process between two batches of users before another may take it over. */
const FEED_LEASE_MS = 60_000;
const KEYS_PURGED_PER_TICK = 5_000;
type ProducerKey = { id: string; name: string; hash: string; created_at: number };

export type NotifyService = ReturnType<typeof createNotifyService>;

export function createNotifyService(deps: {
  config: Config; store: Store; clock: Clock; random: Random; newId: (p: IdPrefix) => string; directory: TurnDirectory; linkKey: Buffer;
  /** This process's worker id: the holder of the notifications and feed runs it leases. */
  workerId: string;
  onPublished: (endpointIds: string[]) => void;
  log?: { warn(o: Record<string, unknown>, m: string): void; error(o: Record<string, unknown>, m: string): void };
}) {
  const { config, store, clock, newId, workerId } = deps;
  const settings = settingsFromConfig(config.notify);
  if (!isValidZone(settings.defaultTz)) throw new BotgateError('BG_ERR_VALIDATION', `notify.default_tz: unknown time zone ${settings.defaultTz}`);
  let publicBase = () => (config.public_url ?? httpBase(config.host, config.port)).replace(/\/+$/, '');

  // Click tokens: the notification id and an HMAC of it (unforgeable without the link key, a stored secret: notify/link-key.ts).
  const sign = (id: string) => createHmac('sha256', deps.linkKey).update(id).digest('base64url').slice(0, 22);
  const links = {
    token: (notificationId: string) => `${notificationId}.${sign(notificationId)}`,
    url: (notificationId: string) => `${publicBase()}/r/${links.token(notificationId)}`,
    /** The notification id a token names, or null when forged. */
    verify(token: string): string | null {
      const dot = token.lastIndexOf('.');
      if (dot <= 0) return null;
      const id = token.slice(0, dot);
      const given = Buffer.from(token.slice(dot + 1));
      const expected = Buffer.from(sign(id));
      return given.length === expected.length && timingSafeEqual(given, expected) ? id : null;
    },
  };

  const engine = createNotifyEngine({
    store, clock, random: deps.random, newId, settings, router: createChannelRouter({ store, directory: deps.directory, newId }),
    linkFor: links.url, log: deps.log, onPublished: deps.onPublished, workerId,
  });

  // Read on every producer request: cached for a moment (a key made or deleted in another process counts within 2 s).
  const KEYS_TTL_MS = 2000;
  const configKeyHashes = config.notify.producer_key ? [Buffer.from(hashToken(config.notify.producer_key), 'hex')] : [];
  type Keys = { at: number; keys: ProducerKey[]; hashes: Buffer[] };
  let keysCache: Keys | null = null;
  let loading: Promise<Keys> | null = null; // requests arriving while the keys are read share the read
  const cachedKeys = () => (keysCache && clock.now() - keysCache.at < KEYS_TTL_MS ? keysCache : null);
  let generation = 0; // a key made or deleted here: reads begun before it are not cached
  async function readKeys(): Promise<Keys> {
    const at = clock.now();
    const began = generation;
    const raw = await store.settings.get(PRODUCER_KEYS);
    const keys = raw ? (JSON.parse(raw) as ProducerKey[]) : [];
    const read = { at, keys, hashes: [...configKeyHashes, ...keys.map((k) => Buffer.from(k.hash, 'hex'))] };
    if (began === generation) keysCache = read;
    return read;
  }
  const keysChanged = () => {
    generation++;
    keysCache = null;
    loading = null;
  };
  function loadKeys(fresh = false): Promise<Keys> {
    if (fresh) return readKeys();
    const cached = cachedKeys();
    if (cached) return Promise.resolve(cached);
    return (loading ??= readKeys().finally(() => (loading = null)));
  }
  const producerKeys = async (fresh = false) => (await loadKeys(fresh)).keys;
  // Per keep-alive connection: the last producer key found valid on it, and the read of the keys it was valid in.
  const validOn = new WeakMap<object, { key: string; keys: Keys }>();

  /** The next run of a feed after t, or null when its expression has none. */
  function nextRun(cron: string, tz: string, t: number): number | null {
    // Quartz's `?` (no specific day) is `*`; croner would read it as the day the expression was parsed.
    const next = new Cron(cron.replaceAll('?', '*'), { timezone: tz, paused: true }).nextRun(new Date(t));
    return next ? next.getTime() : null;
  }

  /**
   * Runs the due feeds, each run once across processes: advance() moves a feed to its next run and marks this one
   * under way with a lease, renewed between batches of 1,000 users and cleared at the end. A run whose process
   * stopped in the middle, or that failed, is taken over once its lease runs out and run again: its per-user
   * idempotency keys make the users already decided duplicates (skip: dedup), so each user is notified once.
   */
  // Each lease runs from the moment it is taken, not from the tick's start: an earlier feed of the tick may have
  // taken a while.
  const leaseFromNow = () => clock.now() + FEED_LEASE_MS;

  async function runFeeds(): Promise<number> {
    const now = clock.now();
    let fired = 0;
    for (const { feed, runAt, leaseUntil } of await store.notify.feeds.stalled(now, workerId)) {
      const lease = leaseFromNow();
      if (!(await store.notify.feeds.lease(feed.id, runAt, leaseUntil, lease, workerId))) continue;
      if (feed.nextRunAt !== null && feed.nextRunAt <= now) {
        // Superseded: a run that kept failing (or whose process stopped) gives way once the feed's next run is due,
        // which the loop below then starts; a feed is never held up by one run.
        await store.notify.feeds.finishRun(feed.id, runAt, lease);
        deps.log?.error({ feed_id: feed.id, feed: feed.name, run_at: new Date(runAt).toISOString() }, 'feed run given up: the next run is due');
        continue;
      }
      fired += await runFeedAlone(feed, runAt, lease);
    }
    // Only the due ones: a feed holds up to 100,000 user ids, and this runs every tick in every process.
    for (const feed of await store.notify.feeds.due(now)) {
      if (feed.nextRunAt === null) continue;
      const lease = leaseFromNow();
      // Compare-and-set: of all processes that see this run due, exactly one moves it on and runs it.
      if (!(await store.notify.feeds.advance(feed.id, feed.nextRunAt, nextRun(feed.cron, feed.tz, now), now, lease, workerId))) continue;
      fired += await runFeedAlone(feed, feed.nextRunAt, lease);
    }
    return fired;
  }

  /**
   * One run, its failure kept to itself: logged, the run left under way, so it is taken over (tried again) once its
   * lease runs out, until the feed's next run supersedes it; the other feeds of the tick run regardless. 1 if it ran.
   */
  async function runFeedAlone(feed: FeedRecord, runAt: number, lease: number): Promise<number> {
    try {
      return (await runFeed(feed, runAt, lease)) ? 1 : 0;
    } catch (error) {
      deps.log?.error({ err: error, feed_id: feed.id, feed: feed.name, run_at: new Date(runAt).toISOString() }, 'feed run failed; tried again once its lease runs out');
      return 0;
    }
  }

  /** Decides the run at `runAt` for every user of the feed; false when another process took the run over. */
  async function runFeed(feed: FeedRecord, runAt: number, lease: number): Promise<boolean> {
    const users = feed.userIds ?? [];
    for (let i = 0; i < users.length; i += 1000) {
      if (i > 0) {
        const renewed = leaseFromNow();
        if (!(await store.notify.feeds.lease(feed.id, runAt, lease, renewed, workerId))) return false;
        lease = renewed;
      }
      await engine.decide(users.slice(i, i + 1000).map((userId) => ({
        userId, eventType: feed.eventType, params: { ...feed.params, feed: feed.name }, occurredAt: runAt, idempotencyKey: `feed:${feed.id}:${runAt}:${userId}`,
      })));
    }
    await store.notify.feeds.finishRun(feed.id, runAt, lease);
    return true;
  }

  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  async function tick(): Promise<void> {
    try {
      // Another process may have changed a type through the admin API: pick it up within a tick.
      if (store.capabilities.multiProcess) await engine.reloadOverrides();
      await runFeeds();
      for (let i = 0; i < 20; i++) {
        const due = await engine.runDue(500);
        if (due.sent.length + due.dropped.length + due.held < 500) break;
      }
      // Dedup keys a day past their expiry (no event decided now or replayed within a day can meet them), a
      // bounded number per tick so a backlog never pauses the store for long.
      await store.notify.purgeKeys(clock.now() - DAY, KEYS_PURGED_PER_TICK);
    } catch (error) {
      deps.log?.error({ err: error }, 'notification scheduler tick failed');
    }
  }

  const service = {
    engine,
    links,
    settings,
    /** Every configured event type's name: the config's (patterns too) and those given an override. */
    async typeNames(): Promise<string[]> {
      return [...new Set([...Object.keys(settings.types), ...(await store.notify.overrides()).keys()])].sort();
    },
    runFeeds,
    tick,
    /** Where click links point (the gateway knows once it listens). */
    setPublicBase(fn: () => string) {
      publicBase = fn;
    },

    async start() {
      // An embedded store has no other process: a notification leased in it was being sent by one that died, and
      // goes out at the first tick rather than when its minute's lease runs out (as deliveries are taken back); a feed
      // run under way is taken over at the first tick likewise. (PostgreSQL: the holders' liveness locks tell.)
      if (!store.capabilities.multiProcess) {
        await store.notify.releaseLeases();
        await store.notify.feeds.releaseRuns();
      }
      await engine.reloadOverrides();
      // Counts kept under another notify.half_life_days keep their value now and decay at the new rate from here.
      await engine.useHalfLife();
      const every = config.notify.tick_seconds * 1000;
      const loop = () => {
        running = tick().finally(() => {
          running = null;
          if (timer) timer = setTimeout(loop, every);
        });
      };
      timer = setTimeout(loop, 0);
      timer.unref?.();
    },
    async stop() {
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },

    /** The user an email names (legacy callers identify users by email), or null. */
    async userByEmail(email: string): Promise<string | null> {
      const value = emailValue(email);
      return value === null ? null : ((await store.users.byIdentity({ kind: 'email', value }))?.id ?? null);
    },
    /** The user an email names, created on first sight with that identity. */
    async userForEmail(email: string): Promise<string> {
      // Blank is no address: it would make one user of every caller that sends spaces.
      const value = emailValue(email);
      if (value === null) throw new BotgateError('BG_ERR_VALIDATION', 'userInfo.email must be an email address');
      const known = await service.userByEmail(email);
      if (known) return known;
      // attach creates the user; another request that attached the email first wins.
      const id = newId('usr');
      const { conflict } = await store.users.attach(id, [{ kind: 'email', value }], clock.now());
      return conflict ? (await service.userByEmail(email))! : id;
    },
    /** Where a click on a notification goes: the type's link_url (params filled in), else params.url; http(s) only. */
    linkTarget(n: NotificationRecord): string | null {
      const type = engine.type(n.eventType);
      const raw = type.linkUrl
        ? fillLinkUrl(type.linkUrl, (k) => String(n.params[k] ?? ''))
        : typeof n.params.url === 'string' ? n.params.url : null;
      if (!raw) return null;
      // http(s) only, as a Location header can carry it: the WHATWG parse percent-encodes (and punycodes) what HTTP cannot send.
      try {
        const url = new URL(raw);
        return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
      } catch {
        return null;
      }
    },

    /**
     * Whether a presented producer key is valid (constant-time against each stored hash); at once while the keys are
     * cached. Given the connection it came on, a key that connection presented before and that was valid against the
     * same read of the keys is compared (in constant time) with that one instead of being hashed again.
     */
    producerKeyValid(presented: string, connection?: object): boolean | Promise<boolean> {
      const check = (keys: Keys): boolean => {
        const before = connection && validOn.get(connection);
        if (before && before.keys === keys && sameSecret(presented, before.key)) return true;
        const ok = tokenMatchesAny(presented, keys.hashes);
        if (ok && connection) validOn.set(connection, { key: presented, keys });
        return ok;
      };
      const cached = cachedKeys();
      return cached ? check(cached) : loadKeys().then(check);
    },
    async createProducerKey(name: string): Promise<{ id: string; name: string; key: string; created_at: string }> {
      checkName('name', name);
      const key = generateToken('bgk');
      const record: ProducerKey = { id: newId('pk'), name, hash: hashToken(key), created_at: clock.now() };
      await store.exclusive('producer-keys', async () => store.settings.set(PRODUCER_KEYS, JSON.stringify([...(await producerKeys(true)), record])));
      keysChanged();
      return { id: record.id, name, key, created_at: new Date(record.created_at).toISOString() };
    },
    async listProducerKeys() {
      return (await producerKeys()).map((k) => ({ id: k.id, name: k.name, created_at: new Date(k.created_at).toISOString() }));
    },
    async deleteProducerKey(id: string): Promise<boolean> {
      return store.exclusive('producer-keys', async () => {
        const keys = await producerKeys(true);
        const left = keys.filter((k) => k.id !== id);
        if (left.length === keys.length) return false;
        await store.settings.set(PRODUCER_KEYS, JSON.stringify(left));
        keysChanged();
        return true;
      });
    },

    /** A feed's next run after `now`, its cron and time zone checked (a bad one, or one never firing, is a validation error named at `prefix`). */
    schedule(cron: string, tz: string, now: number, prefix = ''): number {
      zoneOrRefuse(tz, `${prefix}tz`);
      let next: number | null;
      try {
        next = nextRun(cron, tz, now);
      } catch (error) {
        throw new BotgateError('BG_ERR_VALIDATION', `${prefix}cron: ${(error as Error).message}`);
      }
      // 30 February, 31 April: a feed that would silently never run.
      if (next === null) throw new BotgateError('BG_ERR_VALIDATION', `${prefix}cron: ${cron} never fires from now on`);
      return next;
    },

    /** A feed's zone as given (checked); null or none: notify.default_tz. */
    feedZone(tz: string | null | undefined, field: string): string {
      return zoneOrRefuse(tz ?? settings.defaultTz, field);
    },

    /** A feed's name is unique: another feed (not `except`) with this name is a conflict. */
    async refuseTakenFeedName(name: string, except?: string): Promise<void> {
      const other = (await store.notify.feeds.list()).find((f) => f.name === name && f.id !== except);
      if (other) throw new BotgateError('BG_ERR_CONFLICT', `A feed named "${name}" exists (${other.id}); feed names are unique`);
    },

    async createFeed(input: { name: string; cron: string; tz?: string | null; event_type: string; user_ids: string[]; params?: Record<string, unknown>; is_active?: boolean }): Promise<FeedRecord> {
      await service.refuseTakenFeedName(input.name);
      const tz = service.feedZone(input.tz, 'tz');
      const next = service.schedule(input.cron, tz, clock.now());
      const now = clock.now();
      const feed: FeedRecord = {
        id: newId('feed'), name: input.name, cron: input.cron, tz, eventType: input.event_type, userIds: input.user_ids, params: input.params ?? {},
        isActive: input.is_active ?? true, nextRunAt: next, lastRunAt: null, createdAt: now, updatedAt: now,
      };
      await store.notify.feeds.insert(feed);
      return feed;
    },
  };
  return service;
}
