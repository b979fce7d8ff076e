// A test gateway and a receiver for the tests of one describe(), registered with its before/after hooks.
import { after, before } from 'node:test';
import { startTestGateway, type TestGateway } from './gateway.ts';
import { startReceiver, type Receiver } from './receiver.ts';

/** A test gateway and a receiver shared by the tests of one describe(): started before them, closed after them. */
export function gatewayAndReceiver(): { readonly gw: TestGateway; readonly rx: Receiver } {
  const fixture = {} as { gw: TestGateway; rx: Receiver };
  before(async () => {
    fixture.gw = await startTestGateway();
    fixture.rx = await startReceiver();
  });
  after(async () => {
    await fixture.gw?.close();
    await fixture.rx?.close();
  });
  return fixture;
}
