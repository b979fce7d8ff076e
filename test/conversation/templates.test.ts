// Templates in bot messages: lookups, fallbacks, missing values, and nothing ever evaluated or thrown.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderMessage, renderText, templateUses, type TemplateValues } from '../../src/conversation/templates.ts';

const values: TemplateValues = {
  memory: { number_of_pizzas: '2', address: '12 Main St', sneaky: '{{customData.secret}}' },
  user: { id: 'u-1', firstName: 'Ada', email: '' },
  customData: { balance: 120.5, secret: 's3cret', account: { tier: 'gold', flags: ['a', 'b'] }, vip: false, nothing: null },
  group: { id: 'g-1', name: 'Pizza lovers' },
};

describe('renderText', () => {
  it('fills memory, user, customData (nested) and group values', () => {
    const result = renderText('{{memory.number_of_pizzas}} to {{memory.address}} for {{user.firstName}} ({{user.id}}), '
      + '{{customData.account.tier}} in {{group.name}} / {{group.id}}', values);
    assert.equal(result.text, '2 to 12 Main St for Ada (u-1), gold in Pizza lovers / g-1');
    assert.deepEqual(result.missing, []);
  });

  it('allows whitespace inside the braces', () => {
    assert.equal(renderText('Hi {{ user.firstName }}, {{  customData . account . tier | none }}!', values).text, 'Hi Ada, gold!');
  });

  it('uses the fallback for a missing or empty value, and lists the path as missing', () => {
    const noName: TemplateValues = { ...values, user: { id: 'u-2' } };
    const result = renderText('Hi {{user.firstName|there}}, mail {{user.email|unknown}}, {{memory.phone_number | no phone }}', noName);
    assert.equal(result.text, 'Hi there, mail unknown, no phone');
    assert.deepEqual(result.missing, ['user.firstName', 'user.email', 'memory.phone_number']);
  });

  it('renders a missing value without a fallback as empty, never as the raw template', () => {
    const result = renderText('[{{memory.nope}}] [{{customData.nothing}}] [{{group.name}}] [{{customData.account.tier.x}}]', {
      ...values, group: null,
    });
    assert.equal(result.text, '[] [] [] []');
    assert.deepEqual(result.missing, ['memory.nope', 'customData.nothing', 'group.name', 'customData.account.tier.x']);
  });

  it('counts an empty list or object as empty: the fallback, or nothing, never [] or {}', () => {
    const empty: TemplateValues = { ...values, customData: { items: [], meta: {}, nested: { list: [] } } };
    const result = renderText('[{{customData.items|none}}] [{{customData.meta}}] [{{customData.nested.list|no items}}]', empty);
    assert.equal(result.text, '[none] [] [no items]');
    assert.deepEqual(result.missing, ['customData.items', 'customData.meta', 'customData.nested.list']);
  });

  it('lists a path once however often it is missing', () => {
    assert.deepEqual(renderText('{{memory.x}} {{memory.x|y}}', values), { text: ' y', missing: ['memory.x'] });
  });

  it('treats unknown roots as missing', () => {
    assert.deepEqual(renderText('{{process.env.HOME|?}}{{settings.x}}', values), { text: '?', missing: ['process.env.HOME', 'settings.x'] });
  });

  it('renders numbers and booleans as text and objects as JSON', () => {
    const result = renderText('{{customData.balance}} {{customData.vip}} {{customData.account}} {{customData.account.flags}}', values);
    assert.equal(result.text, '120.5 false {"tier":"gold","flags":["a","b"]} ["a","b"]');
  });

  it('never reads the prototype and never evaluates code', () => {
    const result = renderText('{{customData.constructor}}{{user.toString}}{{customData.__proto__}}{{ 1 + 1 }}{{memory["x"]}}', values);
    assert.equal(result.text, '');
    assert.equal(result.missing.length, 5);
  });

  it('does not expand a template-like value (a user answer stored in memory)', () => {
    assert.equal(renderText('You said {{memory.sneaky}}', values).text, 'You said {{customData.secret}}');
  });

  it('does not throw on odd values', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const odd: TemplateValues = { ...values, customData: { cyclic, big: 10n, fn: () => 'x' } };
    assert.deepEqual(renderText('{{customData.cyclic}}|{{customData.big}}|{{customData.fn}}|{{}}|{{ {x} }}', odd), {
      text: '|10|||{{ {x} }}', missing: ['customData.cyclic', 'customData.fn', ''],
    });
  });

  it('keeps text without templates as it is', () => {
    assert.deepEqual(renderText('Plain {text} and } {{ alone', values), { text: 'Plain {text} and } {{ alone', missing: [] });
  });
});

describe('renderMessage', () => {
  it('renders text, quick replies, button titles and payloads, and leaves URLs as written', () => {
    const result = renderMessage({
      text: 'Hi {{user.firstName}}',
      quickReplies: ['{{memory.number_of_pizzas}} more', 'No'],
      buttons: [
        { title: 'For {{group.name}}', payload: 'order {{memory.number_of_pizzas}}' },
        { title: 'Open {{memory.missing|it}}', url: 'https://example.com/{{user.id}}' },
      ],
    }, values);
    assert.deepEqual(result.message, {
      text: 'Hi Ada',
      quickReplies: ['2 more', 'No'],
      buttons: [
        { title: 'For Pizza lovers', payload: 'order 2' },
        { title: 'Open it', url: 'https://example.com/{{user.id}}' },
      ],
    });
    assert.deepEqual(result.missing, ['memory.missing']);
  });

  it('adds no keys the message did not have', () => {
    assert.deepEqual(renderMessage({ text: 'x' }, values).message, { text: 'x' });
  });
});

describe('templateUses', () => {
  it('lists each template with its fallback', () => {
    assert.deepEqual(templateUses('{{ memory.a }} {{user.firstName|there}} {{x|}}'), [
      { path: 'memory.a', fallback: null },
      { path: 'user.firstName', fallback: 'there' },
      { path: 'x', fallback: '' },
    ]);
  });
});
