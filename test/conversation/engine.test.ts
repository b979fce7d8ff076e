// Conversation turns: the demo bot's PizzaBot order end to end, interruptions, restarts, knowledge, and the
// choice-state rules of docs/bots.md, with a fake intent matcher and knowledge base.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseBot } from '../../src/conversation/bot-file.ts';
import { resumeAt, runTurn } from '../../src/conversation/engine.ts';
import type {
  BotDefinition, BotRuntime, ConversationPosition, IntentMatcherLike, KnowledgeBaseLike, TurnContext, TurnResult,
} from '../../src/conversation/bot.ts';

const DEMO_PATH = new URL('../../bots/demo/bot.yaml', import.meta.url).pathname;

function load(text: string, source: string): BotDefinition {
  const result = parseBot(text, source);
  if ('problems' in result) assert.fail(JSON.stringify(result.problems));
  return result.bot;
}

const demo = load(readFileSync(DEMO_PATH, 'utf8'), DEMO_PATH);

/** Exact example utterances match with confidence 1; a word from `keywords` with the confidence given. */
function fakeMatcher(intents: Record<string, string[]>, keywords: Record<string, [string, number]>): IntentMatcherLike {
  return {
    match(text) {
      const said = text.trim().toLowerCase();
      for (const [intent, examples] of Object.entries(intents)) {
        if (examples.some((example) => example.toLowerCase() === said)) return { intent, confidence: 1 };
      }
      for (const word of said.split(/\W+/)) if (Object.hasOwn(keywords, word)) return { intent: keywords[word][0], confidence: keywords[word][1] };
      return null;
    },
  };
}

const KEYWORDS: Record<string, [string, number]> = {
  pizza: ['order_pizza', 0.7], balance: ['check_balance', 0.8], hungry: ['order_pizza', 0.5], halt: ['cancel', 0.5],
  somebody: ['talk_to_agent', 0.5], stop: ['cancel', 0.62], operator: ['talk_to_agent', 0.9],
};

const fakeKnowledge: KnowledgeBaseLike = {
  search(text) {
    if (/open/i.test(text)) return { answer: 'We open at 11:00 every day.', score: 0.9, source: 'knowledge/hours.md', heading: 'Hours' };
    if (/deliver/i.test(text)) return { answer: 'We deliver within 5 km.', score: 0.2, source: 'knowledge/delivery.md', heading: 'Delivery' };
    return null;
  },
};

function runtime(definition: BotDefinition, knowledge: KnowledgeBaseLike | null = fakeKnowledge): BotRuntime {
  return { definition, intents: fakeMatcher(definition.intents, KEYWORDS), knowledge, version: 1 };
}

const ADA: TurnContext = { user: { id: 'u-1', firstName: 'Ada' }, customData: {}, group: null };
const IDLE: ConversationPosition = { state: null, memory: {}, lastPrompt: [] };

/** A conversation that carries its position from turn to turn; the bot may be swapped (a reload). */
function conversation(bot: BotRuntime, context: TurnContext = ADA) {
  const chat = {
    bot,
    position: IDLE,
    say(text: string, newSession = false): TurnResult {
      const result = runTurn(chat.bot, deepFreeze(chat.position), { text, newSession, context });
      chat.position = result.position;
      return result;
    },
  };
  return chat;
}

/** Turns must never change the position they are given. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

const texts = (result: TurnResult) => result.replies.map((reply) => reply.text);

describe('the demo PizzaBot order', () => {
  it('takes an order from intent to webhook', () => {
    const chat = conversation(runtime(demo));

    let turn = chat.say('order a pizza');
    assert.deepEqual(turn.understood, { kind: 'intent', intent: 'order_pizza', confidence: 0.7, global: false });
    assert.deepEqual(texts(turn), ['How many pizzas would you like?']);
    assert.deepEqual(chat.position, { state: 'number_of_pizzas', memory: {}, lastPrompt: [{ text: 'How many pizzas would you like?' }] });

    turn = chat.say('2');
    assert.deepEqual(turn.understood, { kind: 'state', state: 'number_of_pizzas' });
    assert.deepEqual(turn.replies, [{ text: 'Which toppings?', quickReplies: ['Cheese', 'Pepperoni', 'Veggie'] }]);
    assert.equal(chat.position.state, 'pizza_toppings');

    assert.deepEqual(texts(chat.say('Pepperoni')), ['What is the delivery address?']);
    assert.deepEqual(texts(chat.say('  12 Main St  ')), ['And a phone number we can call?']);

    const summary = [
      '2 × Pepperoni to 12 Main St (phone 555-1234). Shall I place the order?',
      '1. Confirm',
      '2. Cancel',
    ];
    turn = chat.say('555-1234');
    assert.deepEqual(texts(turn), summary);
    assert.deepEqual(turn.missingValues, []);
    assert.equal(chat.position.state, 'choice_confirmation');
    assert.deepEqual(chat.position.lastPrompt.map((message) => message.text), summary);

    const before = chat.position;
    turn = chat.say('maybe');
    assert.deepEqual(turn.understood, { kind: 'choice', state: 'choice_confirmation', option: null });
    assert.deepEqual(texts(turn), ['Please answer 1 to confirm or 2 to cancel.', ...summary]);
    assert.deepEqual(chat.position, before);
    assert.equal(turn.endOfTask, null);
    assert.deepEqual(turn.fired, []);

    turn = chat.say('1');
    assert.deepEqual(turn.understood, { kind: 'choice', state: 'choice_confirmation', option: '1' });
    assert.deepEqual(texts(turn), ['Your order is placed, Ada! It will be with you in about 30 minutes.']);
    assert.deepEqual(turn.endOfTask, { reason: 'Fulfilled' });
    assert.deepEqual(turn.fired, [{ rule: demo.webhooks[0], state: 'order_confirmed', intent: null }]);
    assert.equal(turn.fired[0].rule.event, 'order.confirmed');
    assert.deepEqual(chat.position, {
      state: null,
      memory: { number_of_pizzas: '2', pizza_toppings: 'Pepperoni', address: '12 Main St', phone_number: '555-1234', choice_confirmation: '1' },
      lastPrompt: [],
    });
  });

  it('matches options ignoring case, spaces and trailing punctuation; stores the number of the option (a text option\'s numbered twin)', () => {
    // "confirm" leads where "1" does: "1" is stored, which Sarufi receivers read with int().
    for (const [answer, key, reason] of [['1.', '1', 'Fulfilled'], [' CONFIRM! ', '1', 'Fulfilled'], ['2', '2', 'Cancelled']]) {
      const chat = conversation(runtime(demo));
      for (const text of ['order a pizza', '2', 'Cheese', 'Home', '555']) chat.say(text);
      const turn = chat.say(answer);
      assert.equal(chat.position.memory.choice_confirmation, key);
      assert.deepEqual(turn.endOfTask, { reason });
      assert.equal(turn.fired.length, key === '2' ? 0 : 1);
    }
  });

  it('stores a text option\'s own key when no numbered option leads to its state, and matches it in any Unicode form', () => {
    const bot = load(`id: colours\nname: Colours\nintents:\n  pick: [pick a colour]\nflows:\n  pick:\n    message: [Which one?]\n    next_state: choice_colour\n  choice_colour:\n    "1": green\n    Grün: green\n    Blau: blue\n    fallback_message: [Grün or Blau?]\n  green:\n    message: [Green it is.]\n    next_state: end\n  blue:\n    message: [Blue it is.]\n    next_state: end\n`, 'colours.yaml');
    const chat = conversation(runtime(bot));
    chat.say('pick a colour');
    chat.say('blau');
    assert.equal(chat.position.memory.choice_colour, 'Blau');
    chat.say('pick a colour');
    chat.say('Gru\u0308n'); // decomposed ü
    assert.equal(chat.position.memory.choice_colour, '1');
    chat.say('pick a colour');
    chat.say('ＢＬＡＵ！'); // full-width, from an East Asian keyboard
    assert.equal(chat.position.memory.choice_colour, 'Blau');
    chat.say('pick a colour');
    chat.say('１');
    assert.equal(chat.position.memory.choice_colour, '1');
    // Several numbers lead to the same state: only the text says which was meant.
    const sizes = load(`id: sizes\nname: Sizes\nintents:\n  pick: [pick a size]\nflows:\n  pick:\n    message: [Which size?]\n    next_state: choice_size\n  choice_size:\n    "1": chosen\n    "2": chosen\n    small: chosen\n    large: chosen\n    fallback_message: [Small or large?]\n  chosen:\n    message: [Noted.]\n    next_state: end\n`, 'sizes.yaml');
    const sized = conversation(runtime(sizes));
    sized.say('pick a size');
    sized.say('large');
    assert.equal(sized.position.memory.choice_size, 'large');
  });

  it('stops at "cancel" anywhere in the flow (a global intent), keeping memory', () => {
    const chat = conversation(runtime(demo));
    chat.say('order a pizza');
    chat.say('2');
    const turn = chat.say('cancel');
    assert.deepEqual(turn.understood, { kind: 'intent', intent: 'cancel', confidence: 1, global: true });
    assert.deepEqual(texts(turn), ["Okay, I've stopped. Anything else?"]);
    assert.deepEqual(turn.endOfTask, { reason: 'Cancelled' });
    assert.deepEqual(chat.position, { state: null, memory: { number_of_pizzas: '2' }, lastPrompt: [] });
  });

  it('takes an answer naming a choice option as that option, even when a global intent has the same phrase', () => {
    const chat = conversation(runtime(demo));
    for (const text of ['order a pizza', '2', 'Cheese', 'Home', '555']) chat.say(text);
    // The demo's confirmation menu has an option "cancel" (it could never be chosen when the intent came first).
    const turn = chat.say('cancel');
    assert.deepEqual(turn.understood, { kind: 'choice', state: 'choice_confirmation', option: 'cancel' });
    assert.equal(chat.position.memory.choice_confirmation, '2', 'stored as the numbered option to the same state');
    assert.deepEqual(texts(turn), ['No problem, the order is cancelled.']);
    // Not an option: the global intent still interrupts the menu.
    for (const text of ['order a pizza', '2', 'Cheese', 'Home', '555']) chat.say(text);
    const stop = chat.say('stop');
    assert.deepEqual(stop.understood.kind, 'intent');
    assert.deepEqual(stop.endOfTask, { reason: 'Cancelled' });
  });

  it('takes a weak global match or a non-global intent while waiting as the answer', () => {
    const chat = conversation(runtime(demo));
    chat.say('order a pizza');
    chat.say('halt'); // cancel at 0.5, under the 0.6 threshold
    assert.equal(chat.position.memory.number_of_pizzas, 'halt');
    const turn = chat.say('hello'); // greeting: an intent, but not a global one
    assert.deepEqual(turn.understood, { kind: 'state', state: 'pizza_toppings' });
    assert.equal(chat.position.memory.pizza_toppings, 'hello');
  });

  it('needs interrupt_threshold for a global intent where any text is an answer: an address with "stop" in it stays an address', () => {
    const chat = conversation(runtime(demo));
    for (const text of ['order a pizza', '2', 'Cheese']) chat.say(text);
    const turn = chat.say('Stop Lane 4'); // cancel at 0.62: above intent_threshold (0.55), under interrupt_threshold (0.7)
    assert.deepEqual(turn.understood, { kind: 'state', state: 'address' });
    assert.equal(chat.position.memory.address, 'Stop Lane 4');
    chat.say('555');
    // At a menu the answer is one of few options: the intent threshold is the bar there.
    const atMenu = chat.say('stop now');
    assert.deepEqual(atMenu.understood, { kind: 'intent', intent: 'cancel', confidence: 0.62, global: true });
  });

  it('starts afresh on session.new, keeping memory', () => {
    const chat = conversation(runtime(demo));
    chat.say('order a pizza');
    chat.say('2');
    let turn = chat.say('hello', true);
    assert.deepEqual(turn.understood, { kind: 'intent', intent: 'greeting', confidence: 1, global: false });
    assert.equal(texts(turn)[0], 'Hi Ada! I can take a pizza order, tell you your balance, or help with a failed payment.');
    assert.deepEqual(chat.position, { state: null, memory: { number_of_pizzas: '2' }, lastPrompt: [] });

    chat.say('order a pizza');
    turn = chat.say('Pepperoni', true); // not an answer any more: nothing understands it
    assert.deepEqual(turn.understood, { kind: 'unknown' });
    assert.deepEqual(turn.replies, demo.settings.dontKnow);
    assert.equal(chat.position.state, null);
  });

  it('tells a conversation whose state a reload removed, then handles the message as new', () => {
    const chat = conversation(runtime(demo));
    chat.say('order a pizza');
    chat.say('2');
    assert.equal(chat.position.state, 'pizza_toppings');
    const { pizza_toppings: _removed, ...flows } = demo.flows;
    chat.bot = { ...runtime({ ...demo, flows }), version: 2 };

    let turn = chat.say('order a pizza');
    assert.deepEqual(texts(turn), ["That conversation changed while you were away, so let's start again.", 'How many pizzas would you like?']);
    assert.equal(turn.understood.kind, 'intent');
    assert.equal(chat.position.state, 'number_of_pizzas');

    chat.say('3');
    assert.equal(chat.position.state, 'pizza_toppings');
    turn = chat.say('Veggie');
    assert.deepEqual(texts(turn), ["That conversation changed while you were away, so let's start again.", ...demo.settings.dontKnow.map((m) => m.text)]);
    assert.deepEqual(chat.position, { state: null, memory: { number_of_pizzas: '3' }, lastPrompt: [] });
  });

  it('does not expand a template-like answer, in the summary or in the re-prompt', () => {
    const chat = conversation(runtime(demo), { ...ADA, customData: { secret: 's3cret' } });
    for (const text of ['order a pizza', '2', 'Cheese', 'Home']) chat.say(text);
    let turn = chat.say('{{customData.secret}}');
    assert.equal(texts(turn)[0], '2 × Cheese to Home (phone {{customData.secret}}). Shall I place the order?');
    turn = chat.say('what?');
    assert.equal(texts(turn)[1], '2 × Cheese to Home (phone {{customData.secret}}). Shall I place the order?');
  });
});

const TOP_UP_QUESTION = {
  text: 'Would you like to top up your account? Or I can put you through to a person.',
  buttons: [{ title: 'Yes', payload: 'yes' }, { title: 'No', payload: 'no' }, { title: 'Talk to a person', payload: '3' }],
};

describe('the demo banking flows', () => {
  // The option as written is what was understood; memory keeps its number ("yes" leads where "1" does).
  for (const [answer, option] of [['yes', 'yes'], ['Yes.', 'yes'], ['1', '1']]) {
    it(`tops up after a failed payment on "${answer}"`, () => {
      const chat = conversation(runtime(demo));
      let turn = chat.say('my payment failed');
      assert.deepEqual(turn.replies, [
        { text: 'Payments usually fail because of insufficient funds, an expired card or a bank security check.' },
        TOP_UP_QUESTION,
      ]);
      assert.equal(chat.position.state, 'choice_top_up_after_failure');
      turn = chat.say(answer);
      assert.deepEqual(turn.understood, { kind: 'choice', state: 'choice_top_up_after_failure', option });
      assert.deepEqual(texts(turn), ['How much would you like to add?']);
      assert.equal(turn.endOfTask, null);
      assert.equal(chat.position.state, 'top_up_amount');
      turn = chat.say('50 EUR');
      assert.deepEqual(texts(turn), ['Done: 50 EUR is on its way to your account.']);
      assert.deepEqual(turn.endOfTask, { reason: 'Fulfilled' });
      assert.deepEqual(chat.position.memory, { choice_top_up_after_failure: '1', top_up_amount: '50 EUR' });
    });
  }

  it('ends on "no", and re-asks the question with its buttons after an unclear answer', () => {
    const chat = conversation(runtime(demo));
    chat.say('my payment failed');
    let turn = chat.say('perhaps');
    assert.deepEqual(turn.replies, [
      { text: 'Please answer yes or no (or 3 to talk to a person).' },
      { text: 'Payments usually fail because of insufficient funds, an expired card or a bank security check.' },
      TOP_UP_QUESTION,
    ]);
    turn = chat.say('No');
    assert.deepEqual(texts(turn), ['Alright. Let me know if you need anything else.']);
    assert.deepEqual(turn.endOfTask, { reason: 'Fulfilled' });
    assert.equal(chat.position.memory.choice_top_up_after_failure, '2');
  });

  it('fills templates from customData, or their fallback, and lists what was missing', () => {
    let turn = conversation(runtime(demo), { ...ADA, customData: { balance: '$12.50' } }).say('show my balance');
    assert.deepEqual(texts(turn), ['Your balance is $12.50.']);
    assert.deepEqual(turn.missingValues, []);
    turn = conversation(runtime(demo)).say('show my balance');
    assert.deepEqual(texts(turn), ['Your balance is not available right now.']);
    assert.deepEqual(turn.missingValues, ['customData.balance']);
    turn = conversation(runtime(demo), { user: { id: 'u-2' }, customData: {}, group: null }).say('hello');
    assert.equal(texts(turn)[0], 'Hi there! I can take a pizza order, tell you your balance, or help with a failed payment.');
    assert.deepEqual(turn.missingValues, ['user.firstName']);
  });
});

describe('when no intent matches', () => {
  it('answers from the knowledge base when a passage is relevant enough', () => {
    const turn = conversation(runtime(demo)).say('when do you open?');
    assert.deepEqual(turn.replies, [{ text: 'We open at 11:00 every day.' }]);
    assert.deepEqual(turn.understood, { kind: 'knowledge', source: 'knowledge/hours.md', score: 0.9 });
    assert.deepEqual(turn.position, IDLE);
  });

  it('says dont_know below the knowledge threshold, below the intent threshold, or without a knowledge base', () => {
    for (const [text, knowledge] of [['do you deliver?', fakeKnowledge], ['I am hungry', fakeKnowledge], ['when do you open?', null]] as const) {
      const turn = conversation(runtime(demo, knowledge)).say(text);
      assert.deepEqual(turn.replies, demo.settings.dontKnow);
      assert.deepEqual(turn.understood, { kind: 'unknown' });
      assert.equal(turn.endOfTask, null);
    }
  });
});

/** A small bot to exercise choice states that the demo does not use. */
const SHOP = `
id: shop
name: Shop
intents:
  order: [order]
  choice_menu: [menu]
flows:
  order:
    message: [Which size?]
    next_state: choice_size
  choice_size:
    small: choice_crust
    large: done
    fallback_message: [Small or large?]
    message: ["(Sizes: small, large)"]
  choice_crust:
    thin: done
    thick: done
    message: [Thin or thick crust?]
    fallback_message: [Thin or thick?]
  choice_menu:
    pizza: order
    message: [Pizza?]
    fallback_message: [Say pizza.]
  done:
    message: ["Done, {{memory.choice_size}} {{memory.choice_crust|regular}}."]
    next_state: end
webhooks:
  - { event: order.started, intents: [order], states: [order], endpoint: orders }
  - { event: order.done, states: [done], endpoint: orders }
`;
const shop = load(SHOP, 'shop.yaml');

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

describe('choice states', () => {
  it('re-prompts with the fallback, the question that led to the menu, then the menu\'s own message', () => {
    const chat = conversation(runtime(shop));
    chat.say('order');
    const turn = chat.say('medium');
    assert.deepEqual(texts(turn), ['Small or large?', 'Which size?', '(Sizes: small, large)']);
  });

  it('sends the own message of a choice an option leads to, which is then the whole re-prompt', () => {
    const chat = conversation(runtime(shop));
    chat.say('order');
    let turn = chat.say('Small');
    assert.deepEqual(texts(turn), ['Thin or thick crust?']);
    assert.deepEqual(chat.position, { state: 'choice_crust', memory: { choice_size: 'small' }, lastPrompt: [] });
    turn = chat.say('deep dish');
    assert.deepEqual(texts(turn), ['Thin or thick?', 'Thin or thick crust?']);
    turn = chat.say('thick');
    assert.deepEqual(texts(turn), ['Done, small thick.']);
    assert.deepEqual(turn.fired.map((fired) => fired.rule.event), ['order.done']);
  });

  it('asks with the own message of a choice an intent starts at', () => {
    const chat = conversation(runtime(shop));
    let turn = chat.say('menu');
    assert.deepEqual(texts(turn), ['Pizza?']);
    assert.equal(chat.position.state, 'choice_menu');
    turn = chat.say('pizza');
    assert.deepEqual(texts(turn), ['Which size?']);
    assert.equal(chat.position.state, 'choice_size');
  });

  it('keeps the previous question for a choice without a message (a runtime the validator would refuse)', () => {
    const crust = shop.flows.choice_crust;
    assert.equal(crust.kind, 'choice');
    const bare = { ...shop, flows: { ...shop.flows, choice_crust: { ...crust, message: [] } } };
    const chat = conversation(runtime(bare));
    chat.say('order');
    const turn = chat.say('small');
    assert.deepEqual(turn.replies, []);
    assert.deepEqual(chat.position.lastPrompt, [{ text: 'Which size?' }]);
    assert.deepEqual(texts(chat.say('?')), ['Thin or thick?', 'Which size?']);
  });

  it('fires a rule once per turn when both its intent and its state match', () => {
    const turn = conversation(runtime(shop)).say('order');
    assert.deepEqual(turn.fired, [{ rule: shop.webhooks[0], state: null, intent: 'order' }]);
  });
});

describe('malformed runtimes', () => {
  it('end every turn, whatever cycles the definition holds', () => {
    const looping: BotDefinition = {
      ...shop,
      flows: {
        order: { kind: 'plain', name: 'order', message: [{ text: 'again' }], nextState: 'order', endReason: 'Fulfilled', handoff: false },
        choice_a: { kind: 'choice', name: 'choice_a', options: { x: 'choice_b' }, fallbackMessage: [], message: [] },
        choice_b: { kind: 'choice', name: 'choice_b', options: { x: 'choice_a' }, fallbackMessage: [], message: [] },
      },
    };
    const chat = conversation(runtime(looping));
    assert.deepEqual(texts(chat.say('order')), ['again']);
    assert.deepEqual(texts(chat.say('anything')), ['again']);
    chat.position = { state: 'choice_a', memory: {}, lastPrompt: [] };
    assert.deepEqual(chat.say('x').replies, []);
    assert.equal(chat.position.state, 'choice_b');
  });

  it('wait at an option\'s missing target, then restart', () => {
    const broken: BotDefinition = { ...shop, flows: { ...shop.flows, choice_size: { ...shop.flows.choice_size, options: { small: 'gone' } } as BotDefinition['flows'][string] } };
    const chat = conversation(runtime(broken));
    chat.say('order');
    chat.say('small');
    assert.equal(chat.position.state, 'gone');
    const turn = chat.say('order');
    assert.deepEqual(texts(turn), [shop.settings.restartNotice[0].text, 'Which size?']);
  });
});
