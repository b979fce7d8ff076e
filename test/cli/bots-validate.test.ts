// `bots validate` says what loading the file will say: a bot it calls valid is not then refused by the gateway for
// its knowledge pages, which validate reads as loading does (offline, like the file itself).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDataDir } from '../helpers/process.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const BOT = 'id: kb\nname: KB\nknowledge: [faq/*.md]\nintents: {a: [hi]}\nflows:\n  a: {message: [hi], next_state: end}\n';

function validate(file: string) {
  return spawnSync(process.execPath, ['bin/botgate.js', 'bots', 'validate', file], { cwd: ROOT, env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 30_000 });
}

describe('bots validate', () => {
  it('refuses knowledge pages outside the bot\'s folder, or unreadable, as loading does', () => {
    const root = tempDataDir();
    mkdirSync(join(root, 'bot', 'faq'), { recursive: true });
    writeFileSync(join(root, 'secret.md'), '# Secret\nthe master key\n');
    writeFileSync(join(root, 'bot', 'faq', 'hours.md'), '# Hours\nnine to five\n');
    const file = join(root, 'bot', 'bot.yaml');
    writeFileSync(file, BOT);
    const valid = validate(file);
    assert.equal(valid.status, 0, valid.stderr);
    assert.match(valid.stdout, /bot kb \("KB"\) is valid: 1 intents, 1 states, 0 webhooks, 1 knowledge page\b/);

    symlinkSync(join(root, 'secret.md'), join(root, 'bot', 'faq', 'linked.md'));
    const outside = validate(file);
    assert.equal(outside.status, 1, outside.stdout);
    assert.equal(outside.stderr, `${file}: knowledge: faq/linked.md is outside the bot file's folder; only pages inside it are read\n`);

    symlinkSync(join(root, 'bot', 'faq', 'gone.md'), join(root, 'bot', 'faq', 'a-dangling.md'));
    const dangling = validate(file);
    assert.equal(dangling.status, 1, dangling.stdout);
    assert.equal(dangling.stderr, `${file}: knowledge: faq/a-dangling.md: cannot read the page: no such file\n`);
  });

  it('reports the file\'s own problems without reading its pages', () => {
    const root = tempDataDir();
    const file = join(root, 'bot.yaml');
    writeFileSync(file, BOT.replace('next_state: end', 'next_state: nowhere'));
    const invalid = validate(file);
    assert.equal(invalid.status, 1);
    assert.equal(invalid.stderr, `${file}: flows.a.next_state: unknown state "nowhere"\n`);
  });
});
