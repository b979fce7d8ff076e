// Resending one delivery now (POST /api/deliveries/{id}/resend, `botgate deliveries resend`): a sent or failed one
// gets a single try (one_shot), a pending one becomes due. Its endpoint must be active: a disabled one would hold it
// unsent, and a resend is asked for to see it go now (409, as for a test message). A message retention purged is 409 too.
import type { Clock } from '../clock.ts';
import { BotgateError } from '../errors.ts';
import type { DeliveryRecord, Store } from '../store/store.ts';
import { refuseDisabled } from './endpoints.ts';
import type { Outbox } from './outbox.ts';

export async function resendDelivery(deps: { store: Store; clock: Clock; outbox: Outbox }, id: string): Promise<DeliveryRecord> {
  const delivery = await deps.store.deliveries.get(id);
  if (!delivery) throw new BotgateError('BG_ERR_DELIVERY_NOT_FOUND', `No delivery ${id}`);
  const endpoint = await deps.store.endpoints.get(delivery.endpointId);
  if (endpoint) refuseDisabled(endpoint, `Delivery ${id}'s endpoint ${endpoint.id}`);
  // What retention purged cannot be sent: said now, rather than by a try that fails and counts against the endpoint.
  if ((await deps.store.messages.get(delivery.messageId))?.expired) {
    throw new BotgateError('BG_ERR_CONFLICT', `Delivery ${id}'s message ${delivery.messageId} was purged by retention: there is nothing to send`);
  }
  const result = await deps.store.deliveries.resend(id, deps.clock.now());
  if (result === 'not_found') throw new BotgateError('BG_ERR_DELIVERY_NOT_FOUND', `No delivery ${id}`);
  if (result === 'in_progress') throw new BotgateError('BG_ERR_DELIVERY_IN_PROGRESS');
  deps.outbox.nudge([delivery.endpointId]);
  return result;
}
