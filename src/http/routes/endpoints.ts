// /api/endpoints: outgoing webhook targets — CRUD, secret rotation, enable/disable, test send, recover.
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { endpointView } from '../../delivery/endpoints.ts';
import { EVENT_TYPE_PATTERN } from '../../delivery/event-types.ts';
import { sendTestMessage } from '../../delivery/test-message.ts';
import { jobView } from '../../delivery/recovery.ts';
import type { AppDeps } from '../deps.ts';
import { pageRequest, pageResult } from '../paging.ts';
import { AnyObject, EndpointView, IdParams, JobView, Nullable, OptionalBody, PageQuery, errors, listOf } from '../schemas.ts';
import { Published, publishedView } from './messages.ts';

const settings = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  provider: Nullable(Type.String({ minLength: 1, maxLength: 100, description: 'free label: zendesk, kore, twilio, …' })),
  url: Type.String({ minLength: 1, maxLength: 2048, description: 'absolute http(s) URL' }),
  auth: Type.Object({ kind: Type.String({ description: 'none | bearer {token} | basic {username, password} | header {name, value} | kore_jwt {client_id, client_secret, header?, claims?}' }) }, { additionalProperties: true }),
  custom_headers: Type.Record(Type.String(), Type.String({ maxLength: 4096 }), { maxProperties: 50 }),
  content_type: Type.Union([Type.Literal('json'), Type.Literal('form')]),
  signing: Type.Boolean({ description: 'Standard Webhooks signature headers (default true)' }),
  timeout_seconds: Type.Number({ minimum: 1, maximum: 300 }),
  retry_schedule: Nullable(Type.Array(Type.Number({ minimum: 0, maximum: 604800 }), { minItems: 1, maxItems: 50, description: 'seconds before each attempt, starting with 0 (the first attempt is at once); null = the default (Svix) schedule' })),
  max_attempts: Nullable(Type.Integer({ minimum: 1, maximum: 100 })),
  is_active: Type.Boolean(),
  event_types: Nullable(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 500, description: 'null or "*" = every event type (the operational ones aside); "x.*" matches x.anything; [] = none: only what names the endpoint (bot webhooks, notifications, test sends)' })),
  rate_limit_per_second: Nullable(Type.Integer({ minimum: 1, maximum: 100000 })),
  ordered: Type.Boolean({ description: 'FIFO per ordering_key' }),
};

const CreateBody = Type.Object(
  {
    ...settings,
    provider: Type.Optional(settings.provider),
    auth: Type.Optional(settings.auth),
    custom_headers: Type.Optional(settings.custom_headers),
    content_type: Type.Optional(settings.content_type),
    signing: Type.Optional(settings.signing),
    timeout_seconds: Type.Optional(settings.timeout_seconds),
    retry_schedule: Type.Optional(settings.retry_schedule),
    max_attempts: Type.Optional(settings.max_attempts),
    is_active: Type.Optional(settings.is_active),
    event_types: Type.Optional(settings.event_types),
    rate_limit_per_second: Type.Optional(settings.rate_limit_per_second),
    ordered: Type.Optional(settings.ordered),
    secret: Type.Optional(Type.String({ description: 'a whsec_ secret to use instead of a generated one' })),
  },
  { additionalProperties: false },
);

const UpdateBody = Type.Partial(Type.Object(settings), { additionalProperties: false });
const WithSecret = Type.Intersect([EndpointView, Type.Object({ secret: Type.String({ description: 'shown only now' }) })]);

export const endpointRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const { endpoints, recovery, store } = deps;
  const tags = ['endpoints'];

  app.post('/endpoints', {
    schema: { tags, summary: 'Create an endpoint; its signing secret is in this answer only', body: CreateBody, response: { 201: WithSecret, ...errors('BG_ERR_VALIDATION', 'BG_ERR_UNKNOWN_FIELD') } },
  }, async (request, reply) => {
    const { endpoint, secret } = await endpoints.create(request.body);
    reply.code(201);
    return { ...endpointView(endpoint), secret };
  });

  app.get('/endpoints', {
    schema: {
      tags, summary: 'List endpoints, newest first',
      querystring: Type.Object({ provider: Type.Optional(Type.String()), is_active: Type.Optional(Type.Boolean()), ...PageQuery }, { additionalProperties: false }),
      response: { 200: listOf(EndpointView), ...errors('BG_ERR_VALIDATION') },
    },
  }, async (request) => {
    const page = pageRequest(request.query, 'ep');
    const rows = await store.endpoints.list({ provider: request.query.provider, isActive: request.query.is_active }, page.request);
    return pageResult(rows, page, endpointView);
  });

  app.get('/endpoints/:id', {
    schema: { tags, summary: 'Show an endpoint (never its secrets)', params: IdParams, response: { 200: EndpointView, ...errors('BG_ERR_ENDPOINT_NOT_FOUND') } },
  }, async (request) => endpointView(await endpoints.get(request.params.id)));

  app.patch('/endpoints/:id', {
    schema: { tags, summary: 'Change an endpoint (409 for the settings a channel or platform config owning it sets itself)', params: IdParams, body: UpdateBody, response: { 200: EndpointView, ...errors('BG_ERR_ENDPOINT_NOT_FOUND', 'BG_ERR_VALIDATION', 'BG_ERR_UNKNOWN_FIELD', 'BG_ERR_CONFLICT') } },
  }, async (request) => endpointView(await endpoints.update(request.params.id, request.body)));

  app.delete('/endpoints/:id', {
    schema: { tags, summary: 'Delete an endpoint with its deliveries and attempts (409 while a channel or an event type sends through it)', params: IdParams, response: { 204: Type.Null(), ...errors('BG_ERR_ENDPOINT_NOT_FOUND', 'BG_ERR_CONFLICT') } },
  }, async (request, reply) => {
    await endpoints.delete(request.params.id);
    reply.code(204).send(null);
  });

  app.post('/endpoints/:id/secret/rotate', {
    schema: {
      tags, summary: 'Rotate the signing secret; the previous one keeps signing until previous_valid_until (409 while 10 previous ones are still valid)',
      params: IdParams,
      body: OptionalBody(Type.Object({ secret: Type.Optional(Type.String()) }, { additionalProperties: false })),
      response: { 200: Type.Object({ secret: Type.String(), previous_valid_until: Type.String({ format: 'date-time' }) }), ...errors('BG_ERR_ENDPOINT_NOT_FOUND', 'BG_ERR_VALIDATION', 'BG_ERR_CONFLICT') },
    },
  }, async (request) => {
    const rotated = await endpoints.rotateSecret(request.params.id, request.body?.secret);
    return { secret: rotated.secret, previous_valid_until: new Date(rotated.previousValidUntil).toISOString() };
  });

  app.post('/endpoints/:id/enable', {
    schema: { tags, summary: 'Re-enable an endpoint; its pending deliveries resume', params: IdParams, response: { 200: EndpointView, ...errors('BG_ERR_ENDPOINT_NOT_FOUND') } },
  }, async (request) => endpointView(await endpoints.enable(request.params.id)));

  app.post('/endpoints/:id/disable', {
    schema: { tags, summary: 'Disable an endpoint; its deliveries wait', params: IdParams, response: { 200: EndpointView, ...errors('BG_ERR_ENDPOINT_NOT_FOUND') } },
  }, async (request) => endpointView((await endpoints.disable(request.params.id, 'manual')).endpoint));

  app.post('/endpoints/:id/test', {
    config: { jsonAnyKeysUnder: [['payload']] },
    schema: {
      tags, summary: 'Send a test message to this endpoint only, whatever its filter (409 when it is disabled)',
      params: IdParams,
      body: OptionalBody(Type.Object({
        event_type: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: EVENT_TYPE_PATTERN, description: 'default webhook.test' })),
        payload: Type.Optional(AnyObject()),
      }, { additionalProperties: false })),
      response: { 202: Published, ...errors('BG_ERR_ENDPOINT_NOT_FOUND', 'BG_ERR_VALIDATION', 'BG_ERR_CONFLICT') },
    },
  }, async (request, reply) => {
    const published = await sendTestMessage(deps, request.params.id, { eventType: request.body?.event_type, payload: request.body?.payload });
    reply.code(202);
    return publishedView(published);
  });

  app.post('/endpoints/:id/recover', {
    schema: {
      tags, summary: 'Resend every failed delivery of the endpoint created in [since, until) as a background job',
      params: IdParams,
      body: Type.Object({ since: Type.String({ format: 'date-time' }), until: Type.Optional(Type.String({ format: 'date-time' })) }, { additionalProperties: false }),
      response: { 202: JobView, ...errors('BG_ERR_ENDPOINT_NOT_FOUND', 'BG_ERR_VALIDATION', 'BG_ERR_CONFLICT') },
    },
  }, async (request, reply) => {
    const until = request.body.until ? Date.parse(request.body.until) : undefined;
    const job = await recovery.recover(request.params.id, Date.parse(request.body.since), until);
    reply.code(202);
    return jobView(job);
  });

  app.get('/jobs/:id', {
    schema: { tags: ['jobs'], summary: 'Progress of a background job', params: IdParams, response: { 200: JobView, ...errors('BG_ERR_JOB_NOT_FOUND') } },
  }, async (request) => jobView(await recovery.get(request.params.id)));

};
