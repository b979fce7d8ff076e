// What every platform route does with a user message once its sender is known (bearer token, signature or
// Twilio's signature): the per-config rate limit, the message size limit, deduplication by the platform's
// message id, storing it with its turn (group commit), and the bot's replies for the answer.
import type { Clock } from '../clock.ts';
import type { TurnService } from '../conversation/turns.ts';
import { BotgateError } from '../errors.ts';
import { phoneValue } from '../identities.ts';
import type { ChannelRecord, MessageRecord, Received, Store } from '../store/store.ts';
import type { PlatformRequest } from './platform-adapter.ts';
import type { PlatformService } from './platforms.ts';

export interface InboundLimiter {
  /** Counts a request; throws 429 (with Retry-After) past the config's limit for the current minute. */
  take(channel: ChannelRecord, perMinute: number): Promise<void>;
}

/**
 * Fixed one-minute windows per config. With several gateway processes on one PostgreSQL database the count
 * lives in the store, so they share the allowance; a single process (SQLite) counts in memory.
 */
export function createInboundLimiter(store: Store, clock: Clock): InboundLimiter {
  const local = new Map<string, { window: number; count: number }>();
  return {
    async take(channel, perMinute) {
      const now = clock.now();
      const window = Math.floor(now / 60_000) * 60_000;
      let count: number;
      if (store.capabilities.multiProcess) {
        count = await store.counters.add(`platform:${channel.id}:${window}`, 1, window + 120_000);
      } else {
        const entry = local.get(channel.id);
        if (entry && entry.window === window) count = ++entry.count;
        else local.set(channel.id, { window, count: (count = 1) });
      }
      if (count > perMinute) {
        const retryAfter = Math.max(1, Math.ceil((window + 60_000 - now) / 1000));
        throw new BotgateError('BG_ERR_RATE_LIMITED', `More than ${perMinute} request${perMinute === 1 ? '' : 's'} this minute for this platform; retry in ${retryAfter} s`, { headers: { 'retry-after': String(retryAfter) } });
      }
    },
  };
}

export interface InboundResult {
  received: Received;
  /** The replies to this message (empty when a human has the conversation, or its turn has not run yet). */
  replies: MessageRecord[];
}

export function createPlatformInbound(deps: { store: Store; clock: Clock; platforms: PlatformService; turns: TurnService; limiter: InboundLimiter; syncWaitMs: number }) {
  const { platforms, turns } = deps;

  /** The replies of a stored message's turn: committed with it in the common case, else awaited for a while. */
  async function repliesOf(received: Received): Promise<MessageRecord[]> {
    if (received.turn) return received.turn.published.map((p) => p.message).filter((m) => m.conversation?.replyTo === received.message.id);
    if (!received.duplicate) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        turns.process(received.conversation.id),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, deps.syncWaitMs))),
      ]);
      clearTimeout(timer);
    }
    return turns.replies(received.message.id);
  }

  return {
    /** Checks the config is active and within its rate limit (before the body is looked at). */
    async admit(channel: ChannelRecord): Promise<void> {
      if (!platforms.isActive(channel)) throw new BotgateError('BG_ERR_PLATFORM_INACTIVE', `The platform config ${channel.name ?? channel.id} is not active`);
      await deps.limiter.take(channel, platforms.rateLimitPerMinute(channel));
    },

    /** Stores the message with its turn and returns the replies. `dedupKey`: the platform's id of the message. */
    async receive(channel: ChannelRecord, request: PlatformRequest, dedupKey: string | null): Promise<InboundResult> {
      const limit = platforms.maxMessageBytes(channel);
      if (Buffer.byteLength(request.message, 'utf8') > limit) throw new BotgateError('BG_ERR_MESSAGE_TOO_LARGE', `The message is longer than ${limit} bytes`);
      const phone = channel.kind === 'twilio' ? phoneValue(request.user_id.replace(/^whatsapp:/, '')) : null;
      const received = await turns.handle(channel, {
        userKey: request.user_id,
        identities: [
          { kind: 'platform', value: `${channel.provider ?? channel.id}:${request.user_id}` },
          // A Twilio sender is a phone number (SMS "+1555…", WhatsApp "whatsapp:+1555…"): the same person on both.
          ...(phone ? [{ kind: 'phone', value: phone }] : []),
        ],
        payload: request as unknown as Record<string, unknown>,
        eventType: 'message.received',
        // Per config and user: a message id another user's message happened to carry never answers with their reply.
        idempotencyKey: dedupKey ? `platform:${channel.id}:${JSON.stringify([request.user_id, dedupKey])}` : null,
      });
      return { received, replies: await repliesOf(received) };
    },
  };
}

export type PlatformInbound = ReturnType<typeof createPlatformInbound>;
