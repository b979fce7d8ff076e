// Config: defaults → file → environment, validated and frozen; bad values name their key.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/load.ts';

const file = (text: string, name = 'botgate.yaml') => {
  const path = join(mkdtempSync(join(tmpdir(), 'botgate-cfg-')), name);
  writeFileSync(path, text);
  return path;
};

describe('config', () => {
  it('has working defaults', () => {
    const config = loadConfig({ env: {} });
    assert.equal(config.port, 3000);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.data_dir, './data');
    assert.equal(config.database_url, undefined);
    assert.deepEqual(config.delivery.retry_schedule_seconds, [0, 5, 300, 1800, 7200, 18000, 36000, 36000]);
    assert.equal(config.delivery.default_timeout_seconds, 15);
    assert.equal(config.retention.days, 30);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.delivery));
  });

  it('layers a file (YAML or JSON) under the environment', () => {
    const yaml = file('port: 4000\nhost: 0.0.0.0\ndelivery:\n  concurrency: 10\n  allow_private: [127.0.0.1]\n');
    const config = loadConfig({ file: yaml, env: { BOTGATE_PORT: '5000', BOTGATE_DELIVERY__JITTER: '0.1' } });
    assert.equal(config.port, 5000, 'environment wins');
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.delivery.concurrency, 10);
    assert.equal(config.delivery.jitter, 0.1);
    assert.deepEqual(config.delivery.allow_private, ['127.0.0.1']);
    const json = file('{"retention": {"days": 7}}', 'botgate.json');
    assert.equal(loadConfig({ env: { BOTGATE_CONFIG: json } }).retention.days, 7);
  });

  it('finds a bot file named in the config file next to it, wherever the gateway runs from', () => {
    const path = file('bots:\n  - file: bots/pizza.yaml\n  - file: /srv/bots/other.yaml\n');
    const config = loadConfig({ file: path, env: {} });
    assert.deepEqual(config.bots.map((b) => b.file), [join(path, '..', 'bots', 'pizza.yaml'), '/srv/bots/other.yaml']);
  });

  it('names the key of a bad CIDR range', () => {
    assert.throws(() => loadConfig({ env: { BOTGATE_DELIVERY__ALLOW_PRIVATE: '10.0.0.0/40' } }), /BOTGATE_DELIVERY__ALLOW_PRIVATE.*not a CIDR range/s);
    assert.deepEqual(loadConfig({ env: { BOTGATE_DELIVERY__ALLOW_PRIVATE: '10.0.0.0/8,127.0.0.1,localhost' } }).delivery.allow_private, ['10.0.0.0/8', '127.0.0.1', 'localhost']);
  });

  it('treats an empty variable as unset', () => {
    assert.equal(loadConfig({ env: { BOTGATE_PORT: '', BOTGATE_ADMIN_TOKEN: '  ' } }).port, 3000);
  });

  it('takes one key of a group on its own, the others keeping their defaults', () => {
    assert.deepEqual(loadConfig({ env: { BOTGATE_NOTIFY__QUIET_HOURS__START: '23:00' } }).notify.quiet_hours, { start: '23:00', end: '08:00' });
    assert.deepEqual(loadConfig({ file: file('notify:\n  quiet_hours:\n    end: "07:00"\n') }).notify.quiet_hours, { start: '22:00', end: '07:00' });
    // A type's templates with one id twice, and a link_url that is no http(s) URL, stop the start (the API refuses them too).
    assert.throws(() => loadConfig({ file: file('notify:\n  types:\n    t:\n      templates: [{id: a, text: x}, {id: a, text: y}]\n'), env: {} }), /notify\.types\.t\.templates.*unique/s);
    for (const link of ['"javascript:alert(1)"', '"/relative"', '"{{params.u}}"', '"ftp://files.example.com/x"']) {
      assert.throws(() => loadConfig({ file: file(`notify:\n  types:\n    t:\n      link_url: ${link}\n`), env: {} }), /notify\.types\.t\.link_url/s, link);
    }
    assert.equal(loadConfig({ file: file('notify:\n  types:\n    t:\n      link_url: "https://app.example.com/top-up?account={{params.account_id}}"\n'), env: {} }).notify.types.t.link_url,
      'https://app.example.com/top-up?account={{params.account_id}}');
  });

  it('blames an item of a list set in the environment on its variable, not on the config file', () => {
    assert.throws(
      () => loadConfig({ file: file('port: 8080\n'), env: { BOTGATE_DELIVERY__RETRY_SCHEDULE_SECONDS: '0,5,abc' } }),
      (e: Error) => e instanceof ConfigError && /BOTGATE_DELIVERY__RETRY_SCHEDULE_SECONDS \(delivery\.retry_schedule_seconds\.2\)/.test(e.message) && !/\.yaml/.test(e.message),
    );
  });

  it('parses lists from commas or JSON', () => {
    assert.deepEqual(loadConfig({ env: { BOTGATE_DELIVERY__ALLOW_PRIVATE: '127.0.0.1, 10.0.0.0/8' } }).delivery.allow_private, ['127.0.0.1', '10.0.0.0/8']);
    assert.deepEqual(loadConfig({ env: { BOTGATE_DELIVERY__RETRY_SCHEDULE_SECONDS: '[0, 1, 2]' } }).delivery.retry_schedule_seconds, [0, 1, 2]);
  });

  it('stops with a message naming the key', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ BOTGATE_PORT: 'abc' }, /BOTGATE_PORT: expected a number/],
      [{ BOTGATE_PORT: '70000' }, /BOTGATE_PORT: .*65535/],
      [{ BOTGATE_DATABASE_URL: 'mysql://x' }, /BOTGATE_DATABASE_URL: must be a postgres/],
      [{ BOTGATE_ADMIN_TOKEN: 'short' }, /BOTGATE_ADMIN_TOKEN: must be at least 16/],
      [{ BOTGATE_UNKNOWN: 'x' }, /BOTGATE_UNKNOWN: not a configuration key/],
      [{ BOTGATE_DELIVERY__CONCURRENCY: '0' }, /BOTGATE_DELIVERY__CONCURRENCY/],
      [{ BOTGATE_LOG_LEVEL: 'loud' }, /BOTGATE_LOG_LEVEL/],
      // 25:99 matched HH:MM and silently became minute 1599: quiet hours from midnight.
      [{ BOTGATE_NOTIFY__QUIET_HOURS__START: '25:99' }, /BOTGATE_NOTIFY__QUIET_HOURS__START: a time of day/],
      // A first delay was ignored: the first attempt is made at publish time.
      [{ BOTGATE_DELIVERY__RETRY_SCHEDULE_SECONDS: '5,300' }, /BOTGATE_DELIVERY__RETRY_SCHEDULE_SECONDS.*must start with 0/],
    ];
    for (const [env, message] of cases) assert.throws(() => loadConfig({ env }), (e: Error) => e instanceof ConfigError && message.test(e.message), JSON.stringify(env));
    const bad = file('delivery:\n  concurency: 3\n');
    assert.throws(() => loadConfig({ file: bad, env: {} }), /concurency/);
    assert.throws(() => loadConfig({ file: '/nonexistent/botgate.yaml', env: {} }), /config file \/nonexistent/);
    // A file YAML cannot read is named with the place, without quoting the line: it may hold a secret.
    for (const text of ['port: 18851\nmaster_key: @SECRET-passphrase-xyz-123456\n', 'admin_token: `SECRET-token-0123456789abcdef\n', 'metrics_token: a: SECRET-metrics-x\n']) {
      assert.throws(() => loadConfig({ file: file(text), env: {} }), (e: Error) => e instanceof ConfigError && /line \d+, column \d+/.test(e.message) && !e.message.includes('SECRET'), text);
    }
  });
});
