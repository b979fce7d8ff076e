// What stored attempts set in motion, on its own: one step failing never keeps the others from running.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { afterAttempts } from '../../src/delivery/operational.ts';
import { loadConfig } from '../../src/config/load.ts';
import { BotgateError } from '../../src/errors.ts';

const attempt = (endpointId: string, deliveryId: string, statusCode: number, next: 'failed' | 'pending') => ({
  outcome: { attempt: { endpointId, statusCode, error: `HTTP ${statusCode}` }, next: { status: next } },
  delivery: { id: deliveryId, messageId: `msg_${deliveryId}`, endpointId, eventType: 'order.confirmed', attempts: 7, oneShot: false, orderingKey: null, payload: '{}' },
});

describe('after attempts', () => {
  it('announces every exhausted delivery even when disabling a gone endpoint fails (deleted meanwhile)', async () => {
    const published: { eventType: string; payload: Record<string, unknown> }[] = [];
    const errors: string[] = [];
    await afterAttempts(
      [attempt('ep_deleted', 'dlv_1', 410, 'failed'), attempt('ep_other', 'dlv_2', 500, 'failed')] as never,
      { failingSince: {} } as never,
      {
        now: Date.UTC(2026, 0, 1),
        config: loadConfig({ env: {} }),
        endpoints: { disable: async (id: string) => { throw new BotgateError('BG_ERR_ENDPOINT_NOT_FOUND', `No endpoint ${id}`); } } as never,
        outbox: { publish: async (m: { eventType: string; payload: Record<string, unknown> }) => void published.push(m) } as never,
        onDisabled: () => assert.fail('nothing was disabled'),
        onError: (step) => void errors.push(step),
      },
    );
    assert.deepEqual(errors, ['disable']);
    assert.deepEqual(published.map((m) => [m.eventType, m.payload.delivery_id]), [['message.attempt.exhausted', 'dlv_1'], ['message.attempt.exhausted', 'dlv_2']]);
  });
});
