// /api/deliveries: delivery history with filters, each delivery's attempts, and manual resend.
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { BotgateError } from '../../errors.ts';
import { resendDelivery } from '../../delivery/resend.ts';
import { attemptView, deliveryView } from '../../delivery/views.ts';
import type { AppDeps } from '../deps.ts';
import { pageRequest, pageResult, parseWindow } from '../paging.ts';
import { AttemptView, DeliveryView, IdParams, PageQuery, TimeRangeQuery, errors, listOf } from '../schemas.ts';

const Status = Type.Union([Type.Literal('pending'), Type.Literal('sending'), Type.Literal('sent'), Type.Literal('failed')]);

export const deliveryRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const { store } = deps;
  const tags = ['deliveries'];

  app.get('/deliveries', {
    schema: {
      tags, summary: 'Deliveries, newest first, filtered by endpoint, provider, event type, status, message and time',
      querystring: Type.Object({
        endpoint_id: Type.Optional(Type.String()),
        provider: Type.Optional(Type.String()),
        event_type: Type.Optional(Type.String()),
        status: Type.Optional(Status),
        message_id: Type.Optional(Type.String()),
        ...TimeRangeQuery,
        ...PageQuery,
      }, { additionalProperties: false }),
      response: { 200: listOf(DeliveryView), ...errors('BG_ERR_VALIDATION') },
    },
  }, async (request) => {
    const q = request.query;
    const page = pageRequest(q, 'dlv');
    const rows = await store.deliveries.list({
      endpointId: q.endpoint_id, provider: q.provider, eventType: q.event_type, status: q.status, messageId: q.message_id,
      ...parseWindow(q),
    }, page.request);
    return pageResult(rows, page, deliveryView);
  });

  app.get('/deliveries/:id', {
    schema: { tags, summary: 'One delivery', params: IdParams, response: { 200: DeliveryView, ...errors('BG_ERR_DELIVERY_NOT_FOUND') } },
  }, async (request) => {
    const delivery = await store.deliveries.get(request.params.id);
    if (!delivery) throw new BotgateError('BG_ERR_DELIVERY_NOT_FOUND', `No delivery ${request.params.id}`);
    return deliveryView(delivery);
  });

  app.get('/deliveries/:id/attempts', {
    schema: { tags, summary: 'Every HTTP try of a delivery, oldest first', params: IdParams, response: { 200: Type.Object({ data: Type.Array(AttemptView) }), ...errors('BG_ERR_DELIVERY_NOT_FOUND') } },
  }, async (request) => {
    if (!(await store.deliveries.get(request.params.id))) throw new BotgateError('BG_ERR_DELIVERY_NOT_FOUND', `No delivery ${request.params.id}`);
    return { data: (await store.deliveries.attempts(request.params.id)).map(attemptView) };
  });

  app.post('/deliveries/:id/resend', {
    schema: {
      tags, summary: 'Try a delivery again now; for a sent or failed one this is a single try that schedules nothing more (409 while its endpoint is disabled)',
      params: IdParams,
      response: { 202: DeliveryView, ...errors('BG_ERR_DELIVERY_NOT_FOUND', 'BG_ERR_DELIVERY_IN_PROGRESS', 'BG_ERR_CONFLICT') },
    },
  }, async (request, reply) => {
    const result = await resendDelivery(deps, request.params.id);
    reply.code(202);
    return deliveryView(result);
  });
};
