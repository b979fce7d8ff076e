// Conversation turns: the demo bot's PizzaBot order end to end, interruptions, restarts, its banking flows and
// knowledge, with a fake intent matcher and knowledge base (engine-helpers.ts); handoff and resuming are in
// engine-handoff.test.ts, the choice-state rules of docs/bots.md in engine-choice.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { load, demo, fakeKnowledge, runtime, ADA, IDLE, conversation, texts } from './engine-helpers.ts';

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
