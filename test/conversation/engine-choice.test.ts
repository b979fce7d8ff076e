// Conversation turns: the choice-state rules of docs/bots.md (re-prompts, own messages, webhooks once per turn), and
// runtimes the validator would refuse (cycles, missing targets), with the fake intent matcher of engine-helpers.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BotDefinition } from '../../src/conversation/bot.ts';
import { optionKey } from '../../src/conversation/choice-options.ts';
import { runtime, conversation, texts, shop, demo } from './engine-helpers.ts';

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

  it('keeps a sign that is part of an option\'s name: C# is not C, 50% is not 50', () => {
    assert.equal(optionKey('C#'), 'c#');
    assert.equal(optionKey(' 50%. '), '50%');
    assert.equal(optionKey('C'), 'c');
  });

  it('ignores trailing punctuation that ends a sentence or closes something in an answer, not only . , ! and ?', () => {
    for (const [answer, stored] of [['1)', '1'], ['2:', '2'], ['confirm;', '1'], ['１。', '1'], ['Cancel »', '2']]) {
      const chat = conversation(runtime(demo));
      for (const text of ['order a pizza', '2', 'Cheese', 'Home', '555']) chat.say(text);
      const turn = chat.say(answer);
      assert.equal(turn.understood.kind === 'choice' && turn.understood.option !== null, true, answer);
      assert.equal(chat.position.memory.choice_confirmation, stored, answer);
    }
  });

  it('reads an answer of any length in time linear in it: a long run of punctuation does not stall the turn', () => {
    // A chat user's 10 KB answer of dots and a letter took 0.2 s (a 40 KB one, 4 s): the trailing punctuation was cut
    // with a regular expression that backtracked over the run from each of its characters.
    const started = performance.now();
    assert.equal(optionKey(`${'.'.repeat(30_000)}x`), `${'.'.repeat(30_000)}x`);
    assert.equal(optionKey(`yes${'!»)」'.repeat(10_000)}`), 'yes');
    const ms = performance.now() - started;
    assert.ok(ms < 300, `${Math.round(ms)} ms`);
    assert.equal(optionKey('１。'), '1');
    assert.equal(optionKey('ok 😀'), 'ok 😀');
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
