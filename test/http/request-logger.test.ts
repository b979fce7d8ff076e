// The per-request child logger is made only when a request logs at an enabled level, and then logs exactly as
// pino's own child would (request id bound, secrets redacted).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { lazyChildLogger } from '../../src/logger.ts';

function capture(level = 'warn') {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  const logger = pino({ level, redact: { paths: ['req.headers.authorization'], censor: '[redacted]' } }, stream);
  let children = 0;
  const original = logger.child;
  logger.child = function (this: typeof logger, ...args: Parameters<typeof original>) {
    children++;
    return original.apply(this, args);
  } as typeof logger.child;
  return { logger, lines, children: () => children };
}

describe('lazy request logger', () => {
  it('makes no child for calls below the level, and one for the first enabled call', async () => {
    const { logger, lines, children } = capture('warn');
    const log = lazyChildLogger(logger, { reqId: 'r-1' }, {});
    log.debug({ x: 1 }, 'quiet');
    log.info('quiet too');
    assert.equal(children(), 0);
    assert.equal(log.level, 'warn');
    log.warn({ req: { headers: { authorization: 'Bearer secret-token' } } }, 'loud');
    log.error('louder');
    await new Promise((r) => setImmediate(r));
    assert.equal(children(), 1);
    assert.deepEqual(lines.map((l) => [l.reqId, l.msg]), [['r-1', 'loud'], ['r-1', 'louder']]);
    assert.deepEqual(lines[0].req, { headers: { authorization: '[redacted]' } });
  });

  it("honours a route's own level and a level set later", async () => {
    const { logger, lines } = capture('warn');
    const log = lazyChildLogger(logger, { reqId: 'r-2' }, { level: 'debug' });
    assert.equal(log.level, 'debug');
    log.debug('route debug');
    log.level = 'error';
    log.warn('now quiet');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(lines.map((l) => l.msg), ['route debug']);
    const grandchild = log.child({ part: 'x' });
    grandchild.error('from a child');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(lines.at(-1)?.reqId, 'r-2');
    assert.equal(lines.at(-1)?.part, 'x');
  });
});
