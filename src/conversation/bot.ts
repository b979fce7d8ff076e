// The bot's vocabulary: a validated bot definition, the runtime built from it, a conversation's position,
// and what one turn produces. (Format: docs/bots.md.)

/** One bot message: plain text, or text with quick replies or buttons. */
export interface BotMessage {
  text: string;
  quickReplies?: string[];
  buttons?: BotButton[];
}

export type BotButton = { title: string; payload: string } | { title: string; url: string };

export interface PlainState {
  kind: 'plain';
  name: string;
  message: BotMessage[];
  /** A state name, or 'end'. */
  nextState: string;
  endReason: string;
  /** Entering this state hands the conversation over to a human (after sending its message). */
  handoff: boolean;
}

export interface ChoiceState {
  kind: 'choice';
  name: string;
  /** Option key as written (e.g. "1", "yes") → target state. */
  options: Record<string, string>;
  fallbackMessage: BotMessage[];
  /** Sent after the question when re-prompting. */
  message: BotMessage[];
}

export type FlowState = PlainState | ChoiceState;

export interface WebhookRule {
  event: string;
  states: string[];
  intents: string[];
  /** An endpoint name or id. */
  endpoint: string;
}

export interface BotSettings {
  intentThreshold: number;
  /** Confidence a global intent needs to interrupt where the bot waits for free text (a plain state's answer). */
  interruptThreshold: number;
  knowledgeThreshold: number;
  dontKnow: BotMessage[];
  restartNotice: BotMessage[];
  /** Messages that ask for a human anywhere in a conversation (matched ignoring case and punctuation). */
  handoffPhrases: string[];
  /** Messages that end a session with a human, said by the user. */
  closePhrases: string[];
  /** Sent when a conversation is handed over (waiting for an agent). */
  handoffMessage: BotMessage[];
  /** Sent instead when the channel cannot carry agent messages (a Kore.ai sync channel). */
  handoffUnavailable: BotMessage[];
  /** Sent when no agent claimed the conversation in time and the bot takes it back. */
  agentTimeout: BotMessage[];
  /** Sent when the session with an agent ends and the bot takes the conversation back. */
  agentClosed: BotMessage[];
  /** Phrases that opt the user out of a notification type ('*': every non-critical type), anywhere in a conversation. */
  optOuts: { phrases: string[]; eventType: string; message: BotMessage[] }[];
}

export interface BotDefinition {
  id: string;
  name: string;
  description: string | null;
  settings: BotSettings;
  /** Glob patterns relative to the bot file. */
  knowledge: string[];
  intents: Record<string, string[]>;
  globalIntents: string[];
  /** Intents that hand the conversation over to a human (their flow, if any, runs first). */
  handoffIntents: string[];
  flows: Record<string, FlowState>;
  webhooks: WebhookRule[];
}

/** A problem found in a bot file, with the path of the offending key (`flows.x.next_state`). */
export interface BotProblem {
  path: string;
  message: string;
}

/** Where a conversation stands: the state it waits at (null: idle), its memory, the last question asked. */
export interface ConversationPosition {
  state: string | null;
  memory: Record<string, string>;
  /** The messages that led to the state waited at (re-sent after a choice's fallback). */
  lastPrompt: BotMessage[];
}

/** Everything templates may read about the sender and the request. */
export interface TurnContext {
  user: { id: string; firstName?: string; lastName?: string; email?: string };
  customData: Record<string, unknown>;
  group: { id?: string; name?: string } | null;
}

export interface TurnInput {
  text: string;
  /** Kore's session.new: forget the state waited at before handling the message. */
  newSession: boolean;
  context: TurnContext;
}

/** An event webhook the turn fired: published with the conversation's memory. */
export interface FiredWebhook {
  rule: WebhookRule;
  /** The state entered (or null when an intent fired it). */
  state: string | null;
  intent: string | null;
}

export interface TurnResult {
  position: ConversationPosition;
  /** Rendered messages (templates filled in), in order. */
  replies: BotMessage[];
  /** Set when a flow reached `end` in this turn. */
  endOfTask: { reason: string } | null;
  /** Set when the user asked for a human (a phrase or a handoff intent) or a handoff state was entered. */
  handoff: { reason: string } | null;
  fired: FiredWebhook[];
  /** How the message was understood, for logs and analytics. */
  understood:
    | { kind: 'intent'; intent: string; confidence: number; global: boolean }
    | { kind: 'state'; state: string }
    | { kind: 'choice'; state: string; option: string | null }
    | { kind: 'knowledge'; source: string; score: number }
    | { kind: 'unknown' };
  /** Template values that were missing (rendered as their fallback or empty), for logging. */
  missingValues: string[];
  /** The user asked to hear no more of a notification type ('*': every non-critical type). */
  optOut: { eventType: string } | null;
}

/** What runTurn needs to understand text: implemented by intents.ts and knowledge.ts. */
export interface IntentMatcherLike {
  match(text: string): { intent: string; confidence: number } | null;
}

export interface KnowledgeBaseLike {
  search(text: string): { answer: string; score: number; source: string; heading: string } | null;
}

export interface BotRuntime {
  definition: BotDefinition;
  intents: IntentMatcherLike;
  knowledge: KnowledgeBaseLike | null;
  /** Increments on every (re)load. */
  version: number;
}
