// Config: defaults → file → environment, validated and frozen; bad values name their key.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, envName, loadConfig } from '../../src/config/load.ts';
import { configSchema } from '../../src/config/schema.ts';

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

  it('says how to declare a bot file given as a plain path', () => {
    // It said `bots.0: expected object, got "./x.yaml"` and left the user to find that a bot is {file: …}.
    const flow = file('bots: [./x.yaml]\n');
    assert.throws(() => loadConfig({ file: flow, env: {} }), (e: Error) => {
      assert.equal(e.message, `invalid configuration: ${flow}: bots.0: expected object, got "./x.yaml" (a bot is declared by its file: write "- file: ./x.yaml" as an item of bots)`);
      return true;
    });
    const bare = file('bots: ./x.yaml\n');
    assert.throws(() => loadConfig({ file: bare, env: {} }), /bots: expected a list \(\[a, b\]\), got "\.\/x\.yaml" \(a bot is declared by its file: write "- file: \.\/x\.yaml" as an item of bots\)$/);
    // From the environment, in the JSON it takes there.
    assert.throws(() => loadConfig({ env: { BOTGATE_BOTS: './x.yaml' } }), (e: Error) => {
      assert.equal(e.message, 'invalid configuration: BOTGATE_BOTS (bots.0): expected object, got "./x.yaml" (a bot is declared by its file: write [{"file": "./x.yaml"}])');
      return true;
    });
    assert.equal(loadConfig({ env: { BOTGATE_BOTS: '[{"file": "./x.yaml"}]' } }).bots[0].file, './x.yaml', 'as the hint says');
  });

  it('says how to declare an app, an endpoint or a channel given as a plain text', () => {
    // It said `apps.0: expected object, got "kore-prod"` and left the user to find the key the text belongs to.
    const cases: [string, string, string, string][] = [
      ['apps: [kore-prod]', 'apps.0', 'kore-prod', 'an app is declared by its name: write "- name: kore-prod" as an item of apps'],
      ['apps: kore-prod', 'apps', 'kore-prod', 'an app is declared by its name: write "- name: kore-prod" as an item of apps'],
      ['endpoints: [https://x]', 'endpoints.0', 'https://x', 'an endpoint is declared by its name and url: write "- {name: …, url: https://x}" as an item of endpoints'],
      ['endpoints: [orders]', 'endpoints.0', 'orders', 'an endpoint is declared by its name and url: write "- {name: orders, url: https://…}" as an item of endpoints'],
      ['channels: [demo]', 'channels.0', 'demo', 'a channel is declared by its name, bot, app and mode (sync or async): write "- {name: demo, bot: …, app: …, mode: sync}" as an item of channels'],
    ];
    for (const [yaml, key, value, hint] of cases) {
      const path = file(`${yaml}\n`);
      const what = key.includes('.') ? 'expected object' : 'expected a list ([a, b])';
      assert.throws(() => loadConfig({ file: path, env: {} }), (e: Error) => {
        assert.equal(e.message, `invalid configuration: ${path}: ${key}: ${what}, got "${value}" (${hint})`);
        return true;
      });
    }
    // The hints are what they say: written so, each loads (or fails only on the placeholders).
    const config = loadConfig({ file: file('apps:\n  - name: kore-prod\nendpoints:\n  - {name: orders, url: https://x.example}\n'), env: {} });
    assert.deepEqual([config.apps[0].name, config.endpoints[0].url], ['kore-prod', 'https://x.example']);
    // From the environment, in the JSON it takes there.
    const fromEnv: [string, string, string, string][] = [
      ['BOTGATE_APPS', 'kore-prod', 'apps.0', 'an app is declared by its name: write [{"name": "kore-prod"}]'],
      ['BOTGATE_ENDPOINTS', 'https://x', 'endpoints.0', 'an endpoint is declared by its name and url: write [{"name": "…", "url": "https://x"}]'],
      ['BOTGATE_CHANNELS', 'demo', 'channels.0', 'a channel is declared by its name, bot, app and mode (sync or async): write [{"name": "demo", "bot": "…", "app": "…", "mode": "sync"}]'],
    ];
    for (const [name, value, key, hint] of fromEnv) {
      assert.throws(() => loadConfig({ env: { [name]: value } }), (e: Error) => {
        assert.equal(e.message, `invalid configuration: ${name} (${key}): expected object, got "${value}" (${hint})`);
        return true;
      });
    }
    assert.equal(loadConfig({ env: { BOTGATE_APPS: '[{"name": "kore-prod"}]' } }).apps[0].name, 'kore-prod', 'as the hint says');
  });

  it('names the key of a bad CIDR range', () => {
    assert.throws(() => loadConfig({ env: { BOTGATE_DELIVERY__ALLOW_PRIVATE: '10.0.0.0/40' } }), /BOTGATE_DELIVERY__ALLOW_PRIVATE.*not a CIDR range/s);
    assert.deepEqual(loadConfig({ env: { BOTGATE_DELIVERY__ALLOW_PRIVATE: '10.0.0.0/8,127.0.0.1,localhost' } }).delivery.allow_private, ['10.0.0.0/8', '127.0.0.1', 'localhost']);
  });

  it('treats an empty variable as unset', () => {
    assert.equal(loadConfig({ env: { BOTGATE_PORT: '', BOTGATE_ADMIN_TOKEN: '  ' } }).port, 3000);
  });

  it('takes a token without the whitespace around it, which no Authorization header carries (a secret file\'s newline)', () => {
    const config = loadConfig({ env: { BOTGATE_ADMIN_TOKEN: 'admin-token-from-a-file-1\n', BOTGATE_METRICS_TOKEN: ' metrics-1 ', BOTGATE_NOTIFY__PRODUCER_KEY: 'producer-key-from-a-file\r\n' } });
    assert.equal(config.admin_token, 'admin-token-from-a-file-1');
    assert.equal(config.metrics_token, 'metrics-1');
    assert.equal(config.notify.producer_key, 'producer-key-from-a-file');
    assert.equal(loadConfig({ file: file('admin_token: "  admin-token-in-the-file  "\n'), env: {} }).admin_token, 'admin-token-in-the-file');
    // The length is the token's own: 15 characters and a newline are too short.
    assert.throws(() => loadConfig({ env: { BOTGATE_ADMIN_TOKEN: 'fifteen-chars-x\n' } }), /BOTGATE_ADMIN_TOKEN: must be at least 16 characters/);
  });

  it('refuses a token with whitespace or a control character inside, which no Authorization: Bearer header can carry', () => {
    // "correct horse battery staple" started a gateway whose every admin request was 401: the bearer is one run of
    // non-space characters. Refused at start, naming the key and not the value.
    for (const [env, key] of [['BOTGATE_ADMIN_TOKEN', 'BOTGATE_ADMIN_TOKEN'], ['BOTGATE_METRICS_TOKEN', 'BOTGATE_METRICS_TOKEN'], ['BOTGATE_NOTIFY__PRODUCER_KEY', 'BOTGATE_NOTIFY__PRODUCER_KEY']]) {
      for (const token of ['correct horse battery staple', 'SECRET-tab\there-0123456789', 'SECRET-nul-\u0001-0123456789']) {
        assert.throws(() => loadConfig({ env: { [env]: token } }), (error: Error) => error.message.includes(`${key}: must not contain`) && !error.message.includes('SECRET') && !error.message.includes('horse'));
      }
    }
    assert.equal(loadConfig({ env: { BOTGATE_ADMIN_TOKEN: 'a-token_with.all~sorts+of/chars=' } }).admin_token, 'a-token_with.all~sorts+of/chars=');
  });

  it('takes one key of a group on its own, the others keeping their defaults', () => {
    assert.deepEqual(loadConfig({ env: { BOTGATE_NOTIFY__QUIET_HOURS__START: '23:00' } }).notify.quiet_hours, { start: '23:00', end: '08:00' });
    assert.deepEqual(loadConfig({ file: file('notify:\n  quiet_hours:\n    end: "07:00"\n') }).notify.quiet_hours, { start: '22:00', end: '07:00' });
    // A type's templates with one id twice, and a link_url that is no http(s) URL, stop the start (the API refuses them too).
    assert.throws(() => loadConfig({ file: file('notify:\n  types:\n    t:\n      templates: [{id: a, text: x}, {id: a, text: y}]\n'), env: {} }), /notify\.types\.t\.templates.*unique/s);
    assert.throws(() => loadConfig({ file: file('notify:\n  types:\n    t:\n      templates: [{id: a, text: "Hi {{user.name}}"}]\n'), env: {} }), /notify\.types\.t\.templates\.0\.text.*\{\{user\.name\}\} is nothing a notification has/s);
    assert.equal(loadConfig({ file: file('notify:\n  types:\n    t:\n      templates: [{id: a, text: "{{params.a.b|x}} {{ user.id }} {{user.tz}} {{link}}"}]\n'), env: {} }).notify.types.t.templates?.length, 1);
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

  it('takes every boolean key from the environment as 1, 0, true, false, yes, no, on or off', () => {
    // Every key the schema holds a boolean in (plain, or one of a union's options: demo.enabled is auto|true|false).
    const booleans: string[][] = [];
    const walk = (node: z.ZodType, path: string[]): void => {
      let inner: z.ZodType = node;
      while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional || inner instanceof z.ZodPrefault) inner = (inner as unknown as { unwrap(): z.ZodType }).unwrap();
      if (inner instanceof z.ZodObject) for (const [key, child] of Object.entries(inner.shape as Record<string, z.ZodType>)) walk(child, [...path, key]);
      const options = inner instanceof z.ZodUnion ? (inner.options as z.ZodType[]) : [inner];
      if (options.some((o) => o instanceof z.ZodBoolean)) booleans.push(path);
    };
    walk(configSchema, []);
    assert.deepEqual(booleans.map((p) => p.join('.')).sort(), ['demo.enabled', 'notify.fatigue_cost', 'notify.strict']);
    for (const path of booleans) {
      const name = envName(path);
      for (const [text, value] of [['1', true], ['0', false], ['true', true], ['FALSE', false], ['yes', true], ['no', false], ['on', true], ['off', false]] as const) {
        const config = loadConfig({ env: { [name]: text } }) as unknown as Record<string, Record<string, unknown>>;
        assert.equal(config[path[0]][path[1]], value, `${name}=${text}`);
      }
      assert.throws(() => loadConfig({ env: { [name]: 'maybe' } }), (e: Error) => e instanceof ConfigError && e.message.includes(`${name}: expected`) && e.message.includes('"maybe"'), name);
    }
    assert.equal(loadConfig({ env: { BOTGATE_DEMO__ENABLED: 'auto' } }).demo.enabled, 'auto');
  });

  it('takes a word-valued key in any case, as the schema spells it (LOG_LEVEL=INFO, sqlite_synchronous: full)', () => {
    const env = loadConfig({ env: { BOTGATE_LOG_LEVEL: 'INFO', BOTGATE_SQLITE_SYNCHRONOUS: ' full ', BOTGATE_NOTIFY__EXPLORATION: 'Mean' } });
    assert.deepEqual([env.log_level, env.sqlite_synchronous, env.notify.exploration], ['info', 'FULL', 'mean']);
    assert.equal(loadConfig({ file: file('sqlite_synchronous: normal\nlog_level: Warn\n'), env: {} }).sqlite_synchronous, 'NORMAL');
    // Before, both stopped the gateway: expected one of "NORMAL"|"FULL".
    assert.throws(() => loadConfig({ env: { BOTGATE_SQLITE_SYNCHRONOUS: 'off' } }), /BOTGATE_SQLITE_SYNCHRONOUS: .*"NORMAL"\|"FULL"/);
  });

  it('reads numbers as YAML 1.2 writes them, in the file and the environment, and refuses a leading zero (octal or decimal?)', () => {
    assert.equal(loadConfig({ file: file('port: 0x1F\n'), env: {} }).port, 31);
    assert.equal(loadConfig({ file: file('port: 0o17\n'), env: {} }).port, 15);
    assert.equal(loadConfig({ env: { BOTGATE_PORT: '0x1F' } }).port, 31);
    assert.equal(loadConfig({ env: { BOTGATE_PORT: '0o17' } }).port, 15);
    assert.equal(loadConfig({ env: { BOTGATE_DELIVERY__JITTER: '.5' } }).delivery.jitter, 0.5);
    // 017 is 17 in YAML 1.2 and 15 in YAML 1.1 (and to many readers): neither is guessed.
    assert.throws(() => loadConfig({ file: file('port: 017\n'), env: {} }), (e: Error) => e instanceof ConfigError && /: port: 017 has a leading zero.*write 17 \(decimal\) or 0o17 \(octal\)/.test(e.message));
    assert.throws(() => loadConfig({ file: file('delivery:\n  retry_schedule_seconds: [0, 05]\n'), env: {} }), /delivery\.retry_schedule_seconds\.1: 05 has a leading zero/);
    assert.throws(() => loadConfig({ file: file('endpoints:\n  - name: a\n    url: https://a.example\n    timeout_seconds: 010\n'), env: {} }), /endpoints\.0\.timeout_seconds: 010 has a leading zero/);
    assert.equal(loadConfig({ file: file('%YAML 1.1\n---\nport: 010\n'), env: {} }).port, 8, 'a file that asks for YAML 1.1 gets its octal');
    for (const text of ['017', '0b11', '1_000', 'Infinity', '12 s']) {
      assert.throws(() => loadConfig({ env: { BOTGATE_PORT: text } }), (e: Error) => e instanceof ConfigError && e.message.startsWith(`BOTGATE_PORT: expected a number`), text);
    }
    assert.throws(() => loadConfig({ env: { BOTGATE_DELIVERY__RETRY_SCHEDULE_SECONDS: '0, 5s' } }), /BOTGATE_DELIVERY__RETRY_SCHEDULE_SECONDS \(delivery\.retry_schedule_seconds\.1\): expected a number, got "5s"/);
  });

  it('refuses, naming the key and quoting the value, what YAML 1.2 reads otherwise than meant: yes for true, a duration with its unit', () => {
    const refused: [string, RegExp][] = [
      ['notify:\n  strict: yes\n', /: notify\.strict: expected true or false, got "yes" \(YAML 1\.2 reads yes, no, on and off as text/],
      ['demo:\n  enabled: off\n', /: demo\.enabled: expected auto, true or false, got "off"/],
      ['delivery:\n  shutdown_deadline_seconds: 10s\n', /: delivery\.shutdown_deadline_seconds: expected a number, got "10s" \(a number of seconds, without a unit/],
      ['retention:\n  days: "7"\n', /: retention\.days: expected a number, got "7" \(a number of days/],
      ['port: 3000.5\n', /: port: expected a whole number, got 3000\.5/],
      ['host: 8080\n', /: host: expected text, got 8080/],
    ];
    for (const [text, message] of refused) assert.throws(() => loadConfig({ file: file(text), env: {} }), (e: Error) => e instanceof ConfigError && message.test(e.message), text);
    // A time of day needs no quotes in YAML 1.2 (1.1 read 22:00 as the number 1320).
    assert.equal(loadConfig({ file: file('notify:\n  quiet_hours:\n    start: 22:00\n'), env: {} }).notify.quiet_hours.start, '22:00');
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
      // A URL of another scheme (localhost:3000 parses as one) was printed as the gateway's address, or failed at provisioning.
      [{ BOTGATE_PUBLIC_URL: 'localhost:3000' }, /^invalid configuration: BOTGATE_PUBLIC_URL: must be an http:\/\/ or https:\/\/ URL$/],
      [{ BOTGATE_DEMO__ORDERS_URL: 'mailto:orders@example.com' }, /BOTGATE_DEMO__ORDERS_URL: must be an http/],
      [{ BOTGATE_PLATFORM__TWILIO_API_BASE: 'ftp://api.example' }, /BOTGATE_PLATFORM__TWILIO_API_BASE: must be an http/],
      [{ BOTGATE_NOTIFY__TYPES: 'payment_failed' }, /BOTGATE_NOTIFY__TYPES: is a map of names, set in the config file only/],
      // As a URL writes it: the start made the store and the admin token, then failed to listen (exit 1, not 2).
      [{ BOTGATE_HOST: '[::1]' }, /^invalid configuration: BOTGATE_HOST: an IPv6 address is given bare \(::1\), without brackets$/],
    ];
    for (const [env, message] of cases) assert.throws(() => loadConfig({ env }), (e: Error) => e instanceof ConfigError && message.test(e.message), JSON.stringify(env));
    // As printed when start-up stops: with the code docs/errors.md lists, after the line naming the key (or the
    // heading of several problems), so a script can tell a bad setting from another failure to start.
    const printed = (env: Record<string, string>) => {
      try {
        loadConfig({ env });
      } catch (error) {
        return (error as ConfigError).printed;
      }
      throw new Error('loaded');
    };
    assert.equal(printed({ BOTGATE_PUBLIC_URL: 'localhost:3000' }), 'invalid configuration: BOTGATE_PUBLIC_URL: must be an http:// or https:// URL (BG_ERR_CONFIG_INVALID)');
    assert.match(printed({ BOTGATE_PORT: '70000', BOTGATE_LOG_LEVEL: 'loud' }), /^invalid configuration \(BG_ERR_CONFIG_INVALID\):\n {2}BOTGATE_\S+: .*\n {2}BOTGATE_\S+: /);
    const bad = file('delivery:\n  concurency: 3\n');
    assert.throws(() => loadConfig({ file: bad, env: {} }), /concurency/);
    assert.throws(() => loadConfig({ file: '/nonexistent/botgate.yaml', env: {} }), /config file \/nonexistent/);
    // It said "Source contains multiple documents; please use YAML.parseAllDocuments()".
    const twoDocs = file('port: 3000\n---\nport: 4000\n');
    assert.throws(() => loadConfig({ file: twoDocs, env: {} }), (e: Error) => {
      assert.equal(e.message, `config file ${twoDocs}: the file holds several YAML documents (a line "---" starts another); a config file is one at line 2, column 1`);
      return true;
    });
    // A file YAML cannot read is named with the place, without quoting the line: it may hold a secret.
    for (const text of ['port: 18851\nmaster_key: @SECRET-passphrase-xyz-123456\n', 'admin_token: `SECRET-token-0123456789abcdef\n', 'metrics_token: a: SECRET-metrics-x\n']) {
      assert.throws(() => loadConfig({ file: file(text), env: {} }), (e: Error) => e instanceof ConfigError && /line \d+, column \d+/.test(e.message) && !e.message.includes('SECRET'), text);
    }
  });
});
