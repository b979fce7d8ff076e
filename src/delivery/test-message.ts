// A test message to one endpoint (POST /api/endpoints/{id}/test, `botgate endpoints test`): webhook.test, or the
// caller's type and payload, sent to that endpoint only whatever its filter. A disabled endpoint is refused (409):
// the message would wait there unsent, and a test is asked for to see an answer now. For the same reason it is outside
// an ordered endpoint's sequences: it never waits behind a failing head, nor holds up a message published after it.
import type { Clock } from '../clock.ts';
import type { PublishedMessage } from '../store/store.ts';
import { refuseDisabled, type EndpointService } from './endpoints.ts';
import type { Outbox } from './outbox.ts';

export const TEST_EVENT_TYPE = 'webhook.test';

export async function sendTestMessage(
  deps: { endpoints: EndpointService; outbox: Outbox; clock: Clock },
  id: string,
  options: { eventType?: string; payload?: Record<string, unknown> } = {},
): Promise<PublishedMessage> {
  const endpoint = await deps.endpoints.get(id);
  refuseDisabled(endpoint, `Endpoint ${id}`);
  const eventType = options.eventType ?? TEST_EVENT_TYPE;
  const payload = options.payload ?? { type: eventType, endpoint_id: endpoint.id, message: 'Test message from botgate', timestamp: new Date(deps.clock.now()).toISOString() };
  return deps.outbox.publish({ eventType, payload, endpointIds: [endpoint.id], ignoreFilters: true, unordered: true });
}
