// Bot file validation: every problem a bot file can have, each reported with the path of the offending key (a table
// of variants of a small valid bot), YAML syntax errors with their line, unstorable text and alias bombs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { demoText, type Raw, problemsOf, problemsIn } from './bot-file-helpers.ts';

describe('problems', () => {
  const cases: [string, (raw: Raw) => void, string[]][] = [
    ['unknown keys at every level', (raw) => {
      raw.flow = {};
      raw.settings = { threshold: 1 };
      raw.flows.order.nxt_state = 'item';
      raw.flows.item.fallback_message = ['?'];
      raw.flows.item.message[0].quick_reply = ['x'];
      raw.webhooks[0].url = 'https://x';
    }, [
      'flow: unknown key',
      'flows.order.nxt_state: unknown key',
      'flows.item.fallback_message: unknown key (only choice_ states have a fallback_message)',
      'flows.item.message[0].quick_reply: unknown key',
      'settings.threshold: unknown key',
      'webhooks[0].url: unknown key',
    ]],
    ['missing required keys', (raw) => {
      delete raw.id;
      delete raw.name;
      delete raw.webhooks[0].endpoint;
      delete raw.webhooks[0].event;
    }, ['id: required', 'name: required', 'webhooks[0].event: required', 'webhooks[0].endpoint: required']],
    ['missing intents and flows', (raw) => {
      delete raw.intents;
      delete raw.flows;
      delete raw.global_intents;
      delete raw.webhooks;
    }, ['intents: required', 'flows: required']],
    ['wrong types', (raw) => {
      raw.id = 42;
      raw.name = ['Shop'];
      raw.description = {};
      raw.knowledge = 'faq/*.md';
      raw.intents.order = 'order something';
      raw.flows.order.next_state = 3;
      raw.flows.done.message = 'Ordered';
      raw.webhooks = { event: 'x' };
    }, [
      'id: must be a string (quote it)',
      'name: must be a string',
      'description: must be a string',
      'intents.order: must be a list',
      'flows.order.next_state: must be a string (quote it)',
      'flows.done.message: must be a list of messages',
      'flows.item: unreachable (no intent, option or next_state leads here)',
      'knowledge: must be a list',
      'webhooks: must be a list',
    ]],
    ['a top level flows or state that is not a mapping', (raw) => {
      raw.flows.item = 'choice_sure';
      raw.settings = [];
    }, [
      'flows.item: a state is a mapping (message, next_state, … or a choice\'s options)',
      'flows.choice_sure: unreachable (no intent, option or next_state leads here)',
      'settings: must be a mapping',
    ]],
    ['invalid ids and names, and end as a name', (raw) => {
      raw.id = 'my bot!';
      raw.intents['2fast'] = ['go'];
      raw.intents.end = ['end it'];
      raw.flows['bad-name'] = { message: ['x'], next_state: 'end' };
      raw.flows.end = { message: ['x'], next_state: 'end' };
    }, [
      'id: use 1–64 ASCII letters (A–Z, a–z), digits, _, - and .',
      'intents.2fast: invalid name: use ASCII letters, digits and _, starting with a letter',
      'intents.end: "end" is reserved (it is what next_state names to end a flow)',
      'flows.bad-name: invalid name: use ASCII letters, digits and _, starting with a letter',
      'flows.end: "end" is reserved (it is what next_state names to end a flow)',
    ]],
    ['empty or bad example lists', (raw) => {
      raw.intents.order = [];
      raw.intents.cancel = ['cancel', '  ', 7];
    }, [
      'intents.order: needs at least one example utterance',
      'intents.cancel[1]: must not be empty',
      'intents.cancel[2]: must be a string (quote it)',
    ]],
    ['the same example under two intents', (raw) => {
      raw.intents.cancel.push('Order something ');
    }, ['intents.cancel[1]: "Order something " is also an example of order']],
    ['an intent without a flow', (raw) => {
      raw.intents.order_pizza = ['pizza please'];
    }, ['intents.order_pizza: no flow starts here (add flows.order_pizza)']],
    ['global intents that are not intents, or twice', (raw) => {
      raw.global_intents = ['cancel', 'halp', 'cancel'];
    }, ['global_intents[1]: "halp" is not an intent', 'global_intents[2]: "cancel" is listed twice']],
    ['a handoff intent that is not a string', (raw) => {
      raw.handoff_intents = ['cancel', 7];
    }, ['handoff_intents[1]: must be a string (quote it)']],
    ['handoff intents naming unknown intents, or twice', (raw) => {
      raw.intents.agent = ['talk to someone'];
      raw.handoff_intents = ['agent', 'human', 'agent'];
    }, ['handoff_intents[1]: "human" is not an intent', 'handoff_intents[2]: "agent" is listed twice']],
    ['handoff intents that are not a list', (raw) => {
      raw.handoff_intents = 'cancel';
    }, ['handoff_intents: must be a list']],
    ['an intent without a flow that is not a handoff intent', (raw) => {
      raw.intents.agent = ['talk to someone'];
      raw.intents.human = ['a human please'];
      raw.handoff_intents = ['human'];
    }, ['intents.agent: no flow starts here (add flows.agent)']],
    ['handoff phrases that are not strings, or not a list', (raw) => {
      raw.settings = { handoff_phrases: ['human', 3, ''], close_phrases: 'bye' };
    }, [
      'settings.handoff_phrases[1]: must be a string (quote it)',
      'settings.handoff_phrases[2]: must not be empty',
      'settings.close_phrases: must be a list',
    ]],
    ['handoff messages that are empty or not messages', (raw) => {
      raw.settings = { handoff_message: [], handoff_unavailable: 'Sorry', agent_timeout_message: [''], agent_closed_message: [{ text: '{{memory.nope}}' }] };
    }, [
      'settings.handoff_message: must not be empty',
      'settings.handoff_unavailable: must be a list of messages',
      'settings.agent_timeout_message[0]: must not be empty',
      'settings.agent_closed_message[0].text: unknown template value {{memory.nope}} (no state "nope")',
    ]],
    ['handoff on a plain state that is not true or false, or on a choice state', (raw) => {
      raw.flows.done.handoff = 'yes';
      raw.flows.choice_sure.handoff = true;
    }, [
      'flows.choice_sure.handoff: a choice state has no handoff (its options say where each answer leads)',
      'flows.done.handoff: must be true or false',
    ]],
    ['thresholds outside 0–1 or not numbers', (raw) => {
      raw.settings = { intent_threshold: 1.5, knowledge_threshold: '0.3' };
    }, ['settings.intent_threshold: must be a number between 0 and 1', 'settings.knowledge_threshold: must be a number between 0 and 1']],
    ['empty setting messages', (raw) => {
      raw.settings = { dont_know: [], restart_notice: [''] };
    }, ['settings.dont_know: must not be empty', 'settings.restart_notice[0]: must not be empty']],
    ['a plain state without next_state or message, and end_reason without end', (raw) => {
      delete raw.flows.done.next_state;
      delete raw.flows.order.message;
      raw.flows.item.end_reason = 'Done';
    }, [
      'flows.order: a state needs a message (what it says when entered)',
      'flows.item.end_reason: only applies when next_state is end',
      'flows.done: a plain state needs a next_state (a state, or end)',
    ]],
    ['a next_state naming no state', (raw) => {
      raw.flows.item.next_state = 'choice_confirm';
    }, ['flows.item.next_state: unknown state "choice_confirm"', 'flows.choice_sure: unreachable (no intent, option or next_state leads here)']],
    ['a choice state with next_state or end_reason, without options or fallback', (raw) => {
      raw.flows.choice_sure = { next_state: 'done', end_reason: 'x', message: ['Sure?'] };
    }, [
      'flows.choice_sure.next_state: a choice state has no next_state (its options say where each answer leads)',
      'flows.choice_sure.end_reason: a choice state has no end_reason (its options say where each answer leads)',
      'flows.choice_sure: a choice state needs at least one option',
      'flows.choice_sure: a choice state needs a fallback_message',
      'flows.done: unreachable (no intent, option or next_state leads here)',
    ]],
    ['choice options naming unknown states, end, or no string', (raw) => {
      Object.assign(raw.flows.choice_sure, { maybe: 'choice_maybe', later: 'end', '3': 3, '?!': 'done' });
    }, [
      'flows.choice_sure.3: must be a string (quote it)',
      'flows.choice_sure.maybe: unknown state "choice_maybe"',
      'flows.choice_sure.later: an option leads to a state, not to end (add a state with next_state: end)',
      'flows.choice_sure.?!: an option must contain more than spaces and punctuation',
    ]],
    ['options that differ only by case or trailing punctuation', (raw) => {
      Object.assign(raw.flows.choice_sure, { Yes: 'done', 'no!': 'cancel' });
    }, [
      'flows.choice_sure.Yes: same option as "yes" (answers ignore case and trailing punctuation)',
      'flows.choice_sure.no!: same option as "no" (answers ignore case and trailing punctuation)',
    ]],
    ['unreachable states: the head of each lost chain, and one state of a lost cycle', (raw) => {
      raw.flows.orphan_two = { message: ['Lost too'], next_state: 'end' };
      raw.flows.orphan = { message: ['Lost'], next_state: 'orphan_two' };
      raw.flows.loop_a = { message: ['A'], next_state: 'choice_loop' };
      raw.flows.choice_loop = { again: 'loop_a', done: 'done', fallback_message: ['again?'] };
    }, ['flows.orphan: unreachable (no intent, option or next_state leads here)', 'flows.loop_a: unreachable (no intent, option or next_state leads here)']],
    ['a choice state an option leads to straight away, without a message', (raw) => {
      raw.flows.choice_sure.later = 'choice_when';
      raw.flows.choice_when = { today: 'done', fallback_message: ['Today?'] };
    }, ['flows.choice_when: needs a message: an intent or a choice option leads here directly, so no state asks its question']],
    ['messages that are neither a string nor {text, …}', (raw) => {
      raw.flows.order.message = [3, null, ['x'], { quick_replies: ['a'] }, { text: 'x', quick_replies: ['a'], buttons: [] }, { text: 'x', quick_replies: 'a' }];
    }, [
      'flows.order.message[0]: a message is a string or {text, quick_replies | buttons}',
      'flows.order.message[1]: a message is a string or {text, quick_replies | buttons}',
      'flows.order.message[2]: a message is a string or {text, quick_replies | buttons}',
      'flows.order.message[3].text: required',
      'flows.order.message[4]: use quick_replies or buttons, not both',
      'flows.order.message[4].buttons: must not be empty',
      'flows.order.message[5].quick_replies: must be a list',
    ]],
    ['buttons without title, with neither or both payload and url, or a bad url', (raw) => {
      raw.flows.order.message = [{
        text: 'Pick',
        buttons: [{ payload: 'a' }, { title: 'B' }, { title: 'C', payload: 'c', url: 'https://x.test' }, { title: 'D', url: 'javascript:alert(1)' }, 'E', { title: 'F', payload: '' }],
      }];
    }, [
      'flows.order.message[0].buttons[0].title: required',
      'flows.order.message[0].buttons[1]: a button needs a payload (sent back as the answer) or a url',
      'flows.order.message[0].buttons[2]: a button has a payload or a url, not both',
      'flows.order.message[0].buttons[3].url: must be an http(s) URL',
      'flows.order.message[0].buttons[4]: a button is {title, payload} or {title, url}',
      'flows.order.message[0].buttons[5].payload: must not be empty',
    ]],
    ['templates naming values that do not exist', (raw) => {
      raw.flows.done.message = [
        '{{memory.itm}} {{user.name}} {{group.title}} {{customData}} {{foo.bar}} {{memory.item.x}}',
        { text: 'ok {{customData.a.b}} {{group.id}} {{user.email|-}}', quick_replies: ['{{memory.nope}}'], buttons: undefined },
      ];
    }, [
      'flows.done.message[0]: unknown template value {{memory.itm}} (no state "itm")',
      'flows.done.message[0]: unknown template value {{user.name}}',
      'flows.done.message[0]: unknown template value {{group.title}}',
      'flows.done.message[0]: unknown template value {{customData}}',
      'flows.done.message[0]: unknown template value {{foo.bar}}',
      'flows.done.message[0]: unknown template value {{memory.item.x}}',
      'flows.done.message[1].quick_replies[0]: unknown template value {{memory.nope}} (no state "nope")',
    ]],
    ['webhooks naming unknown or choice states and intents, or nothing', (raw) => {
      raw.webhooks = [
        { event: 'a', states: ['x', 'choice_sure'], intents: ['nope'], endpoint: 'e' },
        { event: 'bad event!', endpoint: 'e' },
        'hook',
        // Types botgate publishes itself: receivers would take the bot's for the engine's own.
        { event: 'endpoint.disabled', states: ['done'], endpoint: 'e' },
        { event: 'handoff.requested', states: ['done'], endpoint: 'e' },
      ];
    }, [
      'webhooks[0].states[0]: unknown state "x"',
      'webhooks[0].states[1]: "choice_sure" is a choice state, which is never entered (list the states its options lead to)',
      'webhooks[0].intents[0]: "nope" is not an intent',
      'webhooks[1].event: use 1–200 ASCII letters, digits, _, ., : and -',
      'webhooks[1]: fires on nothing: list states and/or intents',
      'webhooks[2]: must be a mapping',
      'webhooks[3].event: "endpoint.disabled" is published by botgate itself (docs/delivery.md, "Event types"); choose another type',
      'webhooks[4].event: "handoff.requested" is published by botgate itself (docs/delivery.md, "Event types"); choose another type',
    ]],
    ['knowledge patterns that are not relative', (raw) => {
      raw.knowledge = ['faq/*.md', '/etc/*', ''];
    }, ['knowledge[2]: must not be empty']],
  ];
  for (const [name, change, expected] of cases) {
    it(name, () => assert.deepEqual(problemsOf(change), expected));
  }

  it('flags absolute knowledge patterns', () => {
    assert.deepEqual(problemsOf((raw) => { raw.knowledge = ['faq/*.md', '/etc/*']; }), ['knowledge[1]: must be relative to the bot file']);
  });

  it('flags knowledge patterns that climb out of the bot file\'s folder', () => {
    assert.deepEqual(problemsOf((raw) => { raw.knowledge = ['faq/*.md', '../data/*', 'faq/../../x.md', '..\\x.md', 'faq/..x.md']; }), [
      'knowledge[1]: must stay inside the bot file\'s folder (no .. segment)',
      'knowledge[2]: must stay inside the bot file\'s folder (no .. segment)',
      'knowledge[3]: must stay inside the bot file\'s folder (no .. segment)',
    ]);
  });

  it('reports a YAML syntax error with its line', () => {
    assert.deepEqual(problemsIn('id: shop\nname: Shop\nintents:\n  order: [order something\nflows: {}\n'), [
      ': YAML syntax error at line 5, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
    assert.deepEqual(problemsIn('id: shop\nid: other\n'), [': YAML syntax error at line 2, column 1: Map keys must be unique']);
  });

  it('refuses keys that become the same text (1 and "1"), which kept only the later one: an option or a state was lost', () => {
    const menu = (options: string) => demoText.replace(/ {2}choice_confirmation:\n {4}"1": order_confirmed\n/, `  choice_confirmation:\n    "1": order_confirmed\n${options}`);
    const line = demoText.split('\n').findIndex((text) => text === '  choice_confirmation:') + 3;
    assert.deepEqual(problemsIn(menu('    1: order_cancelled\n')), [`: YAML syntax error at line ${line}, column 5: Map keys must be unique`]);
    assert.deepEqual(problemsIn(menu('    0x1: order_cancelled\n')), [`: YAML syntax error at line ${line}, column 5: Map keys must be unique`]);
    assert.deepEqual(problemsIn('id: shop\nname: x\nintents: {"true": [a], true: [b]}\n'), [': YAML syntax error at line 3, column 24: Map keys must be unique']);
    assert.deepEqual(problemsIn('id: shop\nname: x\nintents: {"": [a], ~: [b]}\n'), [': YAML syntax error at line 3, column 20: Map keys must be unique']);
  });

  it('reports an empty file and a top level that is not a mapping', () => {
    assert.deepEqual(problemsIn(''), [': the file is empty']);
    assert.deepEqual(problemsIn('- a\n- b\n'), [': the top level must be a mapping (id, name, intents, flows, …)']);
  });

  it('refuses NUL and unpaired surrogates in keys and strings, named by path (PostgreSQL cannot store NUL)', () => {
    assert.deepEqual(problemsIn(demoText.replace('name: botgate demo bot', 'name: "a\\0b"')), ['name: may not contain the NUL character (U+0000)']);
    assert.deepEqual(problemsOf((raw) => { raw.flows.order.message[0] = 'x\u0000'; raw.intents['or\u0000der'] = ['y']; }), [
      'intents.or\u0000der: may not contain the NUL character (U+0000)',
      'flows.order.message[0]: may not contain the NUL character (U+0000)',
    ]);
    assert.deepEqual(problemsIn('id: shop\nname: "Sh\\ud800op"\n'), ['name: may not contain an unpaired UTF-16 surrogate (\\uD800–\\uDFFF)']);
  });

  it('refuses an alias bomb', () => {
    const bomb = 'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n';
    const [problem] = problemsIn(bomb);
    assert.match(problem, /^: cannot read bot.yaml as YAML: /);
  });

  it('refuses an alias inside the node it names (a cycle), as a problem, not a stack overflow (POST /api/bots answered 500)', () => {
    assert.deepEqual(problemsIn('id: shop\nname: x\nintents: &i {order: [hi], again: *i}\n'), ['intents.again: an alias refers to a node that contains it (a cycle)']);
    assert.deepEqual(problemsIn('a: &x [*x]\n'), ['a[0]: an alias refers to a node that contains it (a cycle)']);
    // The same anchor used twice side by side is no cycle.
    assert.deepEqual(problemsIn(demoText.replace('global_intents: [cancel, help]', 'global_intents: &g [cancel, help]\nhandoff_intents_copy: *g')), ['handoff_intents_copy: unknown key']);
  });
});
