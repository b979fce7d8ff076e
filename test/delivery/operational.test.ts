// What stored attempts set in motion, on its own: one step failing never keeps the others from running, and the
// exhausted announcements go with the finish, to subscribers only, never to the endpoint they are about.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { afterAttempts, exhaustedAnnouncements } from '../../src/delivery/operational.ts';
import { loadConfig } from '../../src/config/load.ts';
import { BotgateError } from '../../src/errors.ts';
import type { Announce, EndpointRecord } from '../../src/store/store.ts';

const attempt = (endpointId: string, deliveryId: string, statusCode: number, next: 'failed' | 'pending', extra: Record<string, unknown> = {}) => ({
  outcome: { attempt: { endpointId, statusCode, error: `HTTP ${statusCode}` }, next: { status: next } },
  delivery: { id: deliveryId, messageId: `msg_${deliveryId}`, endpointId, eventType: 'order.confirmed', attempts: 7, oneShot: false, orderingKey: null, payload: '{}', ...extra },
});

describe('after attempts', () => {
  it('disables the other gone endpoints when disabling one fails (deleted meanwhile), and announces those', async () => {
    // The store publishes what `announce` makes with the disable itself; here the stub keeps it, with its routing.
    const published: { eventType: string; payload: Record<string, unknown>; to: string[] }[] = [];
    const errors: string[] = [];
    const disabled: string[] = [];
    let nudges = 0;
    await afterAttempts(
      [attempt('ep_deleted', 'dlv_1', 410, 'failed'), attempt('ep_gone', 'dlv_2', 410, 'failed')] as never,
      { failingSince: {} } as never,
      {
        now: Date.UTC(2026, 0, 1),
        config: loadConfig({ env: {} }),
        endpoints: {
          disable: async (id: string, _reason: string, announce: Announce) => {
            if (id === 'ep_deleted') throw new BotgateError('BG_ERR_ENDPOINT_NOT_FOUND', `No endpoint ${id}`);
            const endpoint = { id, name: id, failingSince: null } as unknown as EndpointRecord;
            const { message, route } = announce(endpoint);
            const targets = [{ id, eventTypes: null, ordered: false }, { id: 'ep_ops', eventTypes: ['endpoint.*'], ordered: false }, { id: 'ep_orders', eventTypes: ['order.*'], ordered: false }];
            published.push({ eventType: message.eventType, payload: JSON.parse(message.payload), to: route(targets, message) });
            return { endpoint, changed: true };
          },
        } as never,
        outbox: { nudge: () => void nudges++ } as never,
        newId: () => 'msg_1',
        onDisabled: (id) => void disabled.push(id),
        onError: (step) => void errors.push(step),
      },
    );
    assert.deepEqual(errors, ['disable']);
    assert.deepEqual(disabled, ['ep_gone']);
    assert.deepEqual(published.map((m) => [m.eventType, m.payload.endpoint_id, m.to]), [['endpoint.disabled', 'ep_gone', ['ep_ops']]]);
    assert.equal(nudges, 1, 'the worker looks for the stored announcement at once');
  });

  it('announces each delivery failed for good, to subscribers other than its endpoint', () => {
    let n = 0;
    const announce = exhaustedAnnouncements([
      attempt('ep_a', 'dlv_1', 500, 'failed'),
      attempt('ep_a', 'dlv_2', 500, 'pending'), // retried: not exhausted
      attempt('ep_a', 'dlv_3', 500, 'failed', { oneShot: true }), // a manual resend: its failure was announced before
      attempt('ep_a', 'dlv_4', 500, 'failed', { eventType: 'message.attempt.exhausted' }), // no announcement of an announcement
    ] as never, Date.UTC(2026, 0, 1), () => `msg_${++n}`)!;
    assert.deepEqual([...announce.messages.keys()], ['dlv_1']);
    const message = announce.messages.get('dlv_1')!;
    assert.equal(message.eventType, 'message.attempt.exhausted');
    assert.deepEqual(JSON.parse(message.payload!), {
      type: 'message.attempt.exhausted', endpoint_id: 'ep_a', message_id: 'msg_dlv_1', delivery_id: 'dlv_1', event_type: 'order.confirmed',
      attempts: 8, last_status_code: 500, last_error: 'HTTP 500', timestamp: '2026-01-01T00:00:00.000Z',
    });
    const targets = [
      { id: 'ep_a', eventTypes: ['message.attempt.exhausted'] }, // the endpoint it is about
      { id: 'ep_watch', eventTypes: ['message.attempt.exhausted'] },
      { id: 'ep_all', eventTypes: null }, // no filter: every type but the operational ones
    ];
    assert.deepEqual(announce.route(targets as never, message), ['ep_watch']);
    assert.equal(exhaustedAnnouncements([attempt('ep_a', 'dlv_9', 200, 'pending')] as never, 0, () => 'msg_x'), undefined);
  });
});
