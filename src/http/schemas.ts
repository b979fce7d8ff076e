// Shared route schemas (TypeBox → JSON Schema): error bodies, paging and time filters, record views.
import { Type, type Static, type TSchema } from 'typebox';
import { errorCodes, type ErrorCode } from '../errors.ts';

export const ErrorBody = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.String({ description: 'A BG_ERR_* code (docs/errors.md)' }),
    message: Type.String(),
  },
  { $id: 'ErrorBody', description: 'An error of the botgate API' },
);

/** Response schemas for the error codes a route can answer. */
export function errors(...codes: ErrorCode[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const code of [...codes, 'BG_ERR_UNAUTHORIZED' as const]) out[errorCodes[code].status] = Type.Ref('ErrorBody');
  return out;
}

/** A body the client may leave out; handlers see undefined then. */
export const OptionalBody = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()], { 'x-optional-body': true });

/** Any JSON object. (Type.Record would make ajv test every key of every payload against a pattern.) */
export const AnyObject = (options: { description?: string } = {}) =>
  Type.Unsafe<Record<string, unknown>>(Type.Object({}, { additionalProperties: true, ...options }));

/**
 * The schema or null. A schema of one type becomes `type: [that, 'null']` (JSON Schema 2020-12 / OpenAPI 3.1): the
 * response serializer then tells null apart with a typeof test, where an anyOf makes it run a validator on the
 * value for each branch (on every response: the costliest part of serializing small answers).
 */
export const Nullable = <T extends TSchema>(schema: T) => {
  const type = (schema as { type?: unknown }).type;
  if (typeof type !== 'string' || type === 'null') return Type.Union([schema, Type.Null()]);
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [type, 'null'] });
};
export const Timestamp = Type.String({ format: 'date-time' });

export const PageQuery = {
  // No schema default for page: validation would fill it in, and a page given with a cursor could not be told apart.
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'default 1; not with cursor' })),
  per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
  cursor: Type.Optional(Type.String({ minLength: 1, description: 'next_cursor of the previous page; not with page' })),
};

export const TimeRangeQuery = {
  since: Type.Optional(Type.String({ format: 'date-time', description: 'created at or after' })),
  until: Type.Optional(Type.String({ format: 'date-time', description: 'created before; after since (else 400)' })),
};

export function listOf<T extends TSchema>(item: T) {
  return Type.Object({
    data: Type.Array(item),
    page: Nullable(Type.Integer({ description: 'the page number asked for (default 1); null when paged by cursor' })),
    per_page: Type.Integer(),
    next_cursor: Nullable(Type.String()),
  });
}

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });

export const EndpointView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  provider: Nullable(Type.String()),
  url: Type.String(),
  auth: Type.Object({ kind: Type.String() }, { additionalProperties: true, description: 'kind and its non-secret settings (basic: username; header: name; kore_jwt: client_id, header, claims)' }),
  custom_headers: Type.Record(Type.String(), Type.String()),
  content_type: Type.Union([Type.Literal('json'), Type.Literal('form')]),
  signing: Type.Boolean(),
  timeout_seconds: Type.Number(),
  retry_schedule: Nullable(Type.Array(Type.Number())),
  max_attempts: Nullable(Type.Integer()),
  is_active: Type.Boolean(),
  disabled_reason: Nullable(Type.String()),
  disabled_at: Nullable(Timestamp),
  event_types: Nullable(Type.Array(Type.String())),
  rate_limit_per_second: Nullable(Type.Integer()),
  ordered: Type.Boolean(),
  failing_since: Nullable(Timestamp),
  last_success_at: Nullable(Timestamp),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const MessageView = Type.Object({
  id: Type.String(),
  event_type: Type.String(),
  payload: Nullable(AnyObject()),
  ordering_key: Nullable(Type.String()),
  created_at: Timestamp,
  expired: Type.Boolean(),
  conversation_id: Nullable(Type.String()),
  direction: Nullable(Type.String({ description: 'incoming | outgoing | agent_outgoing; null for messages published through the API' })),
  reply_to: Nullable(Type.String()),
});

export const DeliveryView = Type.Object({
  id: Type.String(),
  message_id: Type.String(),
  endpoint_id: Type.String(),
  event_type: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('sending'), Type.Literal('sent'), Type.Literal('failed')]),
  attempts: Type.Integer(),
  next_attempt_at: Nullable(Timestamp),
  last_status_code: Nullable(Type.Integer()),
  last_error: Nullable(Type.String()),
  one_shot: Type.Boolean(),
  ordering_key: Nullable(Type.String()),
  created_at: Timestamp,
  updated_at: Timestamp,
  sent_at: Nullable(Timestamp),
});

export const AttemptView = Type.Object({
  id: Type.String(),
  delivery_id: Type.String(),
  attempted_at: Timestamp,
  status_code: Nullable(Type.Integer()),
  duration_ms: Type.Number(),
  error_kind: Nullable(Type.String()),
  error: Nullable(Type.String()),
  response_body: Nullable(Type.String()),
  expired: Type.Boolean(),
});

export const JobView = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  status: Type.String(),
  params: AnyObject(),
  total: Type.Integer(),
  done: Type.Integer(),
  progress: Type.Number({ description: 'done / total, 0..1' }),
  error: Nullable(Type.String()),
  created_at: Timestamp,
  updated_at: Timestamp,
});
