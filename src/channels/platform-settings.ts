// What a platform config is: the input the API, the CLI and the config file give (with its checks, made where every
// way in passes), and the settings its channel keeps (secrets sealed), with the signature scheme they name.
import { BotgateError } from '../errors.ts';
import { isSigningSecret } from '../delivery/signer.ts';
import { checkRange, checkSecret } from '../ranges.ts';
import type { ChannelRecord } from '../store/store.ts';
import { SIGNATURE_PRESETS, type SignatureScheme } from './inbound-signature.ts';

/**
 * The API's bounds, here where the CLI comes in too (a limit of 0 would refuse every message). A message limit above
 * the platform routes' body limit could never be reached: such a message is refused (413) before it is read.
 */
export function checkLimits(input: PlatformInput, bodyLimitBytes: number): void {
  checkRange('rate_limit_per_minute', input.rate_limit_per_minute, 1, 10_000_000, true);
  checkRange('max_message_bytes', input.max_message_bytes, 16, 1 << 20, true);
  if (input.max_message_bytes != null && input.max_message_bytes > bodyLimitBytes) {
    throw new BotgateError('BG_ERR_VALIDATION', `max_message_bytes may be at most platform.body_limit_bytes (${bodyLimitBytes}), the largest request body the platform webhooks read; raise that setting first`);
  }
}

/** Twilio's account SID: "AC" and 32 hex digits (twilio.com/docs/glossary/what-is-a-sid). */
const ACCOUNT_SID = /^AC[0-9a-fA-F]{32}$/;
/**
 * A Twilio config's own settings, checked where every way in passes: the SID goes into the Messages API's URL and
 * basic auth, and public_url is the URL Twilio signs, which Twilio only ever calls over http(s).
 */
export function checkTwilio(twilio: Partial<TwilioInput> | undefined): void {
  if (!twilio) return;
  if (twilio.account_sid !== undefined && !ACCOUNT_SID.test(twilio.account_sid)) {
    throw new BotgateError('BG_ERR_VALIDATION', 'twilio.account_sid must be a Twilio account SID: AC and 32 hex digits, as on Twilio\'s console');
  }
  if (twilio.public_url !== undefined && twilio.public_url !== null) {
    const url = URL.parse(twilio.public_url);
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new BotgateError('BG_ERR_VALIDATION', 'twilio.public_url must be an absolute http(s) URL: the webhook URL as set in Twilio\'s console');
    }
  }
}

/**
 * What a Twilio config has no use for, refused on create and change alike: its replies go to the Messages API (not an
 * outgoing URL with a bearer token), and Twilio's signature verifies its requests on its own route (a signature scheme
 * or field paths would show a signed_url that no request could use).
 */
export function checkNotForTwilio(input: PlatformInput): void {
  if (input.outgoing_webhook_url || input.auth_token) throw new BotgateError('BG_ERR_VALIDATION', 'a twilio config replies through the Messages API: set twilio.auth_token instead');
  if (input.signature || input.fields) throw new BotgateError('BG_ERR_VALIDATION', 'a twilio config is verified by X-Twilio-Signature: signature and fields are for signed sources');
}

/**
 * A signed source's secret, as botgate's own are held: a Standard Webhooks one as an endpoint's (whsec_ and base64 of
 * 24 to 64 bytes; the prefix may be left out, as verifying takes it), any other as an app's client secret (16+
 * characters). A shorter key lets a forger try their way to a valid signature.
 */
export function checkSignatureSecret(preset: SignaturePreset, secret: string): void {
  if (preset !== 'standard_webhooks') return checkSecret('signature.secret', secret);
  if (!isSigningSecret(secret.startsWith('whsec_') ? secret : `whsec_${secret}`)) {
    throw new BotgateError('BG_ERR_VALIDATION', 'signature.secret must be whsec_ followed by base64 of 24 to 64 bytes (a Standard Webhooks secret)');
  }
}

export type SignaturePreset = keyof typeof SIGNATURE_PRESETS | 'standard_webhooks' | 'custom';

export interface SignatureInput {
  preset: SignaturePreset;
  secret?: string;
  header?: string;
  algorithm?: 'sha256' | 'sha1';
  encoding?: 'hex' | 'base64';
  prefix?: string;
  content?: SignatureScheme['content'];
  timestamp_header?: string;
  tolerance_seconds?: number;
}

export interface TwilioInput {
  account_sid: string;
  auth_token?: string;
  /** The URL Twilio posts to, as configured in Twilio (behind a proxy the gateway sees another one). */
  public_url?: string | null;
  /** twiml: replies in the webhook's answer; api: answered empty, replies sent through the Messages API. */
  reply_mode?: 'twiml' | 'api';
}

export interface PlatformInput {
  name?: string;
  provider?: string;
  bot?: string;
  outgoing_webhook_url?: string;
  auth_token?: string | null;
  custom_headers?: Record<string, string>;
  timeout_seconds?: number;
  retry_attempts?: number | null;
  is_active?: boolean;
  rate_limit_per_minute?: number | null;
  max_message_bytes?: number | null;
  signature?: SignatureInput | null;
  /** Where a signed source's payload keeps each field (dotted paths), when it is not the generic format. */
  fields?: Partial<Record<FieldName, string>> | null;
  twilio?: TwilioInput;
}

export type FieldName = 'user_id' | 'message' | 'conversation_id' | 'username' | 'message_id';

/** What a platform channel keeps in its settings (secrets sealed). */
export interface PlatformSettings {
  isActive: boolean;
  rateLimitPerMinute: number | null;
  maxMessageBytes: number | null;
  signature: (Omit<SignatureInput, 'secret'> & { secretSealed: string }) | null;
  fields: Partial<Record<FieldName, string>> | null;
  twilio: { accountSid: string; authTokenSealed: string; publicUrl: string | null; replyMode: 'twiml' | 'api' } | null;
}

export const settingsOf = (channel: ChannelRecord): PlatformSettings => channel.settings as unknown as PlatformSettings;

/** The scheme a signed source is verified with (a preset, or its own settings). */
export function signatureScheme(signature: NonNullable<PlatformSettings['signature']>): SignatureScheme | 'standard_webhooks' {
  if (signature.preset === 'standard_webhooks') return 'standard_webhooks';
  const base = signature.preset === 'custom' ? null : SIGNATURE_PRESETS[signature.preset];
  return {
    header: signature.header ?? base!.header,
    algorithm: signature.algorithm ?? base!.algorithm,
    encoding: signature.encoding ?? base!.encoding,
    prefix: signature.prefix ?? base?.prefix,
    content: signature.content ?? base!.content,
    timestampHeader: signature.timestamp_header ?? base?.timestampHeader,
    toleranceSeconds: signature.tolerance_seconds ?? base?.toleranceSeconds,
  };
}
