// The knowledge base: pages split at headings, questions answered from the right passage, unrelated ones not.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKnowledgeBase, loadKnowledge, splitPassages } from '../../src/conversation/knowledge.ts';

const THRESHOLD = 0.35;
const botFile = fileURLToPath(new URL('../../bots/demo/bot.yaml', import.meta.url));

describe('knowledge pages', () => {
  it('split into passages at headings, each with its heading path', () => {
    const markdown = [
      'Intro before any heading.',
      '# Delivery',
      '## Areas ##',
      'Within 10 km.',
      '',
      '### Far away',
      'Ask us.',
      '## Time',
      'Thirty minutes.',
      '```',
      '# not a heading (code)',
      '```',
      '# Payments',
      'Cards and cash.',
    ].join('\n');
    const passages = splitPassages({ source: 'faq.md', markdown });
    assert.deepEqual(
      passages.map((p) => [p.heading, p.text]),
      [
        ['', 'Intro before any heading.'],
        ['Delivery > Areas', 'Within 10 km.'],
        ['Delivery > Areas > Far away', 'Ask us.'],
        ['Delivery > Time', 'Thirty minutes.\n```\n# not a heading (code)\n```'],
        ['Payments', 'Cards and cash.'],
      ],
    );
    assert.ok(passages.every((p) => p.source === 'faq.md'));
  });

  it('load from globs relative to the bot file, sorted, each once', async () => {
    const pages = await loadKnowledge(botFile, ['knowledge/*.md', 'knowledge/hours.md', 'knowledge/none-*.md']);
    assert.deepEqual(
      pages.map((p) => p.source),
      ['knowledge/delivery.md', 'knowledge/hours.md', 'knowledge/payments.md'],
    );
    assert.match(pages[1].markdown, /^# Opening hours/);
  });

  it('reads no page outside the bot file\'s folder: .., a brace reaching up, or a symbolic link leading out', async (t) => {
    // The pages are answered to anyone who chats with the bot: a pattern must not reach the gateway's data (master.key, the database).
    const root = await mkdtemp(join(tmpdir(), 'botgate-knowledge-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    await mkdir(join(root, 'bot', 'faq'), { recursive: true });
    await writeFile(join(root, 'secret.md'), '# Secret\nthe master key\n');
    await writeFile(join(root, 'bot', 'faq', 'hours.md'), '# Hours\nnine to five\n');
    await symlink(join(root, 'secret.md'), join(root, 'bot', 'faq', 'linked.md'));
    const file = join(root, 'bot', 'bot.yaml');
    for (const pattern of ['../secret.md', '../*.md', '{..,faq}/secret.md', 'faq/linked.md', 'faq/*.md']) {
      await assert.rejects(loadKnowledge(file, [pattern]), (error: Error & { code?: string }) => error.code === 'BG_ERR_BOT_INVALID' && /outside the bot file's folder/.test(error.message), pattern);
    }
    assert.deepEqual((await loadKnowledge(file, ['faq/hours.md'])).map((p) => p.source), ['faq/hours.md']);
  });

  it('refuses a page it cannot read (a dangling or looping symbolic link) as a problem naming it, not an internal error', async (t) => {
    // POST /api/bots answered 500 and `bots load` exited 1 with the bare ENOENT of realpath.
    const root = await mkdtemp(join(tmpdir(), 'botgate-knowledge-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    await mkdir(join(root, 'faq'), { recursive: true });
    await writeFile(join(root, 'faq', 'hours.md'), '# Hours\nnine to five\n');
    await symlink(join(root, 'faq', 'gone.md'), join(root, 'faq', 'dangling.md'));
    await symlink(join(root, 'faq', 'loop.md'), join(root, 'faq', 'loop.md'));
    const file = join(root, 'bot.yaml');
    for (const [pattern, page, reason] of [['faq/*.md', 'faq/dangling.md', 'no such file'], ['faq/loop.md', 'faq/loop.md', 'a loop of symbolic links']]) {
      await assert.rejects(loadKnowledge(file, [pattern]), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'BG_ERR_BOT_INVALID');
        assert.equal(error.message, `${file}: knowledge: ${page}: cannot read the page: ${reason}`);
        return true;
      }, pattern);
    }
  });
});

describe('knowledge search on the demo bot', async () => {
  const kb = createKnowledgeBase(await loadKnowledge(botFile, ['knowledge/*.md']));

  for (const [question, source, heading] of [
    ['do you deliver on weekends', 'knowledge/delivery.md', null],
    ['how long does delivery take', 'knowledge/delivery.md', 'Delivery > Delivery time'],
    ['When are you open?', 'knowledge/hours.md', 'Opening hours > Opening times'],
    ['what time do you close', 'knowledge/hours.md', 'Opening hours > Opening times'],
    ['can I pay with cash', 'knowledge/payments.md', 'Payments > Payment methods'],
    ['when will I get my money back', 'knowledge/payments.md', 'Payments > Refunds'],
    ['can I get a refund', 'knowledge/payments.md', 'Payments > Refunds'],
    ['how much is delivery', 'knowledge/delivery.md', 'Delivery > Delivery fee'],
    ['can I call support', 'knowledge/hours.md', 'Opening hours > Phone support'],
    ['do you store my card number', 'knowledge/payments.md', 'Payments > Card security'],
  ] as const) {
    it(`answers "${question}"`, () => {
      const got = kb.search(question);
      assert.ok(got !== null, 'an answer');
      assert.ok(got.score >= THRESHOLD && got.score <= 1, `score ${got.score}`);
      assert.equal(got.source, source);
      if (heading !== null) assert.equal(got.heading, heading);
      assert.ok(!got.answer.includes('#') && got.answer === got.answer.trim());
    });
  }

  it('reads the first 64 words of a question only', () => {
    const filler = Array.from({ length: 64 }, (_, i) => `blorp${i}`).join(' ');
    assert.equal(kb.search(`${filler} refunds`), null);
    assert.deepEqual(kb.search(`refunds ${filler} ${filler}`), kb.search(`refunds ${filler.split(' ').slice(0, 63).join(' ')}`));
  });

  it('reads numbers as part of a question with words', () => {
    assert.equal(kb.search('is delivery free for 2 pizzas')?.heading, 'Delivery > Delivery fee');
  });

  it('answers with the passage text under the heading', () => {
    assert.equal(kb.search('refunds')?.answer, 'Refunds go back to the card or wallet you paid with: you get your money back within 5 working days. Cash payments are refunded as account credit.');
  });

  it('scores unrelated questions below the threshold', () => {
    for (const question of [
      'who won the football match',
      'what is the capital of france',
      'tell me a joke about cats',
      'how do I reset my password',
      'the weather is nice today',
      'what is the best time to visit paris',
      'hello',
      // Numbers alone (a menu option sent after the menu was gone): the delivery page's "2.50" answered "2".
      '2',
      '2.50',
      '11 23',
    ]) {
      const got = kb.search(question);
      assert.ok(got === null || got.score < THRESHOLD, `"${question}" → ${JSON.stringify(got)}`);
    }
  });

  it('finds nothing in an empty knowledge base', () => {
    assert.equal(createKnowledgeBase([]).search('refund'), null);
  });
});

describe('knowledge ranking', () => {
  const kb = createKnowledgeBase([
    {
      source: 'shop.md',
      markdown: [
        '# Payments',
        '## Ways to pay',
        'We take cards and cash.',
        '## Refunds',
        'Refunds of cash payments are paid out as credit; card payments are paid back to the card.',
        '# Shop',
        '## Screens',
        'Screens: small screens, large screens, wide screens.',
        '## Devices',
        'Every device we sell, from phones to laptops and tablets, comes with a warranty of two years from the day it is delivered to you; a broken screen is covered too, as long as it was not dropped or left in water, and we send a courier to collect it.',
      ].join('\n'),
    },
  ]);

  it("prefers the passage whose own heading names the question's words over one that repeats them in its text", () => {
    assert.equal(kb.search('can I pay with cash')?.heading, 'Payments > Ways to pay');
  });

  it('answers with the candidate that covers more of the question, not the one that says one word most', () => {
    const got = kb.search('warranty on screens');
    assert.equal(got?.heading, 'Shop > Devices');
    assert.equal(got?.score, 1);
  });
});

