// Start-up that cannot listen names the settings behind the address, not only the system's error.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createGateway } from '../src/gateway.ts';
import { testConfig } from './helpers/gateway.ts';

describe('listening', () => {
  it('names BOTGATE_HOST and BOTGATE_PORT when the address cannot be listened on', async () => {
    const gw = await createGateway(testConfig({ BOTGATE_HOST: '999.1.1.1', BOTGATE_PORT: '0' }));
    try {
      await assert.rejects(gw.listen(), /cannot listen on host 999\.1\.1\.1 \(BOTGATE_HOST\), port 0 \(BOTGATE_PORT\)/);
    } finally {
      await gw.close();
    }
  });
});
