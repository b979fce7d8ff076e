// What the notification API suites share: a gateway on one backend (the scheduler's tick out of the way, so the
// tests decide when held notifications run) and a receiver behind an endpoint notifications can be sent to.
import assert from 'node:assert/strict';
import { startBackendGateway, type Backend } from '../helpers/backends.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';

export interface NotifyFixture {
  gw: TestGateway;
  rx: Receiver;
  /** The endpoint in front of `rx`. */
  endpointId: string;
  close(): Promise<void>;
}

export async function startNotifyFixture(backend: Backend): Promise<NotifyFixture> {
  const { gw, drop } = await startBackendGateway(backend, { BOTGATE_NOTIFY__TICK_SECONDS: '3600' });
  const rx = await startReceiver();
  const endpoint = await gw.api('POST', '/api/endpoints', { name: 'notify-rx', url: rx.url });
  assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body));
  return {
    gw, rx, endpointId: endpoint.body.id,
    async close() {
      await gw.close();
      await rx.close();
      await drop();
    },
  };
}
