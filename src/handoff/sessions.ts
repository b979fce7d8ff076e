// Handoff sessions as agents work them: claim (one agent wins, the others get 409), write to the user through
// the user's own channel, close with an optional flow state for the bot to resume at; and the sweep that gives
// a conversation back to the bot when no agent claimed it in time. Every change runs under the conversation's
// lock (store.conversations.act) and publishes its lifecycle message in the same transaction.
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { BotDefinition, BotMessage } from '../conversation/bot.ts';
import type { BotRegistry } from '../conversation/bot-registry.ts';
import { resumeAt } from '../conversation/engine.ts';
import type { ChannelContext, TurnDirectory } from '../conversation/turn-directory.ts';
import { webhookMessages } from '../conversation/turn-writes.ts';
import { routeExplicit } from '../conversation/turns.ts';
import { BotgateError } from '../errors.ts';
import type { IdPrefix } from '../ids.ts';
import type { AgentRecord, ConversationAction, ConversationRecord, HandoffRecord, NewMessage, Store } from '../store/store.ts';
import { endpointAccepts } from '../delivery/event-types.ts';
import { handoffEvent, type HandoffEvent, type SenderType } from './events.ts';
import { lastIncoming } from '../conversation/last-incoming.ts';

export interface SessionLog {
  warn(object: Record<string, unknown>, message: string): void;
  error(object: Record<string, unknown>, message: string): void;
}

/** What an action sees: the session's conversation (under its lock), its channel, the user's last message. */
interface ActionContext {
  ctx: ChannelContext;
  conversation: ConversationRecord;
  open: HandoffRecord;
  lastIncoming: Record<string, unknown> | null;
  /** Endpoint names → ids, for event webhooks a resume state fires. */
  endpointByName: Map<string, string>;
  now: number;
}

/** Who closes a session, and what its handoff.closed says: all a close needs when the channel is gone. */
interface Closing {
  by: string;
  /** The agent closing it, recorded on the session as its agent (null: the user or the timeout closes). */
  agentId: string | null;
  /** Throws when the session may not be closed this way. */
  check?: (open: HandoffRecord) => void;
  /** Throws when the conversation's bot cannot take what the close asks of it (a resume state it lacks); checked after `check`. */
  checkBot?: (bot: BotDefinition) => void;
  message: string;
  sender: string;
  senderType: SenderType;
}

export type HandoffSessions = ReturnType<typeof createHandoffSessions>;

/** Waiting sessions read at a time by the timeout sweep. */
const SWEEP_PAGE = 100;

export function createHandoffSessions(deps: {
  store: Store; clock: Clock; newId: (p: IdPrefix) => string; config: Config; directory: TurnDirectory; bots: BotRegistry;
  onPublished: (endpointIds: string[]) => void; log?: SessionLog;
}) {
  const { store, clock, newId, directory } = deps;
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | null = null;

  async function session(id: string): Promise<HandoffRecord> {
    const found = await store.handoffs.get(id);
    if (!found) throw new BotgateError('BG_ERR_SESSION_NOT_FOUND', `No handoff session ${id}`);
    return found;
  }

  /**
   * Runs `fn` on the open session under the conversation's lock; a closed (or replaced) session is 409. When the
   * conversation's channel is gone (deleted mid-handoff) nothing can reach the user: `closing` (who closes) then
   * closes the session without a word to them, telling only the handoff subscribers; anything else is 409.
   */
  async function change(sessionId: string, fn: (a: ActionContext) => ConversationAction, closing?: Closing) {
    const found = await session(sessionId);
    const conversation = await store.conversations.get(found.conversationId);
    if (!conversation) throw new BotgateError('BG_ERR_SESSION_NOT_FOUND', `The conversation of session ${sessionId} no longer exists`);
    const ctx = (await directory.contextFor([conversation.channelId])).get(conversation.channelId);
    if (!ctx && !closing) throw new BotgateError('BG_ERR_CONFLICT', `The channel of session ${sessionId} no longer exists`);
    let action: ConversationAction | null = null;
    let committed;
    if (!ctx) {
      deps.log?.warn({ session: sessionId, channel: conversation.channelId }, 'closing a handoff session whose channel is gone');
      const lifecycle = await closedWithoutChannel(found, conversation, closing!);
      // The bot outlives the channel: a close is checked against it as when the channel is there.
      const bot = closing!.checkBot ? (await deps.bots.runtime(conversation.botId)).definition : null;
      committed = await store.conversations.act(conversation.id, (_current, open) => {
        if (!open || open.id !== sessionId) throw new BotgateError('BG_ERR_SESSION_CLOSED', `Session ${sessionId} is closed`);
        closing!.check?.(open); // who may close it, as when the channel is there
        if (bot) closing!.checkBot!(bot);
        action = { mode: 'bot', state: null, lastPrompt: [], handoff: { kind: 'close', id: sessionId, by: closing!.by, agentId: closing!.agentId, resumeState: null }, messages: lifecycle };
        return action;
      }, routeExplicit, clock.now());
    } else {
      const last = await lastIncoming(store, conversation.id);
      const endpointByName = (await directory.endpointIndex()).byName;
      const now = clock.now();
      committed = await store.conversations.act(conversation.id, (current, open) => {
        if (!open || open.id !== sessionId) throw new BotgateError('BG_ERR_SESSION_CLOSED', `Session ${sessionId} is closed`);
        action = fn({ ctx, conversation: current, open, lastIncoming: last, endpointByName, now });
        return action;
      }, routeExplicit, now);
    }
    const endpoints = new Set((action as ConversationAction | null)?.messages.flatMap((m) => m.endpointIds ?? []) ?? []);
    if (endpoints.size && committed.published.some((p) => p.deliveryIds.length)) deps.onPublished([...endpoints]);
    return committed;
  }

  /**
   * handoff.closed for the subscribers of a session whose channel is gone, addressed as its handoff.requested was
   * (the channel that named the platform no longer exists); none when that message is gone too.
   */
  async function closedWithoutChannel(found: HandoffRecord, conversation: ConversationRecord, closing: Closing): Promise<NewMessage[]> {
    const endpointIds = (await directory.endpointIndex()).handoffSubscribers.filter((s) => endpointAccepts(s.eventTypes, 'handoff.closed')).map((s) => s.id);
    if (!endpointIds.length) return [];
    const requests = await store.messages.list({ eventType: 'handoff.requested', since: found.requestedAt, until: found.requestedAt + 1 }, { limit: 1000 });
    const requested = requests.map((m) => JSON.parse(m.payload ?? '{}') as Record<string, unknown>).find((p) => p.session_id === found.id);
    if (!requested) return [];
    const address = { userId: String(requested.user_id), conversationId: String(requested.conversation_id) };
    return [handoffEvent({
      event: 'handoff.closed', conversation, address, platform: String(requested.platform), sessionId: found.id,
      message: closing.message, sender: closing.sender, senderType: closing.senderType, endpointIds,
    }, clock.now(), newId)];
  }

  function event(a: ActionContext, type: HandoffEvent, message: string, sender: string, senderType: SenderType, endpointIds = a.ctx.handoffTargets(type)): NewMessage {
    return handoffEvent({
      event: type, conversation: a.conversation, address: a.ctx.adapter.address(a.conversation, a.lastIncoming), platform: a.ctx.adapter.platform(a.ctx.channel),
      sessionId: a.open.id, message, sender, senderType, endpointIds,
    }, a.now, newId);
  }

  function toUser(a: ActionContext, messages: BotMessage[], direction: 'outgoing' | 'agent_outgoing', endOfTask: { reason: string } | null = null): NewMessage[] {
    return a.ctx.adapter.outgoing({
      channel: a.ctx.channel, conversation: a.conversation, messages, direction, incoming: a.lastIncoming, replyTo: null, endOfTask, newId, now: a.now,
    });
  }

  /** The bot takes the conversation back: `before` is said, then the resume state (if any) is entered. */
  function backToBot(a: ActionContext, before: BotMessage[], resumeState: string | null, closing: Closing, lifecycle: NewMessage): ConversationAction {
    const runtime = a.ctx.runtime;
    // Templates see the user as their last message described them.
    const context = a.lastIncoming ? a.ctx.adapter.turnInput(a.lastIncoming).context : { user: { id: a.conversation.userKey }, customData: {}, group: null };
    const result = resumeAt(runtime, { state: null, memory: a.conversation.memory, lastPrompt: [] }, resumeState, context, before);
    const hooks = webhookMessages(runtime, a.conversation, { text: '', newSession: false, context }, result, { newId, now: a.now, endpointByName: a.endpointByName });
    for (const miss of hooks.unrouted) deps.log?.warn({ bot: runtime.definition.id, ...miss }, 'event webhook names no active endpoint: not sent');
    return {
      mode: 'bot', state: result.position.state, lastPrompt: result.position.lastPrompt,
      handoff: { kind: 'close', id: a.open.id, by: closing.by, agentId: closing.agentId, resumeState },
      messages: [lifecycle, ...toUser(a, result.replies, 'outgoing', result.endOfTask), ...hooks.messages],
    };
  }

  /** The agent holding a session, when that agent has been deactivated since (their sessions are free to take). */
  async function deactivatedHolder(sessionId: string): Promise<string | null> {
    const found = await session(sessionId);
    if (found.status !== 'active' || !found.agentId) return null;
    const holder = await store.agents.get(found.agentId);
    return holder && holder.isActive ? null : found.agentId;
  }

  async function sweep(): Promise<void> {
    const waitMs = deps.config.handoff.agent_wait_minutes * 60_000;
    const stillWaiting = (open: HandoffRecord) => {
      if (open.status !== 'waiting') throw new BotgateError('BG_ERR_CONFLICT', 'claimed meanwhile');
    };
    /** Gives one waiting session back to the bot; false when that failed (logged), true when it is no longer waiting. */
    const timeOut = async (waiting: HandoffRecord): Promise<boolean> => {
      try {
        const closing: Closing = { by: 'timeout', agentId: null, check: stillWaiting, message: 'No agent claimed the conversation in time; the bot has it again', sender: 'botgate', senderType: 'system' };
        await change(waiting.id, (a) => {
          stillWaiting(a.open);
          const closed = event(a, 'handoff.closed', closing.message, closing.sender, closing.senderType);
          return backToBot(a, a.ctx.runtime.definition.settings.agentTimeout, null, closing, closed);
        }, closing);
        return true;
      } catch (error) {
        if (error instanceof BotgateError && error.statusCode === 409) return true; // claimed or closed meanwhile
        deps.log?.error({ err: error, session: waiting.id }, 'timing out a handoff session failed');
        return false;
      }
    };
    // Every session past its wait, a page at a time; a page where none could be ended stops the pass (the next one
    // tries them again).
    for (;;) {
      const page = await store.handoffs.waitingSince(clock.now() - waitMs, SWEEP_PAGE);
      let ended = 0;
      for (const waiting of page) if (await timeOut(waiting)) ended++;
      if (page.length < SWEEP_PAGE || ended === 0) return;
    }
  }

  return {
    get: session,

    list: (filter: { status?: HandoffRecord['status'] | 'open'; agentId?: string; conversationId?: string }, page: { limit: number; offset?: number; cursor?: string }) => store.handoffs.list(filter, page),

    /** The session's conversation messages, oldest first (the newest `limit`). */
    async messages(sessionId: string, limit: number) {
      const found = await session(sessionId);
      const rows = await store.messages.list({ conversationId: found.conversationId }, { limit });
      return { session: found, messages: rows.reverse() };
    },

    conversation: async (found: HandoffRecord) => store.conversations.get(found.conversationId),

    /**
     * An agent takes a waiting session; a session another agent holds answers 409 (claiming one's own again is
     * fine), unless that agent was deactivated: then it is free to take over.
     */
    async claim(sessionId: string, agent: AgentRecord) {
      const gone = await deactivatedHolder(sessionId);
      return change(sessionId, (a) => {
        if (a.open.status === 'active') {
          if (a.open.agentId === agent.id) return { messages: [] };
          if (a.open.agentId !== gone) throw new BotgateError('BG_ERR_SESSION_TAKEN', `Agent ${a.open.agentId} has session ${sessionId}`);
        }
        return {
          mode: 'agent',
          handoff: { kind: 'assign', id: a.open.id, agentId: agent.id },
          messages: [event(a, 'handoff.assigned', `${agent.name} joined the conversation`, agent.id, 'agent')],
        };
      });
    },

    /** An agent's message to the user, through the user's channel; also published as handoff.message. */
    async send(sessionId: string, agent: AgentRecord, text: string) {
      return change(sessionId, (a) => {
        if (a.open.status !== 'active') throw new BotgateError('BG_ERR_CONFLICT', `Claim session ${sessionId} before writing to the user`);
        if (a.open.agentId !== agent.id) throw new BotgateError('BG_ERR_SESSION_TAKEN', `Agent ${a.open.agentId} has session ${sessionId}`);
        return { messages: [...toUser(a, [{ text }], 'agent_outgoing'), event(a, 'handoff.message', text, agent.id, 'agent')] };
      });
    },

    /** Ends the session; the bot resumes at `resumeState` (a flow state of the bot) or idle. A deactivated agent's session any agent may close. */
    async close(sessionId: string, agent: AgentRecord, resumeState: string | null) {
      const gone = await deactivatedHolder(sessionId);
      const mayClose = (open: HandoffRecord) => {
        if (open.status === 'active' && open.agentId !== agent.id && open.agentId !== gone) throw new BotgateError('BG_ERR_SESSION_TAKEN', `Agent ${open.agentId} has session ${sessionId}`);
      };
      // Without a channel the bot never resumes (nothing can reach the conversation again), but a state it lacks is
      // still the agent's mistake: 400 either way.
      const closing: Closing = {
        by: 'agent', agentId: agent.id, check: mayClose, checkBot: resumeState === null ? undefined : (bot) => checkResumeState(bot, resumeState),
        message: `${agent.name} closed the conversation`, sender: agent.id, senderType: 'agent',
      };
      return change(sessionId, (a) => {
        mayClose(a.open);
        closing.checkBot?.(a.ctx.runtime.definition);
        const closed = event(a, 'handoff.closed', closing.message, closing.sender, closing.senderType);
        return backToBot(a, a.ctx.runtime.definition.settings.agentClosed, resumeState, closing, closed);
      }, closing);
    },

    sweep,

    /** Times out waiting sessions now and then (every handoff.sweep_seconds). */
    start() {
      const run = () => {
        if (sweeping) return;
        sweeping = sweep().catch((error) => deps.log?.error({ err: error }, 'handoff sweep failed')).finally(() => (sweeping = null));
      };
      timer = setInterval(run, deps.config.handoff.sweep_seconds * 1000);
      timer.unref();
    },

    async stop() {
      clearInterval(timer);
      await sweeping;
    },
  };
}

/** A state an agent may have the bot resume at: one of the bot's, and not one handing over again. */
function checkResumeState(bot: BotDefinition, resumeState: string): void {
  if (!Object.hasOwn(bot.flows, resumeState)) throw new BotgateError('BG_ERR_VALIDATION', `resume_state ${resumeState} is not a state of bot ${bot.id}`);
  // Resuming in a state that hands over would promise the user a person while the session just ended.
  const state = bot.flows[resumeState];
  if ('handoff' in state && state.handoff) {
    throw new BotgateError('BG_ERR_VALIDATION', `resume_state ${resumeState} hands the conversation over to a person; resume at a bot state`);
  }
}
