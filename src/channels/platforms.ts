// Platform configs (/api/webhook/config): a third-party chat platform connected to a bot. Each is a channel of
// kind `platform` (or `twilio`) plus an endpoint of the delivery engine for what goes back to the platform —
// its outgoing webhook URL with the platform's bearer token, or Twilio's Messages API — and inbound
// credentials: a generated inbound token (shown once, stored as a hash), a signature scheme, Twilio's auth token.
// What a config's input and settings are, and their checks: platform-settings.ts.
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { SecretBox } from '../crypto/secret-box.ts';
import { generateToken, hashToken } from '../crypto/tokens.ts';
import type { EndpointInput, EndpointService } from '../delivery/endpoints.ts';
import { BotgateError, withFieldNames } from '../errors.ts';
import { checkName } from '../ranges.ts';
import type { IdPrefix } from '../ids.ts';
import type { ChannelRecord, EndpointRecord, Store } from '../store/store.ts';
import { PLATFORM_MESSAGE_EVENT } from './platform-adapter.ts';
import { channelNameTaken } from './channels.ts';
import { checkLimits, checkNotForTwilio, checkSignatureSecret, checkTwilio, settingsOf, type PlatformInput, type PlatformSettings, type SignatureInput } from './platform-settings.ts';

export const TWILIO_MESSAGE_EVENT = 'twilio.message';
export const PLATFORM_KINDS = ['platform', 'twilio'] as const;
/**
 * What a platform config sets on its webhook's endpoint (PUT /api/webhook/config/{id}: outgoing_webhook_url, auth_token,
 * custom_headers, timeout_seconds, retry_attempts, or twilio's settings); the rest, a retry schedule say, is the endpoint's.
 */
export const PLATFORM_ENDPOINT_FIELDS = ['name', 'provider', 'url', 'auth', 'content_type', 'signing', 'event_types', 'ordered', 'custom_headers', 'timeout_seconds', 'max_attempts'] as const;

/** The endpoint's fields a platform config sets, as the config's API names them (for its validation errors). */
const PLATFORM_FIELDS = { url: 'outgoing_webhook_url', 'auth.token': 'auth_token' };

export type PlatformService = ReturnType<typeof createPlatformService>;

export function createPlatformService(deps: { store: Store; box: SecretBox; clock: Clock; newId: (p: IdPrefix) => string; config: Config; endpoints: EndpointService; onChange?: (channelId: string) => void }) {
  const { store, box, clock, config } = deps;
  const byToken = new Map<string, { channel: ChannelRecord | null; at: number }>();
  const byId = new Map<string, { channel: ChannelRecord | null; at: number }>();
  const changed = (id: string) => {
    byToken.clear();
    byId.delete(id);
    deps.onChange?.(id);
  };

  async function get(id: string): Promise<ChannelRecord> {
    const channel = await store.channels.get(id);
    if (!channel || !(PLATFORM_KINDS as readonly string[]).includes(channel.kind)) throw new BotgateError('BG_ERR_PLATFORM_NOT_FOUND', `No platform config ${id}`);
    return channel;
  }

  async function pickBot(name: string | undefined): Promise<string> {
    if (name) {
      if (!(await store.bots.get(name))) throw new BotgateError('BG_ERR_BOT_NOT_FOUND', `No bot ${name}`);
      return name;
    }
    const bots = await store.bots.list();
    if (bots.length !== 1) throw new BotgateError('BG_ERR_VALIDATION', bots.length ? 'bot is required: there are several bots' : 'bot is required: none is loaded yet');
    return bots[0].id;
  }

  /** The endpoint's auth for auth_token, checked under this API's field name (the endpoint would name auth.token). */
  // The endpoint service checks the token (its errors name auth_token: PLATFORM_FIELDS).
  function bearer(token: string | null | undefined): EndpointInput['auth'] {
    return token ? { kind: 'bearer', token } : { kind: 'none' };
  }

  function twilioEndpoint(sid: string, token: string): Pick<EndpointInput, 'url' | 'auth' | 'content_type' | 'signing' | 'event_types'> {
    return {
      url: `${config.platform.twilio_api_base.replace(/\/$/, '')}/2010-04-01/Accounts/${encodeURIComponent(sid)}/Messages.json`,
      auth: { kind: 'basic', username: sid, password: token },
      content_type: 'form',
      signing: false,
      event_types: [TWILIO_MESSAGE_EVENT],
    };
  }

  function sealSignature(input: SignatureInput, previous: PlatformSettings['signature']): PlatformSettings['signature'] {
    const { secret, ...scheme } = input;
    if (secret) checkSignatureSecret(scheme.preset, secret);
    const secretSealed = secret ? box.seal(secret) : previous?.secretSealed;
    if (!secretSealed) throw new BotgateError('BG_ERR_VALIDATION', 'signature.secret is required');
    if (scheme.preset === 'custom' && (!scheme.header || !scheme.algorithm || !scheme.encoding || !scheme.content)) {
      throw new BotgateError('BG_ERR_VALIDATION', 'a custom signature needs header, algorithm, encoding and content');
    }
    // A content that signs a timestamp needs the header it comes in: else "{timestamp}" signs nothing and no
    // replay window applies, silently.
    if (scheme.content?.includes('{timestamp}') && !scheme.timestamp_header && scheme.preset === 'custom') {
      throw new BotgateError('BG_ERR_VALIDATION', 'signature.content signs {timestamp}: set signature.timestamp_header, the header it comes in');
    }
    return { ...scheme, secretSealed };
  }


  return {
    get,

    async create(input: PlatformInput): Promise<{ channel: ChannelRecord; endpoint: EndpointRecord; inboundToken: string | null; signingSecret: string | undefined }> {
      if (!input.name) throw new BotgateError('BG_ERR_VALIDATION', 'name is required');
      checkName('name', input.name);
      checkLimits(input, config.platform.body_limit_bytes);
      if (await channelNameTaken(store, input.name)) throw new BotgateError('BG_ERR_CONFLICT', `A channel or platform config named ${input.name} exists`);
      // The name stands in for a missing provider, made a valid provider name ("Fresh Chat" → "fresh-chat").
      const provider = (input.provider ?? input.name).toLowerCase().replace(/[^a-z0-9._-]+/g, '-');
      const twilio = provider === 'twilio';
      if (twilio && (!input.twilio?.account_sid || !input.twilio.auth_token)) throw new BotgateError('BG_ERR_VALIDATION', 'a twilio config needs twilio.account_sid and twilio.auth_token');
      if (!twilio && input.twilio) throw new BotgateError('BG_ERR_VALIDATION', 'twilio settings belong to provider twilio');
      if (twilio) checkNotForTwilio(input);
      checkTwilio(input.twilio);
      if (!twilio && !input.outgoing_webhook_url) throw new BotgateError('BG_ERR_VALIDATION', 'outgoing_webhook_url is required');
      const botId = await pickBot(input.bot);
      // Checked before the endpoint exists: a refused config leaves nothing behind.
      const signature = input.signature ? sealSignature(input.signature, null) : null;
      const id = deps.newId('ch');
      const now = clock.now();
      const { endpoint, secret } = await withFieldNames(PLATFORM_FIELDS, () => deps.endpoints.create({
        name: `platform ${input.name}`,
        provider,
        ordered: true,
        custom_headers: input.custom_headers,
        timeout_seconds: input.timeout_seconds,
        max_attempts: input.retry_attempts == null ? null : input.retry_attempts + 1,
        is_active: input.is_active,
        ...(twilio
          ? twilioEndpoint(input.twilio!.account_sid, input.twilio!.auth_token!)
          : {
            url: input.outgoing_webhook_url,
            auth: bearer(input.auth_token),
            event_types: [PLATFORM_MESSAGE_EVENT, 'handoff.*'],
          }),
      }));
      // Twilio signs its requests (X-Twilio-Signature): a Twilio config has no inbound token.
      const inboundToken = twilio ? null : generateToken('bgp');
      const settings: PlatformSettings = {
        isActive: input.is_active ?? true,
        rateLimitPerMinute: input.rate_limit_per_minute ?? null,
        maxMessageBytes: input.max_message_bytes ?? null,
        signature,
        fields: input.fields ?? null,
        twilio: twilio
          ? { accountSid: input.twilio!.account_sid, authTokenSealed: box.seal(input.twilio!.auth_token!), publicUrl: input.twilio!.public_url ?? null, replyMode: input.twilio!.reply_mode ?? 'twiml' }
          : null,
      };
      const channel: ChannelRecord = {
        id, name: input.name, botId, kind: twilio ? 'twilio' : 'platform', mode: 'async', appId: '', endpointId: endpoint.id,
        syncTimeoutSeconds: config.kore.sync_timeout_seconds, provider, inboundTokenHash: inboundToken === null ? null : hashToken(inboundToken),
        settings: settings as unknown as Record<string, unknown>, createdAt: now, updatedAt: now,
      };
      try {
        await store.channels.insert(channel);
      } catch (error) {
        await deps.endpoints.delete(endpoint.id).catch(() => {});
        throw error;
      }
      // Twilio's API does not check our signatures: its endpoint signs nothing, so there is no secret to show.
      return { channel, endpoint, inboundToken, signingSecret: twilio ? undefined : secret };
    },

    async update(id: string, input: PlatformInput): Promise<ChannelRecord> {
      if (input.name !== undefined) checkName('name', input.name);
      checkLimits(input, config.platform.body_limit_bytes);
      const channel = await get(id);
      const current = settingsOf(channel);
      if (input.name && input.name !== channel.name && (await channelNameTaken(store, input.name, id))) throw new BotgateError('BG_ERR_CONFLICT', `A channel or platform config named ${input.name} exists`);
      if (input.provider !== undefined && input.provider.toLowerCase() !== channel.provider) throw new BotgateError('BG_ERR_VALIDATION', 'provider cannot change; create another config');
      // Its conversations stand at states of its bot: a config keeps the bot it was created for.
      if (input.bot !== undefined && input.bot !== channel.botId) throw new BotgateError('BG_ERR_VALIDATION', 'bot cannot change; create another config');
      const twilio = channel.kind === 'twilio';
      if (twilio) checkNotForTwilio(input);
      if (!twilio && input.twilio) throw new BotgateError('BG_ERR_VALIDATION', 'twilio settings belong to provider twilio');
      checkTwilio(input.twilio);
      const settings: PlatformSettings = { ...current };
      if (input.is_active !== undefined) settings.isActive = input.is_active;
      if (input.rate_limit_per_minute !== undefined) settings.rateLimitPerMinute = input.rate_limit_per_minute;
      if (input.max_message_bytes !== undefined) settings.maxMessageBytes = input.max_message_bytes;
      if (input.signature !== undefined) settings.signature = input.signature ? sealSignature(input.signature, current.signature) : null;
      if (input.fields !== undefined) settings.fields = input.fields;
      let endpointPatch: EndpointInput = {};
      if (input.twilio) {
        const sid = input.twilio.account_sid ?? current.twilio!.accountSid;
        const token = input.twilio.auth_token ?? box.open(current.twilio!.authTokenSealed);
        settings.twilio = {
          accountSid: sid, authTokenSealed: box.seal(token),
          publicUrl: input.twilio.public_url !== undefined ? input.twilio.public_url : current.twilio!.publicUrl,
          replyMode: input.twilio.reply_mode ?? current.twilio!.replyMode,
        };
        endpointPatch = twilioEndpoint(sid, token);
      }
      if (input.outgoing_webhook_url) endpointPatch.url = input.outgoing_webhook_url;
      if (input.auth_token !== undefined) endpointPatch.auth = bearer(input.auth_token);
      if (input.custom_headers !== undefined) endpointPatch.custom_headers = input.custom_headers;
      if (input.timeout_seconds !== undefined) endpointPatch.timeout_seconds = input.timeout_seconds;
      if (input.retry_attempts !== undefined) endpointPatch.max_attempts = input.retry_attempts === null ? null : input.retry_attempts + 1;
      if (input.is_active !== undefined) endpointPatch.is_active = input.is_active;
      if (input.name) endpointPatch.name = `platform ${input.name}`;
      if (channel.endpointId && Object.keys(endpointPatch).length) {
        await withFieldNames(PLATFORM_FIELDS, () => deps.endpoints.update(channel.endpointId!, endpointPatch, { as: `platform config ${id}` }));
      }
      const updated = await store.channels.update(id, { name: input.name, settings: settings as unknown as Record<string, unknown>, updatedAt: clock.now() });
      changed(id);
      return updated ?? channel;
    },

    /** A new inbound token; the old one stops working at once. */
    async rotateInboundToken(id: string): Promise<string> {
      const channel = await get(id);
      if (channel.kind === 'twilio') throw new BotgateError('BG_ERR_VALIDATION', 'A Twilio config has no inbound token: Twilio signs its requests (X-Twilio-Signature) with the config\'s auth token');
      const token = generateToken('bgp');
      await store.channels.update(id, { inboundTokenHash: hashToken(token), updatedAt: clock.now() });
      changed(id);
      return token;
    },

    async delete(id: string): Promise<void> {
      const channel = await get(id);
      await deps.endpoints.assertOnlyUser(channel.endpointId, `channel ${id}`);
      // Of concurrent deletes, the one whose delete removed the row answers 204; the others find nothing (404).
      if (!(await store.channels.delete(id))) throw new BotgateError('BG_ERR_PLATFORM_NOT_FOUND', `No platform config ${id}`);
      if (channel.endpointId) await deps.endpoints.delete(channel.endpointId).catch(() => {}); // gone already
      changed(id);
    },

    async list(): Promise<ChannelRecord[]> {
      const all = [];
      for (const kind of PLATFORM_KINDS) all.push(...(await store.channels.ofKind(kind)));
      return all.sort((a, b) => (a.id < b.id ? -1 : 1));
    },

    /** The platform config behind an inbound token (cached for a moment; changes here clear it). */
    async byInboundToken(token: string): Promise<ChannelRecord | null> {
      const hash = hashToken(token);
      const cached = byToken.get(hash);
      if (cached && clock.now() - cached.at < 2000) return cached.channel;
      const channel = await store.channels.byInboundToken(hash);
      const found = channel && (PLATFORM_KINDS as readonly string[]).includes(channel.kind) ? channel : null;
      if (byToken.size > 10_000) byToken.clear();
      byToken.set(hash, { channel: found, at: clock.now() });
      return found;
    },

    /** A platform config by id for the signed and Twilio routes (cached for a moment). */
    async byId(id: string): Promise<ChannelRecord | null> {
      const cached = byId.get(id);
      if (cached && clock.now() - cached.at < 2000) return cached.channel;
      const channel = await store.channels.get(id);
      const found = channel && (PLATFORM_KINDS as readonly string[]).includes(channel.kind) ? channel : null;
      if (byId.size > 10_000) byId.clear();
      byId.set(id, { channel: found, at: clock.now() });
      return found;
    },

    /** The signing secret of a signed source. */
    signatureSecret: (channel: ChannelRecord): string | null => {
      const sealed = settingsOf(channel).signature?.secretSealed;
      return sealed ? box.open(sealed) : null;
    },

    twilioAuthToken: (channel: ChannelRecord): string | null => {
      const sealed = settingsOf(channel).twilio?.authTokenSealed;
      return sealed ? box.open(sealed) : null;
    },

    isActive: (channel: ChannelRecord) => settingsOf(channel).isActive !== false,
    rateLimitPerMinute: (channel: ChannelRecord) => settingsOf(channel).rateLimitPerMinute ?? config.platform.rate_limit_per_minute,
    maxMessageBytes: (channel: ChannelRecord) => settingsOf(channel).maxMessageBytes ?? config.platform.max_message_bytes,
  };
}

/** What the API shows of a platform config: everything but secrets. */
export function platformView(channel: ChannelRecord, endpoint: EndpointRecord | null, base: string) {
  const s = settingsOf(channel);
  const { secretSealed: _secret, ...signature } = s.signature ?? { secretSealed: '' };
  return {
    id: channel.id,
    name: channel.name,
    provider: channel.provider,
    bot: channel.botId,
    outgoing_webhook_url: channel.kind === 'twilio' ? null : endpoint?.url ?? null,
    auth_token_set: endpoint ? endpoint.authKind !== 'none' : false,
    custom_headers: endpoint?.customHeaders ?? {},
    timeout_seconds: endpoint?.timeoutSeconds ?? null,
    retry_attempts: endpoint?.maxAttempts == null ? null : endpoint.maxAttempts - 1,
    is_active: s.isActive,
    rate_limit_per_minute: s.rateLimitPerMinute,
    max_message_bytes: s.maxMessageBytes,
    signature: s.signature ? signature : null,
    fields: s.fields,
    twilio: s.twilio ? { account_sid: s.twilio.accountSid, public_url: s.twilio.publicUrl, reply_mode: s.twilio.replyMode } : null,
    endpoint_id: channel.endpointId,
    endpoint_active: endpoint?.isActive ?? null,
    incoming_url: channel.kind === 'twilio' ? `${base}/api/webhook/twilio/${channel.id}` : `${base}/api/webhook/incoming`,
    signed_url: s.signature ? `${base}/api/webhook/incoming/${channel.id}` : null,
    created_at: new Date(channel.createdAt).toISOString(),
    updated_at: new Date(channel.updatedAt).toISOString(),
  };
}
