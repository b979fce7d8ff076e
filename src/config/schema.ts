// The configuration schema: every key, its default and its bounds. Keys are snake_case; nested keys map to
// environment variables with a double underscore (`delivery.concurrency` ↔ BOTGATE_DELIVERY__CONCURRENCY).
import { z } from 'zod';
import ipaddr from 'ipaddr.js';
import { isValidZone } from '../notify/local-time.ts';
import { MIN_MASTER_KEY_LENGTH, SHORT_MASTER_KEY } from '../crypto/secret-box.ts';
import { linkUrlProblem, MAX_DIGEST_MINUTES, MAX_HOURS, templateTextProblem } from '../notify/types.ts';

/** Whether a text is an IPv4 or IPv6 CIDR range. */
function cidr(text: string): boolean {
  try {
    ipaddr.parseCIDR(text.trim());
    return true;
  } catch {
    return false;
  }
}

/** An http:// or https:// URL (`localhost:3000` parses as a URL of the scheme "localhost:"). */
const httpUrl = () => z.string().url().refine((text) => /^https?:\/\/[^/]/i.test(text), { message: 'must be an http:// or https:// URL' });

/** A time of day, HH:MM. */
const CLOCK = /^([01]\d|2[0-3]):[0-5]\d$/;

/** Svix's schedule: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (DESIGN.md, "Retries"). */
export const SVIX_RETRY_SCHEDULE_SECONDS = [0, 5, 300, 1800, 7200, 18000, 36000, 36000];

const seconds = z.number().min(0).max(7 * 24 * 3600);
/**
 * A bearer token the gateway compares with what clients send: without surrounding whitespace (a variable filled from
 * a secret file often ends in a newline), which no Authorization header can carry, so no request would ever match; nor
 * with whitespace or control characters inside (a passphrase): the bearer of a header is one run without them.
 */
const bearerToken = (min: number) =>
  z.string().trim().min(min, `must be at least ${min} characters`).regex(/^[^\s\x00-\x1f\x7f]*$/, 'must not contain whitespace or control characters (it is sent as Authorization: Bearer <token>)');
/** A boolean key: true or false (the file's YAML 1.2 reads yes, no, on and off as text). */
const flag = () => z.boolean({ error: 'expected true or false' });
/** One of a few words, in any case (LOG_LEVEL=INFO, sqlite_synchronous: full), kept as the schema spells it. */
const word = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess((v) => (typeof v === 'string' ? (values.find((w) => w.toLowerCase() === v.trim().toLowerCase()) ?? v) : v), z.enum(values));

const deliverySchema = z.strictObject({
  /** Deliveries in flight at once in this process. */
  concurrency: z.number().int().min(1).max(10_000).default(256),
  /** Deliveries in flight at once to one endpoint from this process. */
  per_endpoint_concurrency: z.number().int().min(1).max(10_000).default(128),
  /**
   * Deliveries published in this process that its worker takes at once, leased to it as they are stored and held in
   * memory until a slot frees, at most (0: every delivery waits in the store for a claim).
   */
  handoff_queue_size: z.number().int().min(0).max(100_000).default(30_000),
  /** The payloads of those held deliveries, in characters (about bytes), at most; one is taken whatever its size. */
  handoff_queue_bytes: z.number().int().min(0).max(1 << 30).default(32 << 20),
  /** How many due deliveries one claim takes at most. */
  claim_batch_size: z.number().int().min(1).max(5_000).default(200),
  /** How often an idle worker looks for due deliveries (in-process publishes wake it at once). */
  poll_interval_ms: z.number().int().min(10).max(60_000).default(200),
  /** A claimed delivery's lease lasts its timeout plus this grace; an expired lease is claimed again. */
  lease_grace_seconds: z.number().min(1).max(3600).default(30),
  /** On shutdown, in-flight deliveries get this long to finish before they are released. */
  shutdown_deadline_seconds: z.number().min(0).max(600).default(10),
  default_timeout_seconds: z.number().min(1).max(300).default(15),
  /** Delay before each attempt: the first is immediate (0), the others wait before each retry. */
  retry_schedule_seconds: z.array(seconds).min(1).max(50)
    .refine((s) => s[0] === 0, { message: 'must start with 0: the first attempt is made at once' }).default(SVIX_RETRY_SCHEDULE_SECONDS),
  /** ±jitter as a fraction of each delay. */
  jitter: z.number().min(0).max(0.9).default(0.2),
  /** Minimum wait after a timeout or a 429. */
  min_delay_after_throttle_seconds: seconds.default(60),
  /** An endpoint failing without a single success for this long is disabled. */
  disable_after_failing_hours: z.number().min(1).max(24 * 365).default(5 * 24),
  /** How much of each response body an attempt row keeps. */
  max_response_bytes: z.number().int().min(0).max(1 << 20).default(20 * 1024),
  /** Addresses (IPs, CIDRs or host names) deliveries may reach although they are not public. */
  allow_private: z.array(z.string().min(1).refine((entry) => !entry.includes('/') || cidr(entry), { message: 'not a CIDR range (such as 10.0.0.0/8 or fd00::/8)' })).default([]),
  /** How long an old signing secret stays valid after a rotation. */
  secret_rotation_overlap_hours: z.number().min(0).max(24 * 30).default(24),
  user_agent: z.string().min(1).default('botgate-webhooks/0.1'),
  /** Worker threads that do the deliveries' HTTP (0: on the main thread, next to the store and the API). */
  http_threads: z.number().int().min(0).max(16).default(0),
  /** How many completed attempts are written to the store in one transaction at most. */
  flush_batch_size: z.number().int().min(1).max(5_000).default(500),
});

const retentionSchema = z.strictObject({
  /** Message payloads and attempt response bodies older than this are purged (rows stay, `expired: true`). */
  days: z.number().min(1).max(3650).default(30),
  interval_minutes: z.number().min(1).max(24 * 60).default(60),
  batch_size: z.number().int().min(10).max(100_000).default(1000),
});

const apiSchema = z.strictObject({
  /** Largest body the management API accepts. */
  body_limit_bytes: z.number().int().min(1024).max(64 << 20).default(1 << 20),
  /** Largest body of a batch publish. */
  batch_body_limit_bytes: z.number().int().min(1024).max(256 << 20).default(16 << 20),
  max_batch_size: z.number().int().min(1).max(10_000).default(1000),
  idempotency_ttl_hours: z.number().min(1).max(24 * 30).default(24),
  /** A recover job may look this far back at most. */
  max_recover_days: z.number().min(1).max(90).default(14),
});

const koreSchema = z.strictObject({
  /** Largest request the Kore.ai webhook channel accepts (413 above). */
  body_limit_bytes: z.number().int().min(1024).max(1 << 20).default(10 * 1024),
  /** Tolerance for exp/nbf/iat of channel JWTs. */
  clock_skew_seconds: z.number().min(0).max(3600).default(60),
  /** A new channel's sync timeout. */
  sync_timeout_seconds: z.number().min(0.1).max(300).default(15),
});

const handoffSchema = z.strictObject({
  /** A conversation waiting this long for an agent goes back to the bot, and the user is told. */
  agent_wait_minutes: z.number().min(0.01).max(7 * 24 * 60).default(10),
  /** How often waiting conversations are checked for that. */
  sweep_seconds: z.number().min(0.05).max(3600).default(15),
});

const platformSchema = z.strictObject({
  /** Largest request body of the platform webhooks (413 above). */
  body_limit_bytes: z.number().int().min(1024).max(1 << 20).default(64 * 1024),
  /** Largest user message text, in UTF-8 bytes (413 above); a platform config may set its own. */
  max_message_bytes: z.number().int().min(16).max(1 << 20).default(10 * 1024),
  /** Requests per minute per platform config (429 above); a platform config may set its own. */
  rate_limit_per_minute: z.number().int().min(1).max(10_000_000).default(100),
  /** Where Twilio's Messages API lives (async replies POST to {base}/2010-04-01/Accounts/{sid}/Messages.json). */
  twilio_api_base: httpUrl().default('https://api.twilio.com'),
});

const notifyTypeSchema = z.strictObject({
  critical: flag().optional(),
  value: z.number().min(0).optional(),
  cost: z.number().min(0).optional(),
  cooldown_hours: z.number().min(0).max(MAX_HOURS).optional(),
  ttl_hours: z.number().positive().max(MAX_HOURS).optional(),
  dedup_fields: z.array(z.string()).optional(),
  digest_minutes: z.number().min(0).max(MAX_DIGEST_MINUTES).optional(),
  templates: z.array(z.strictObject({ id: z.string().min(1).max(40), text: z.string().min(1).max(2000).check((ctx) => {
    const problem = templateTextProblem(ctx.value);
    if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
  }) })).min(1)
    .refine((ts) => new Set(ts.map((t) => t.id)).size === ts.length, { message: 'template ids must be unique' }).optional(),
  endpoint: z.string().min(1).optional(),
  link_url: z.string().max(2048).check((ctx) => {
    const problem = linkUrlProblem(ctx.value);
    if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
  }).optional(),
  prior_mean: z.number().gt(0).lt(1).optional(),
});

const notifySchema = z.strictObject({
  /** Zone of users who have none (IANA name). */
  default_tz: z.string().refine(isValidZone, { message: 'not a time zone (an IANA name such as Europe/Berlin, or UTC)' }).default('UTC'),
  /** Unknown event types are refused (skip unknown_type) instead of decided with the `default` type. */
  strict: flag().default(false),
  cap_per_24h: z.number().int().min(0).default(3),
  quiet_hours: z.strictObject({ start: z.string().regex(CLOCK, 'a time of day HH:MM, 00:00 to 23:59').default('22:00'), end: z.string().regex(CLOCK, 'a time of day HH:MM, 00:00 to 23:59').default('08:00') }).prefault({}),
  half_life_days: z.number().positive().default(14),
  prior_strength: z.number().positive().default(20),
  kappa: z.number().min(0).default(0.25),
  dedup_ttl_hours: z.number().positive().max(MAX_HOURS).default(24),
  exploration: word(['thompson', 'mean']).default('thompson'),
  /** Thompson draws from Beta(k·α, k·β): the posterior's mean, its spread narrowed by √k (1 = plain Thompson). */
  exploration_concentration: z.number().min(1).max(10_000).default(16),
  /** A send also costs the attention it takes from the user's other notifications of the next 24 h. */
  fatigue_cost: flag().default(true),
  /** Batch size limit of POST /api/events (413 above). */
  max_batch: z.number().int().min(1).max(100_000).default(1000),
  /** How often held notifications and feeds are checked. */
  tick_seconds: z.number().min(0.05).max(3600).default(5),
  /** A producer API key (besides keys made through the API); stored only as a hash. */
  producer_key: bearerToken(16).optional(),
  /** Event types: these settings over the built-in defaults (docs/notifications.md). */
  types: z.record(z.string(), notifyTypeSchema).default({}),
});

const demoSchema = z.strictObject({
  /** auto: the demo bot, app, channel and `orders` endpoint exist when the config declares no bots. */
  enabled: z.union([z.literal('auto'), z.boolean()], { error: 'expected auto, true or false' }).default('auto'),
  /** Where the demo's order.confirmed webhooks go; default: the demo receiver route of this gateway (allow-listed). */
  orders_url: httpUrl().optional(),
});

// Config as code: declared resources, applied idempotently at start (keyed by name). Secrets come from the
// environment: `*_env` names the variable (read by the loader, which is the only reader of process.env).
const secretRef = { env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must name an environment variable').optional() };
const appDeclaration = z.strictObject({
  name: z.string().min(1),
  client_id: z.string().min(1).optional(),
  client_secret: z.string().min(16, 'must be at least 16 characters').optional(),
  client_secret_env: secretRef.env,
});
const botDeclaration = z.strictObject({ file: z.string().min(1) });
const endpointDeclaration = z.strictObject({
  name: z.string().min(1),
  url: httpUrl(),
  provider: z.string().optional(),
  event_types: z.array(z.string()).optional(),
  auth: z.record(z.string(), z.unknown()).optional(),
  custom_headers: z.record(z.string(), z.string()).optional(),
  timeout_seconds: z.number().optional(),
  ordered: flag().optional(),
  rate_limit_per_second: z.number().int().optional(),
  secret: z.string().optional(),
  secret_env: secretRef.env,
});
const channelDeclaration = z.strictObject({
  name: z.string().min(1),
  bot: z.string().min(1),
  app: z.string().min(1),
  mode: word(['sync', 'async']),
  post_url: httpUrl().optional(),
  access_token: z.string().optional(),
  access_token_env: secretRef.env,
  sync_timeout_seconds: z.number().optional(),
});

/**
 * Declarations are keyed by name: two of one name would both be applied, the later over the earlier, at every start
 * (two secrets rotating in turn, two URLs), so the second is refused, naming the first.
 */
function declarations<T extends z.ZodType<{ name: string }>>(list: string, item: T) {
  return z.array(item).superRefine((items, ctx) => {
    const first = new Map<string, number>();
    items.forEach(({ name }, index) => {
      const earlier = first.get(name);
      if (earlier === undefined) first.set(name, index);
      else ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `"${name}" is declared twice (${list}.${earlier} too): one declaration per name` });
    });
  });
}

export const configSchema = z.strictObject({
  port: z.number().int().min(0).max(65535).default(3000),
  /** An IPv6 address bare (::1): `[::1]` is how a URL writes it, which the listener cannot resolve. */
  host: z.string().min(1).refine((text) => !/^\[.*\]$/.test(text.trim()), { message: 'an IPv6 address is given bare (::1), without brackets' }).default('127.0.0.1'),
  /** The URL clients use to reach this gateway (printed at start, used in links); defaults to http://host:port. */
  public_url: httpUrl().optional(),
  data_dir: z.string().min(1).default('./data'),
  /** postgres://… selects PostgreSQL; unset means the embedded SQLite file in data_dir. */
  database_url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
  /** PostgreSQL schema botgate keeps its tables in (created when missing). */
  database_schema: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a lower-case SQL identifier').default('public'),
  database_pool_size: z.number().int().min(1).max(200).default(10),
  /** SQLite durability: NORMAL survives a crash of the process (kill -9); FULL also survives power loss. */
  sqlite_synchronous: word(['NORMAL', 'FULL']).default('NORMAL'),
  admin_token: bearerToken(16).optional(),
  /** 32 bytes as base64 or hex, or any passphrase of 16+ characters (whitespace around not counted); unset: generated into data_dir. */
  master_key: z.string().trim().min(MIN_MASTER_KEY_LENGTH, SHORT_MASTER_KEY).optional(),
  metrics_token: bearerToken(8).optional(),
  log_level: word(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Shown in logs and leases: which process holds a delivery. */
  instance_id: z.string().min(1).max(100).optional(),
  delivery: deliverySchema.prefault({}),
  kore: koreSchema.prefault({}),
  handoff: handoffSchema.prefault({}),
  platform: platformSchema.prefault({}),
  notify: notifySchema.prefault({}),
  demo: demoSchema.prefault({}),
  apps: declarations('apps', appDeclaration).default([]),
  bots: z.array(botDeclaration).default([]),
  endpoints: declarations('endpoints', endpointDeclaration).default([]),
  channels: declarations('channels', channelDeclaration).default([]),
  retention: retentionSchema.prefault({}),
  api: apiSchema.prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type DeliveryConfig = Config['delivery'];
export type AppDeclaration = z.infer<typeof appDeclaration>;
export type EndpointDeclaration = z.infer<typeof endpointDeclaration>;
export type ChannelDeclaration = z.infer<typeof channelDeclaration>;
