// The settings of an event type come in layers: built-in entry, config, admin overrides. A configured type changes
// only the keys it names (its text, say) and keeps the rest of the built-in type, critical included.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { settingsFromConfig } from '../../src/notify/service.ts';
import { typeSettings } from '../../src/notify/settings.ts';

const configured = (yaml: string) => {
  const file = join(mkdtempSync(join(tmpdir(), 'bg-notify-settings-')), 'botgate.yaml');
  writeFileSync(file, yaml);
  return settingsFromConfig(loadConfig({ env: {}, file }).notify);
};

describe('event type settings', () => {
  it('keeps the built-in type under a configured one that changes only its text', () => {
    const settings = configured(`notify:\n  types:\n    payment_failed:\n      templates: [{ id: b, text: 'Your card was declined' }]\n    low_balance:\n      cooldown_hours: 6\n`);
    const payment = typeSettings(settings, 'payment_failed');
    assert.deepEqual([payment.critical, payment.value, payment.priorMean], [true, 1, 0.5]);
    assert.deepEqual(payment.templates, [{ id: 'b', text: 'Your card was declined' }]);
    const low = typeSettings(settings, 'low_balance');
    assert.deepEqual([low.cooldownHours, low.value, low.priorMean, low.templates[0].id], [6, 0.8, 0.25, 'a']);
  });

  it('knows only configured names: Object.prototype\'s (constructor, __proto__, toString) are unknown types', () => {
    const settings = configured('');
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) assert.equal(typeSettings(settings, name).known, false, name);
    assert.equal(typeSettings(settings, 'payment_failed').known, true);
  });

  it('layers a type of its own over the pattern it matches, and the admin overrides over both', () => {
    const settings = configured(`notify:\n  types:\n    security_login:\n      templates: [{ id: a, text: 'New sign-in' }]\n`);
    const login = typeSettings(settings, 'security_login');
    assert.deepEqual([login.critical, login.known, login.templates[0].text], [true, true, 'New sign-in']);
    assert.equal(typeSettings(settings, 'security_reset').templates[0].text, 'A security event needs your attention.');
    const overridden = typeSettings(settings, 'security_login', new Map([['security_*', { value: 0.9 }], ['security_login', { ttlHours: 2 }]]));
    assert.deepEqual([overridden.critical, overridden.value, overridden.ttlHours, overridden.templates[0].text], [true, 0.9, 2, 'New sign-in']);
    assert.equal(typeSettings(settings, 'unheard_of').known, false);
  });

  it('takes an override of default as the default layer: unknown types get all of it, configured ones what they leave unset', () => {
    const settings = configured('');
    const overrides = new Map([['default', { value: 100, priorMean: 0.5, endpointId: 'ep_x' }]]);
    const unknown = typeSettings(settings, 'brand_new_type', overrides);
    assert.deepEqual([unknown.value, unknown.priorMean, unknown.endpointId, unknown.known], [100, 0.5, 'ep_x', false]);
    const low = typeSettings(settings, 'low_balance', overrides);
    assert.deepEqual([low.value, low.priorMean, low.endpointId], [0.8, 0.25, 'ep_x']);
    // A variant frozen on default is one of default's templates: types with templates of their own keep testing theirs.
    const frozen = new Map([['default', { templates: [{ id: 'a', text: 'A' }, { id: 'b', text: 'B' }], frozenVariant: 'a' }]]);
    assert.equal(typeSettings(settings, 'low_balance', frozen).frozenVariant, null);
    assert.equal(typeSettings(settings, 'brand_new_type', frozen).frozenVariant, 'a');
    assert.equal(typeSettings(settings, 'default', frozen).frozenVariant, 'a');
  });
});
