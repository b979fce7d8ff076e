// What a turn writes around the engine's own replies: the settings messages a channel adds (handoff_unavailable,
// handoff_message, agent_closed_message) have their templates filled like a state's (docs/bots.md, "Messages").
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { koreAdapter } from '../../src/channels/kore-adapter.ts';
import { turnWrites } from '../../src/conversation/turn-writes.ts';
import type { ChannelContext } from '../../src/conversation/turn-directory.ts';
import type { ConversationRecord, HandoffRecord, MessageRecord } from '../../src/store/store.ts';
import { load, runtime } from './engine-helpers.ts';

const BOT = load(`
id: greeter
name: Greeter
settings:
  handoff_unavailable: ["Sorry {{user.firstName|there}}, no person here ({{memory.ask|nothing asked}})."]
  handoff_message: ["One moment, {{user.firstName|there}}."]
  agent_closed_message: ["Back with the bot, {{user.firstName}}. You asked {{memory.ask}}."]
intents:
  ask: [ask]
flows:
  ask:
    message: [What?]
    next_state: end
`, 'greeter.yaml');

function context(mode: 'sync' | 'async'): ChannelContext {
  const channel = { id: 'ch_1', botId: 'greeter', mode, endpointId: mode === 'async' ? 'ep_1' : null } as unknown as ChannelContext['channel'];
  return { channel, adapter: koreAdapter, runtime: runtime(BOT, null), handoffTargets: () => [] };
}

const conversation = (mode: ConversationRecord['mode']): ConversationRecord => ({
  id: 'conv_1', botId: 'greeter', channelId: 'ch_1', userKey: 'u-1', userId: null, mode, state: null,
  memory: { ask: 'the {{user.id}} question' }, lastPrompt: [], createdAt: 0, updatedAt: 0, lastMessageAt: 0,
});

const incoming = (text: string) => ({
  id: 'msg_1', eventType: 'kore.message', orderingKey: 'conv_1', idempotencyKey: null,
  payload: JSON.stringify({ message: { text }, from: { id: 'u-1', userInfo: { firstName: 'Ada' } } }),
}) as unknown as MessageRecord;

const deps = { newId: (prefix: string) => `${prefix}_x`, now: 0, endpointByName: new Map<string, string>() };
const sent = (messages: { payload: string | null }[]) => messages.map((m) => JSON.parse(m.payload!).text);

describe('settings messages sent around a turn', () => {
  it('fills the templates of handoff_unavailable (a sync channel asked for a person), never expanding memory', () => {
    const outcome = turnWrites(context('sync'), conversation('bot'), incoming('human'), null, deps);
    assert.deepEqual(sent(outcome.writes.messages), ['Sorry Ada, no person here (the {{user.id}} question).']);
  });

  it('fills the templates of handoff_message (a channel that hands over)', () => {
    const outcome = turnWrites(context('async'), conversation('bot'), incoming('human'), null, deps);
    const texts = outcome.writes.messages.filter((m) => m.eventType === 'kore.message').map((m) => JSON.parse(m.payload!).text);
    assert.deepEqual(texts, ['One moment, Ada.']);
  });

  it('fills the templates of agent_closed_message when the user ends the session with a close phrase', () => {
    const open = { id: 'hof_1', status: 'active' } as unknown as HandoffRecord;
    const outcome = turnWrites(context('async'), conversation('agent'), incoming('end chat'), open, deps);
    const texts = outcome.writes.messages.filter((m) => m.eventType === 'kore.message').map((m) => JSON.parse(m.payload!).text);
    assert.deepEqual(texts, ['Back with the bot, Ada. You asked the {{user.id}} question.']);
  });
});
