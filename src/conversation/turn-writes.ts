// What one turn writes, worked out purely (it runs inside the store's transaction): while a human has the
// conversation (mode waiting or agent) the user's words go to the agent side, never to the bot, and a close
// phrase gives the conversation back to the bot; otherwise the bot answers, and when it hands over the
// conversation waits for an agent and the request is announced with the conversation's last messages.
import type { IdPrefix } from '../ids.ts';
import { handoffEvent } from '../handoff/events.ts';
import type { ConversationRecord, HandoffRecord, MessageRecord, NewMessage, TurnWrites } from '../store/store.ts';
import type { BotMessage, BotRuntime, TurnInput, TurnResult } from './bot.ts';
import { runTurn, saysPhrase } from './engine.ts';
import { renderMessage } from './templates.ts';
import type { ChannelContext } from './turn-directory.ts';

export interface TurnOutcome {
  writes: TurnWrites;
  /** The bot's turn (null when the message went to a human). */
  result: TurnResult | null;
  /** Event webhooks that name no active endpoint (not sent). */
  unrouted: { endpoint: string; event: string }[];
}

export interface TurnWriteDeps {
  newId: (p: IdPrefix) => string;
  now: number;
  /** Endpoint names and ids → ids. */
  endpointByName: Map<string, string>;
  /** The turn runs with the user's request (see ChannelAdapter.outgoing). */
  answering?: boolean;
}

export function turnWrites(ctx: ChannelContext, conversation: ConversationRecord, incoming: MessageRecord, handoff: HandoffRecord | null, deps: TurnWriteDeps): TurnOutcome {
  const payload = JSON.parse(incoming.payload ?? '{}') as Record<string, unknown>;
  const input = ctx.adapter.turnInput(payload);
  const said = { record: incoming, payload, input };
  if (conversation.mode !== 'bot' && handoff) return toHuman(ctx, conversation, said, handoff, deps);
  return botTurn(ctx, conversation, said, deps);
}

/** The user's message a turn handles. */
interface Said {
  record: MessageRecord;
  payload: Record<string, unknown>;
  input: TurnInput;
}

/** A user message while a human has the conversation: forwarded to the agent side, or a close phrase. */
function toHuman(ctx: ChannelContext, conversation: ConversationRecord, said: Said, handoff: HandoffRecord, deps: TurnWriteDeps): TurnOutcome {
  const { input } = said;
  const settings = ctx.runtime.definition.settings;
  const keep = { state: conversation.state, memory: conversation.memory, lastPrompt: conversation.lastPrompt };
  const event = (type: 'handoff.message' | 'handoff.closed') => handoffEvent({
    event: type, conversation, address: ctx.adapter.address(conversation, said.payload), platform: ctx.adapter.platform(ctx.channel), sessionId: handoff.id, message: input.text,
    sender: conversation.userKey, senderType: 'user', endpointIds: ctx.handoffTargets(type),
  }, deps.now, deps.newId);
  if (!saysPhrase(settings.closePhrases, input.text)) return { writes: { ...keep, messages: [event('handoff.message')] }, result: null, unrouted: [] };
  const goodbye = ctx.adapter.outgoing({
    channel: ctx.channel, conversation, messages: rendered(settings.agentClosed, conversation.memory, input), direction: 'outgoing', incoming: said.payload, replyTo: said.record.id, endOfTask: null, newId: deps.newId, now: deps.now,
    answering: deps.answering,
  });
  return {
    writes: {
      state: null, memory: conversation.memory, lastPrompt: [], mode: 'bot',
      handoff: { kind: 'close', id: handoff.id, by: 'user', agentId: null, resumeState: null },
      messages: [event('handoff.closed'), ...goodbye],
    },
    result: null,
    unrouted: [],
  };
}

function botTurn(ctx: ChannelContext, conversation: ConversationRecord, said: Said, deps: TurnWriteDeps): TurnOutcome {
  const { channel, adapter, runtime } = ctx;
  const { input } = said;
  const settings = runtime.definition.settings;
  const result = runTurn(runtime, { state: conversation.state, memory: conversation.memory, lastPrompt: conversation.lastPrompt as BotMessage[] }, input);
  const handsOver = result.handoff !== null && adapter.carriesAgentMessages(channel);
  const answer = result.handoff === null ? result.replies : [...result.replies, ...rendered(handsOver ? settings.handoffMessage : settings.handoffUnavailable, result.position.memory, input)];
  const replies = adapter.outgoing({
    channel, conversation, messages: answer, direction: 'outgoing', incoming: said.payload, replyTo: said.record.id, endOfTask: result.endOfTask, newId: deps.newId, now: deps.now,
    answering: deps.answering,
  });
  const { messages: hooks, unrouted } = webhookMessages(runtime, conversation, input, result, deps);
  const writes: TurnWrites = {
    state: result.position.state, memory: result.position.memory, lastPrompt: result.position.lastPrompt, messages: [...replies, ...hooks],
    ...(result.optOut ? { optOut: result.optOut } : {}),
  };
  if (handsOver) {
    const sessionId = deps.newId('hof');
    Object.assign(writes, {
      // The flow is left: after the human, the bot starts afresh (or where the agent says).
      state: null, lastPrompt: [], mode: 'waiting',
      handoff: { kind: 'open', id: sessionId, reason: result.handoff!.reason },
      announce: (transcript: MessageRecord[]): NewMessage[] => [handoffEvent({
        event: 'handoff.requested', conversation, address: adapter.address(conversation, said.payload), platform: adapter.platform(channel), sessionId, message: input.text,
        sender: conversation.userKey, senderType: 'user', endpointIds: ctx.handoffTargets('handoff.requested'), transcript, extra: { reason: result.handoff!.reason },
      }, deps.now, deps.newId)],
    } satisfies Partial<TurnWrites>);
  }
  return { writes, result, unrouted };
}

/** Settings messages sent around a turn: their templates filled like a state's (`{{user.firstName|there}}`). */
function rendered(messages: BotMessage[], memory: Record<string, string>, input: TurnInput): BotMessage[] {
  return messages.map((message) => renderMessage(message, { memory, ...input.context }).message);
}

/** The event webhooks a turn fired, each published to the endpoint its rule names, with the memory. */
export function webhookMessages(runtime: BotRuntime, conversation: ConversationRecord, input: TurnInput, result: TurnResult, deps: TurnWriteDeps) {
  const messages: NewMessage[] = [];
  const unrouted: { endpoint: string; event: string }[] = [];
  for (const fired of result.fired) {
    const endpointId = deps.endpointByName.get(fired.rule.endpoint);
    if (!endpointId) {
      unrouted.push({ endpoint: fired.rule.endpoint, event: fired.rule.event });
      continue;
    }
    const memory = result.position.memory;
    const payload = {
      ...memory,
      event: fired.rule.event,
      bot_id: runtime.definition.id,
      conversation_id: conversation.id,
      user: input.context.user,
      state: fired.state,
      intent: fired.intent,
      memory,
      timestamp: new Date(deps.now).toISOString(),
    };
    messages.push({ id: deps.newId('msg'), eventType: fired.rule.event, payload: JSON.stringify(payload), orderingKey: conversation.id, idempotencyKey: null, createdAt: deps.now, endpointIds: [endpointId] });
  }
  return { messages, unrouted };
}
