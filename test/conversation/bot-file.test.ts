// Bot files: the demo bot loads clean, defaults apply, and loadBotFile refuses what is no bot file; every problem
// of a broken file, named by its path, is in bot-problems.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SETTINGS } from '../../src/conversation/bot-validate.ts';
import { formatProblems, loadBotFile, MAX_BOT_FILE_BYTES, parseBot } from '../../src/conversation/bot-file.ts';
import { DEMO, demoText, base, parsed, problemsIn } from './bot-file-helpers.ts';

describe('the demo bot', () => {
  it('loads with no problems', async () => {
    const loaded = await loadBotFile(DEMO);
    if ('problems' in loaded) assert.fail(formatProblems(loaded.problems, loaded.path));
    const bot = loaded.bot;
    assert.equal(loaded.path, DEMO);
    assert.equal(bot.id, 'demo');
    assert.deepEqual(bot.globalIntents, ['cancel', 'help']);
    assert.deepEqual(bot.knowledge, ['knowledge/*.md']);
    assert.equal(bot.settings.intentThreshold, 0.55);
    assert.equal(bot.settings.knowledgeThreshold, 0.35); // not in the file: the default
    assert.deepEqual(bot.settings.restartNotice, [{ text: "That conversation changed while you were away, so let's start again." }]);
    assert.deepEqual(bot.flows.choice_confirmation, {
      kind: 'choice', name: 'choice_confirmation',
      options: { 1: 'order_confirmed', 2: 'order_cancelled', confirm: 'order_confirmed', cancel: 'order_cancelled' },
      fallbackMessage: [{ text: 'Please answer 1 to confirm or 2 to cancel.' }],
      message: [],
    });
    assert.deepEqual(bot.flows.number_of_pizzas, {
      kind: 'plain', name: 'number_of_pizzas', nextState: 'pizza_toppings', endReason: 'Fulfilled', handoff: false,
      message: [{ text: 'Which toppings?', quickReplies: ['Cheese', 'Pepperoni', 'Veggie'] }],
    });
    assert.equal(bot.flows.cancel.kind === 'plain' && bot.flows.cancel.endReason, 'Cancelled');
    assert.deepEqual(bot.flows.help.kind === 'plain' && bot.flows.help.message[0].buttons, [
      { title: 'Order a pizza', payload: 'order a pizza' },
      { title: 'Check balance', payload: 'what is my balance' },
      { title: 'Opening hours', url: 'https://example.com/hours' },
    ]);
    assert.deepEqual(bot.webhooks, [{ event: 'order.confirmed', states: ['order_confirmed'], intents: [], endpoint: 'orders' }]);
    // Handing over: an intent with no flow, a handoff state, the default phrases and messages.
    assert.deepEqual(bot.handoffIntents, ['talk_to_agent']);
    assert.equal(Object.hasOwn(bot.flows, 'talk_to_agent'), false);
    assert.equal(bot.flows.payment_person.kind === 'plain' && bot.flows.payment_person.handoff, true);
    assert.equal(bot.flows.feedback.kind === 'plain' && bot.flows.feedback.nextState, 'choice_feedback');
    assert.deepEqual(bot.settings.handoffPhrases, DEFAULT_SETTINGS.handoffPhrases);
    assert.deepEqual(bot.settings.agentClosed, DEFAULT_SETTINGS.agentClosed);
  });

  it('reports each problem of a broken copy with its path', () => {
    const broken = demoText
      .replace('next_state: choice_confirmation', 'next_state: choice_confirm')
      .replace('    fallback_message:\n      - Please answer 1 to confirm or 2 to cancel.\n', '')
      .replace('global_intents: [cancel, help]', 'global_intents: [cancel, halp]')
      .replace('  intent_threshold: 0.55', '  intent_threshold: 60')
      .replace('    states: [order_confirmed]', '    states: [x]')
      .replace('  order_cancelled:\n    message:\n      - No problem, the order is cancelled.\n    next_state: end',
        '  order_cancelled:\n    message:\n      - No problem, the order is cancelled.\n    nxt_state: end')
      .replace('  # --- banking assistant ---', '  orphan:\n    message: [Nobody comes here]\n    next_state: end\n  # --- banking assistant ---')
      .replace('  check_balance:\n    message:', '  check_balances:\n    message:');
    assert.deepEqual(problemsIn(broken), [
      'flows.phone_number.next_state: unknown state "choice_confirm"',
      'flows.choice_confirmation: a choice state needs a fallback_message',
      'flows.order_cancelled.nxt_state: unknown key',
      'flows.order_cancelled: a plain state needs a next_state (a state, or end)',
      'flows.choice_confirmation: unreachable (no intent, option or next_state leads here)', // the typo's target
      'flows.orphan: unreachable (no intent, option or next_state leads here)',
      'flows.check_balances: unreachable (no intent, option or next_state leads here)',
      'intents.check_balance: no flow starts here (add flows.check_balance)',
      'settings.intent_threshold: must be a number between 0 and 1',
      'global_intents[1]: "halp" is not an intent',
      'webhooks[0].states[0]: unknown state "x"',
    ]);
  });
});

describe('defaults', () => {
  it('fills settings, end reasons, description, knowledge and webhook lists', () => {
    const raw = base();
    delete raw.webhooks;
    delete raw.global_intents;
    const bot = parsed(raw);
    assert.equal(bot.settings.intentThreshold, 0.6);
    assert.equal(bot.settings.knowledgeThreshold, 0.35);
    assert.equal(bot.settings.dontKnow.length, 1);
    assert.match(bot.settings.dontKnow[0].text, /\w/);
    assert.match(bot.settings.restartNotice[0].text, /start again/);
    assert.equal(bot.flows.done.kind === 'plain' && bot.flows.done.endReason, 'Fulfilled');
    assert.equal(bot.description, null);
    assert.deepEqual([bot.knowledge, bot.globalIntents, bot.handoffIntents, bot.webhooks], [[], [], [], []]);
    assert.equal(bot.flows.done.kind === 'plain' && bot.flows.done.handoff, false);
    assert.deepEqual(bot.settings.handoffPhrases.slice(0, 3), ['talk to agent', 'talk to an agent', 'talk to a human']);
    assert.ok(bot.settings.handoffPhrases.includes('human'));
    assert.deepEqual(bot.settings.closePhrases, ['end chat', 'close chat', 'back to bot', 'bye agent']);
    for (const key of ['handoffMessage', 'handoffUnavailable', 'agentTimeout', 'agentClosed'] as const) {
      assert.equal(bot.settings[key].length, 1, key);
      assert.match(bot.settings[key][0].text, /\w/, key);
    }
  });

  it('keeps the handoff settings the file gives, handoff intents without a flow, and handoff states', () => {
    const raw = base();
    raw.intents.agent = ['talk to someone'];
    raw.handoff_intents = ['agent', 'cancel'];
    raw.flows.done.handoff = true;
    raw.flows.cancel.handoff = false;
    raw.settings = {
      handoff_phrases: ['operator'], close_phrases: [], handoff_message: ['Wait, {{user.firstName|please}}.'],
      handoff_unavailable: ['No one here.'], agent_timeout_message: [{ text: 'Nobody came.' }], agent_closed_message: ['Bye from us.'],
    };
    const bot = parsed(raw);
    assert.deepEqual(bot.handoffIntents, ['agent', 'cancel']);
    assert.equal(bot.flows.done.kind === 'plain' && bot.flows.done.handoff, true);
    assert.equal(bot.flows.cancel.kind === 'plain' && bot.flows.cancel.handoff, false);
    assert.deepEqual(bot.settings, {
      ...DEFAULT_SETTINGS,
      handoffPhrases: ['operator'], closePhrases: [], handoffMessage: [{ text: 'Wait, {{user.firstName|please}}.' }],
      handoffUnavailable: [{ text: 'No one here.' }], agentTimeout: [{ text: 'Nobody came.' }], agentClosed: [{ text: 'Bye from us.' }],
    });
  });

  it('keeps settings the file gives, and webhook intents', () => {
    const raw = base();
    raw.description = 'A shop';
    raw.settings = { intent_threshold: 0, knowledge_threshold: 1, dont_know: ['Eh?'], restart_notice: [{ text: 'Again, {{user.firstName|friend}}' }] };
    raw.webhooks.push({ event: 'order.cancelled', intents: ['cancel'], endpoint: 'ep_123' });
    const bot = parsed(raw);
    assert.deepEqual(bot.settings, {
      ...DEFAULT_SETTINGS,
      intentThreshold: 0, knowledgeThreshold: 1, dontKnow: [{ text: 'Eh?' }], restartNotice: [{ text: 'Again, {{user.firstName|friend}}' }],
    });
    assert.equal(bot.description, 'A shop');
    assert.deepEqual(bot.webhooks[1], { event: 'order.cancelled', states: [], intents: ['cancel'], endpoint: 'ep_123' });
  });

  it('reads JSON as well as YAML', () => {
    assert.equal(parsed(base()).flows.choice_sure.kind, 'choice');
  });
});

describe('loadBotFile and formatProblems', () => {
  it('refuses a file of several YAML documents in its own words, not the parser library\'s', () => {
    // It said "Source contains multiple documents; please use YAML.parseAllDocuments()", advice for a programmer.
    const result = parseBot('id: a\nname: A\n---\nid: b\n', 'bot.yaml');
    assert.deepEqual(result, { problems: [{ path: '', message: 'YAML syntax error at line 3, column 1: the file holds several YAML documents (a line "---" starts another); a bot file is one' }] });
  });

  it('names a .json file\'s syntax error a JSON one (it is read as YAML, which includes JSON)', () => {
    const result = parseBot('{"id": "a", "name": "A", "id": "b"}', 'shop.json');
    assert.deepEqual(result, { problems: [{ path: '', message: 'JSON syntax error at line 1, column 26: Map keys must be unique' }] });
  });

  it('reports a missing file as a problem with an empty path', async () => {
    const result = await loadBotFile('/nonexistent/bot.yaml');
    assert.deepEqual(result, { problems: [{ path: '', message: 'cannot read the bot file: no such file' }], path: '/nonexistent/bot.yaml' });
  });

  it('refuses, before reading, what is no bot file: another kind of file, a device, one over the size limit', async () => {
    for (const path of ['/etc/passwd', '/dev/zero']) {
      const result = await loadBotFile(path);
      assert.ok('problems' in result && result.problems.length === 1, path);
      assert.match(result.problems[0].message, /a bot file is YAML or JSON/);
      assert.doesNotMatch(JSON.stringify(result), /root/, 'nothing of the file is echoed');
    }
    const big = join(mkdtempSync(join(tmpdir(), 'botgate-bot-')), 'big.yaml');
    writeFileSync(big, '# ' + 'x'.repeat(MAX_BOT_FILE_BYTES) + '\n');
    const result = await loadBotFile(big);
    assert.ok('problems' in result);
    assert.match(result.problems[0].message, /at most 2097152 are read/);
  });

  it('reads a JSON file and prints one line per problem', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'botgate-bot-'));
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify(base()));
    assert.ok('bot' in (await loadBotFile(good)));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...base(), global_intents: ['halp'] }));
    const result = await loadBotFile(bad);
    assert.ok('problems' in result);
    assert.equal(formatProblems([...result.problems, { path: '', message: 'the file is empty' }], bad),
      `${bad}: global_intents[0]: "halp" is not an intent\n${bad}: the file is empty`);
  });
});
