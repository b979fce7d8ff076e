// Conversation turns that hand over to a human (phrases, handoff intents and states) and resume after one, with the
// fake intent matcher of engine-helpers.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resumeAt } from '../../src/conversation/engine.ts';
import type { ConversationPosition } from '../../src/conversation/bot.ts';
import { load, demo, runtime, ADA, IDLE, conversation, deepFreeze, texts, shop } from './engine-helpers.ts';

/** A bot whose handoff intent has a flow, and whose handoff state leads on. */
const desk = load(`
id: desk
name: Desk
intents:
  complaint: [I want to complain]
  order: [order]
handoff_intents: [complaint]
flows:
  complaint:
    message: ["Sorry to hear that, {{user.firstName|there}}."]
    next_state: end
  order:
    message: [What do you need?]
    next_state: item
  item:
    message: [Let me find someone for that.]
    next_state: choice_callback
    handoff: true
  choice_callback:
    call: called
    fallback_message: [Say call for a call back.]
  called:
    message: [We'll call you.]
    next_state: end
webhooks:
  - { event: complaint.made, intents: [complaint], endpoint: desk }
`, 'desk.yaml');

describe('handing over to a human', () => {
  const ASKED = { reason: 'asked for a human' };

  it('hands over on a one-word phrase only when it is the whole message', () => {
    for (const text of ['human', 'Human!', '  AGENT.  ', '¿human?']) {
      const turn = conversation(runtime(demo)).say(text);
      assert.deepEqual(turn.handoff, ASKED, text);
      assert.deepEqual(turn.replies, [], text);
      assert.deepEqual(turn.understood, { kind: 'unknown' });
      assert.deepEqual(turn.position, IDLE);
      assert.equal(turn.endOfTask, null);
    }
    for (const text of ['I am not human', 'my agent said so', 'humans', 'agents']) {
      const turn = conversation(runtime(demo)).say(text);
      assert.equal(turn.handoff, null, text);
      assert.deepEqual(turn.replies, demo.settings.dontKnow, text);
    }
  });

  it('keeps a one-word phrase with combining marks one word (Devanagari vowel signs are not punctuation)', () => {
    const hindi = runtime({ ...demo, settings: { ...demo.settings, handoffPhrases: ['मानव'] } });
    assert.deepEqual(conversation(hindi).say('मानव!').handoff, ASKED);
    // "I am not human": the phrase is one word, so it must be the whole message.
    assert.equal(conversation(hindi).say('मैं मानव नहीं हूँ').handoff, null);
  });

  it('hands over on a longer phrase anywhere in the message, ignoring case and punctuation', () => {
    for (const text of ['Can I TALK to a human, please?', 'I need customer-service!', 'real person', '...live   agent...']) {
      assert.deepEqual(conversation(runtime(demo)).say(text).handoff, ASKED, text);
    }
    // Whole words only: a phrase inside a longer word is not said.
    for (const text of ['talk to a humanoid', 'customerservice', 'surreal person']) {
      assert.equal(conversation(runtime(demo)).say(text).handoff, null, text);
    }
  });

  it('checks phrases before anything else, leaving the flow and keeping memory', () => {
    const chat = conversation(runtime(demo));
    chat.say('order a pizza');
    chat.say('2');
    let turn = chat.say('Talk to an agent');
    assert.deepEqual(turn.handoff, ASKED);
    assert.deepEqual(turn.replies, []);
    assert.deepEqual(turn.position, { state: null, memory: { number_of_pizzas: '2' }, lastPrompt: [] });

    for (const text of ['order a pizza', '3', 'Cheese', 'Home', '555']) chat.say(text);
    assert.equal(chat.position.state, 'choice_confirmation');
    turn = chat.say('HUMAN');
    assert.deepEqual(turn.handoff, ASKED);
    assert.deepEqual(turn.fired, []);
    assert.equal(chat.position.memory.choice_confirmation, undefined);
    assert.equal(chat.position.state, null);

    // Even a global intent's own words: "help" as a phrase hands over instead of starting the help flow.
    const helpful = runtime({ ...demo, settings: { ...demo.settings, handoffPhrases: ['help'] } });
    turn = conversation(helpful).say('help');
    assert.deepEqual(turn.handoff, ASKED);
    assert.deepEqual(turn.replies, []);
  });

  it('uses the bot\'s own phrases instead of the defaults (none at all: only intents and states hand over)', () => {
    const own = runtime({ ...demo, settings: { ...demo.settings, handoffPhrases: ['operator please'] } });
    assert.equal(conversation(own).say('human').handoff, null);
    assert.deepEqual(conversation(own).say('Operator, please!').handoff, ASKED);
    const none = runtime({ ...demo, settings: { ...demo.settings, handoffPhrases: [] } });
    assert.equal(conversation(none).say('talk to a human').handoff, null);
    assert.deepEqual(conversation(none).say('I want to speak to someone').handoff, { reason: 'intent talk_to_agent' });
  });

  it('never hands over on a close phrase (said again after the agent left, or racing the agent\'s close)', () => {
    // "operator" in a message reads as the handoff intent (the fake matcher's keyword; "agent" for the real matcher).
    assert.deepEqual(conversation(runtime(demo)).say('bye operator').handoff, { reason: 'intent talk_to_agent' });
    const closing = runtime({ ...demo, settings: { ...demo.settings, closePhrases: ['bye operator', 'end chat'], handoffPhrases: [...demo.settings.handoffPhrases, 'end chat'] } });
    for (const text of ['bye operator', 'Bye, operator!', 'ＢＹＥ ＯＰＥＲＡＴＯＲ']) assert.equal(conversation(closing).say(text).handoff, null, text);
    // A close phrase that is a handoff phrase, too, is a close phrase.
    assert.equal(conversation(closing).say('end chat').handoff, null);
  });

  it('hands over on a handoff intent above the threshold, idle or in a flow, without needing a flow', () => {
    let turn = conversation(runtime(demo)).say('I want to speak to someone');
    assert.deepEqual(turn.handoff, { reason: 'intent talk_to_agent' });
    assert.deepEqual(turn.understood, { kind: 'intent', intent: 'talk_to_agent', confidence: 1, global: false });
    assert.deepEqual(turn.replies, []);
    assert.deepEqual(turn.position, IDLE);

    const chat = conversation(runtime(demo));
    chat.say('my payment failed');
    turn = chat.say('connect me with support staff');
    assert.deepEqual(turn.handoff, { reason: 'intent talk_to_agent' });
    assert.deepEqual(turn.position, { state: null, memory: {}, lastPrompt: [] });

    // Below the threshold (0.5): not a handoff; idle it is not understood, in a flow it is the answer.
    turn = conversation(runtime(demo)).say('is somebody there');
    assert.equal(turn.handoff, null);
    assert.deepEqual(turn.replies, demo.settings.dontKnow);
    chat.say('order a pizza');
    turn = chat.say('somebody');
    assert.equal(turn.handoff, null);
    assert.equal(chat.position.memory.number_of_pizzas, 'somebody');
  });

  it('runs a handoff intent\'s flow first when it has one', () => {
    const turn = conversation(runtime(desk)).say('I want to complain');
    assert.deepEqual(texts(turn), ['Sorry to hear that, Ada.']);
    assert.deepEqual(turn.handoff, { reason: 'intent complaint' });
    assert.deepEqual(turn.fired, [{ rule: desk.webhooks[0], state: null, intent: 'complaint' }]);
    assert.deepEqual(turn.endOfTask, { reason: 'Fulfilled' });
    assert.deepEqual(turn.position, IDLE);
  });

  it('fires the webhooks of a handoff intent that has no flow (they listed it, and never fired)', () => {
    const agentDesk = load(`
id: agent_desk
name: Agent desk
intents:
  order: [order]
  talk_to_agent: [I want a person]
handoff_intents: [talk_to_agent]
flows:
  order:
    message: [What do you need?]
    next_state: end
webhooks:
  - { event: person.asked, intents: [talk_to_agent], endpoint: desk }
`, 'agent-desk.yaml');
    const turn = conversation(runtime(agentDesk)).say('I want a person');
    assert.deepEqual(turn.handoff, { reason: 'intent talk_to_agent' });
    assert.deepEqual(turn.fired, [{ rule: agentDesk.webhooks[0], state: null, intent: 'talk_to_agent' }]);
    assert.deepEqual(turn.replies, []);
    assert.deepEqual(turn.position, IDLE);
  });

  it('hands over on entering a handoff state, after sending its message', () => {
    const chat = conversation(runtime(demo));
    chat.say('my payment failed');
    const turn = chat.say('3');
    assert.deepEqual(turn.understood, { kind: 'choice', state: 'choice_top_up_after_failure', option: '3' });
    assert.deepEqual(texts(turn), ["I'll pass you to our payments team; they can see what happened with your card."]);
    assert.deepEqual(turn.handoff, { reason: 'state payment_person' });
    assert.deepEqual(turn.endOfTask, { reason: 'Fulfilled' });
    assert.deepEqual(chat.position, { state: null, memory: { choice_top_up_after_failure: '3' }, lastPrompt: [] });
  });

  it('leaves the position where a handoff state leads (where a channel that cannot hand over goes on)', () => {
    const chat = conversation(runtime(desk));
    chat.say('order');
    const turn = chat.say('a lamp');
    assert.deepEqual(texts(turn), ['Let me find someone for that.']);
    assert.deepEqual(turn.handoff, { reason: 'state item' });
    assert.equal(turn.endOfTask, null);
    assert.deepEqual(chat.position, { state: 'choice_callback', memory: { item: 'a lamp' }, lastPrompt: [{ text: 'Let me find someone for that.' }] });
  });
});

describe('resuming after a human', () => {
  const BACK = [{ text: 'You are back with the bot, {{user.firstName|friend}}.' }];
  const WAS: ConversationPosition = { state: 'number_of_pizzas', memory: { number_of_pizzas: '2' }, lastPrompt: [{ text: 'old' }] };

  it('sends the messages before, then enters a plain state, which asks the question of its choice', () => {
    const bot = runtime(demo);
    const turn = resumeAt(bot, deepFreeze({ ...WAS }), 'feedback', ADA, BACK);
    const question = { text: 'How did we do? Answer 1 (great), 2 (OK) or 3 (poor).', quickReplies: ['Great', 'OK', 'Poor'] };
    assert.deepEqual(turn.replies, [{ text: 'You are back with the bot, Ada.' }, question]);
    assert.deepEqual(turn.position, { state: 'choice_feedback', memory: { number_of_pizzas: '2' }, lastPrompt: [question] });
    assert.deepEqual(turn.understood, { kind: 'state', state: 'feedback' });
    assert.equal(turn.handoff, null);
    assert.equal(turn.endOfTask, null);

    const chat = conversation(bot);
    chat.position = turn.position;
    assert.deepEqual(chat.say('so-so').replies, [{ text: 'Please answer 1, 2 or 3.' }, question]);
    const answer = chat.say('Poor.');
    assert.deepEqual(texts(answer), ["Sorry we let you down. Thanks for telling us; we'll use it to do better."]);
    assert.deepEqual(answer.endOfTask, { reason: 'Fulfilled' });
    assert.deepEqual(chat.position, { state: null, memory: { number_of_pizzas: '2', choice_feedback: '3' }, lastPrompt: [] });
  });

  it('enters a choice state by sending its own message after the messages before', () => {
    const turn = resumeAt(runtime(shop), IDLE, 'choice_menu', ADA, [{ text: 'Welcome back.' }]);
    assert.deepEqual(texts(turn), ['Welcome back.', 'Pizza?']);
    assert.deepEqual(turn.position, { state: 'choice_menu', memory: {}, lastPrompt: [] });
    assert.deepEqual(turn.understood, { kind: 'state', state: 'choice_menu' });
  });

  it('fires the webhooks of a plain state it enters', () => {
    const turn = resumeAt(runtime(shop), IDLE, 'done', ADA, []);
    assert.deepEqual(turn.fired.map((fired) => fired.rule.event), ['order.done']);
    assert.deepEqual(turn.endOfTask, { reason: 'Fulfilled' });
  });

  it('is idle after the messages before, with no state or an unknown one, keeping memory', () => {
    for (const state of [null, 'gone']) {
      const turn = resumeAt(runtime(demo), deepFreeze({ ...WAS }), state, ADA, BACK);
      assert.deepEqual(texts(turn), ['You are back with the bot, Ada.'], String(state));
      assert.deepEqual(turn.position, { state: null, memory: { number_of_pizzas: '2' }, lastPrompt: [] });
      assert.deepEqual(turn.understood, { kind: 'unknown' }, String(state));
      assert.equal(turn.handoff, null);
    }
  });
});
