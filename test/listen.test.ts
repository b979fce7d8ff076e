// Start-up that cannot listen names the settings behind the address, not only the system's error.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { createGateway } from '../src/gateway.ts';
import { parseJsonBody } from '../src/http/validation.ts';
import { testConfig } from './helpers/gateway.ts';

describe('listening', () => {
  it('keeps the error of a port in use as it is (start-up has its own message for it)', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    const gw = await createGateway(testConfig({ BOTGATE_PORT: String(port) }));
    try {
      await assert.rejects(gw.listen(), (error: NodeJS.ErrnoException) => error.code === 'EADDRINUSE');
    } finally {
      await gw.close();
      holder.close();
    }
  });

  it('names BOTGATE_HOST and BOTGATE_PORT when the address cannot be listened on', async () => {
    const gw = await createGateway(testConfig({ BOTGATE_HOST: '999.1.1.1', BOTGATE_PORT: '0' }));
    try {
      await assert.rejects(gw.listen(), /cannot listen on host 999\.1\.1\.1 \(BOTGATE_HOST\), port 0 \(BOTGATE_PORT\)/);
    } finally {
      await gw.close();
    }
  });
});

describe('JSON bodies with a byte order mark', () => {
  it('parse with a long number, whether it is refused (the API) or kept as text (inbound channels)', () => {
    assert.deepEqual(parseJsonBody('\uFEFF{"a":12345678901234567890}', { lossyNumbers: 'text' }), { a: '12345678901234567890' });
    assert.throws(() => parseJsonBody('\uFEFF{"a":12345678901234567890}'), /cannot be kept exactly/);
    assert.deepEqual(parseJsonBody('\uFEFF{"a":1e20}'), { a: 1e20 });
  });
});
