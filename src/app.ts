// createApp(deps): the Fastify application with every route plugin; it never listens (tests use inject()).
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { lazyChildLogger } from './logger.ts';
import { withoutTrailing } from './text-end.ts';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyHttpOptions, type FastifyReply } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { installErrorHandling } from './http/error-handler.ts';
import { errorFormat, surfaceOf } from './http/error-bodies.ts';
import { BotgateError, errorCodes, type ErrorCode } from './errors.ts';
import { OPTIONAL_BODY, installJsonParser, installValidation } from './http/validation.ts';
import { requireAdmin } from './http/admin-guard.ts';
import type { AppDeps } from './http/deps.ts';
import { ErrorBody } from './http/schemas.ts';
import { healthRoutes } from './http/routes/health.ts';
import { endpointRoutes } from './http/routes/endpoints.ts';
import { messageRoutes } from './http/routes/messages.ts';
import { deliveryRoutes } from './http/routes/deliveries.ts';
import { appRoutes } from './http/routes/apps.ts';
import { botRoutes } from './http/routes/bots.ts';
import { channelRoutes } from './http/routes/channels.ts';
import { conversationRoutes } from './http/routes/conversations.ts';
import { koreWebhookRoutes } from './channels/kore-webhook.ts';
import { platformWebhookRoutes } from './channels/platform-webhook.ts';
import { twilioWebhookRoutes } from './channels/twilio-webhook.ts';
import { platformRoutes } from './http/routes/platforms.ts';
import { agentRoutes } from './http/routes/agents.ts';
import { userRoutes } from './http/routes/users.ts';
import { notifyAdminRoutes } from './http/routes/notify-admin.ts';
import { agentSessionRoutes } from './http/routes/sessions.ts';
import { demoOrderRoutes } from './channels/demo-orders.ts';
import { notifyProducerRoutes } from './http/routes/notify-producer.ts';
import { apiIndexRoutes, collectionsOf } from './http/routes/api-index.ts';

// node:http through require: an ESM import of a builtin reads all its exports, and node:http's lazy WebSocket,
// CloseEvent and MessageEvent getters then load Node's own bundled copy of undici (about 3 MB of heap and 14 MB of
// RSS in a bare process) that nothing here uses.
const { STATUS_CODES } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

export type { AppDeps } from './http/deps.ts';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
// Generated request ids: a random prefix per process and a counter (unique, and far cheaper than a UUID each).
const REQUEST_ID_PREFIX = randomBytes(6).toString('base64url');
let requestCounter = 0;
const nextRequestId = () => `${REQUEST_ID_PREFIX}-${(++requestCounter).toString(36)}`;

/** Per-request lines at debug level: at info they would dominate the log and cost throughput. */
class QuietLogController extends LogController {
  override incomingRequest(request: Parameters<LogController['incomingRequest']>[0]) {
    request.log.debug({ req: request }, 'incoming request');
  }
  override requestCompleted(error: Parameters<LogController['requestCompleted']>[0], request: Parameters<LogController['requestCompleted']>[1], reply: Parameters<LogController['requestCompleted']>[2]) {
    if (error) reply.log.error({ res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

const MAX_PARAM_LENGTH = 500;

/**
 * An API path with a trailing slash names what it names without one: `/api/endpoints/` is the collection (as `/api/`
 * is the index), where the router took it for `/api/endpoints/:id` with an empty id (a 400 about params.id). Only
 * under /api: Fastify's ignoreTrailingSlash, for every path, broke /docs (Swagger UI's page at /docs/ links its
 * assets relatively).
 */
function withoutApiTrailingSlash(url: string): string {
  if (!url.startsWith('/api/')) return url;
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  if (!path.endsWith('/')) return url;
  // Not /\/+$/: that is quadratic in a run of slashes, before any credential (text-end.ts).
  return withoutTrailing(path, (c) => c === '/') + (query === -1 ? '' : url.slice(query));
}

export interface AppOptions {
  logger?: FastifyBaseLogger | false;
  /** Serve the demo's order receiver (POST /demo/orders). */
  demo?: boolean;
}

/**
 * A request Node's HTTP parser refused (not HTTP, headers over its limit, too slow): answered with a coded error in
 * the API's shape (the URL was not read, so the surface is not known), then the connection is closed.
 */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ErrorCode = error.code === 'HPE_HEADER_OVERFLOW' ? 'BG_ERR_HEADERS_TOO_LARGE' : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'BG_ERR_REQUEST_TIMEOUT' : 'BG_ERR_MALFORMED_REQUEST';
  answerOnSocket(socket, code, errorCodes[code].message);
  socket.destroy(error);
}

/** A coded error in the API's shape written straight to the socket (the caller closes it). */
function answerOnSocket(socket: Socket, code: ErrorCode, message: string): void {
  const { status } = errorCodes[code];
  const body = JSON.stringify({ statusCode: status, code, message });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
}

export async function createApp(deps: AppDeps, options: AppOptions = {}) {
  const fastifyOptions: FastifyHttpOptions<Server> = {
    bodyLimit: deps.config.api.body_limit_bytes,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : nextRequestId();
    },
    logController: new QuietLogController(),
    trustProxy: false,
    return503OnClosing: true,
    clientErrorHandler: answerClientError,
    // Node answers an HTTP/1.1 request without Host with a bare 400 (no body); the onRequest hook below answers it coded.
    http: { requireHostHeader: false },
    // Ids are short, but a user id may be up to 200 characters (and is a path parameter of /api/users/{id}).
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    rewriteUrl: (req) => withoutApiTrailingSlash(req.url ?? '/'),
    // Bad percent-encoding or an over-long path parameter, found while routing: a coded 400 in the surface's shape.
    frameworkErrors: (error, request, reply: FastifyReply) => {
      const coded = error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? new BotgateError('BG_ERR_VALIDATION', `A path segment is longer than ${MAX_PARAM_LENGTH} characters`)
        : new BotgateError('BG_ERR_VALIDATION', 'The URL is not valid (bad percent-encoding)');
      reply.code(coded.statusCode).send(errorFormat(surfaceOf(request.url))(coded, reply));
    },
  };
  if (options.logger) {
    fastifyOptions.loggerInstance = options.logger;
    fastifyOptions.childLoggerFactory = lazyChildLogger;
  }
  const app = Fastify(fastifyOptions).withTypeProvider<TypeBoxTypeProvider>();

  // Node answers an Expect it does not know with a bare 417 unless someone listens: the request goes through the
  // app, whose onRequest hook answers it coded in the surface's shape.
  app.server.on('checkExpectation', (req, res) => app.server.emit('request', req, res));
  // CONNECT never reaches the app: unheard, Node closes the connection without a word. botgate is no proxy, so it is
  // refused as an unknown method is.
  app.server.on('connect', (_req, socket: Socket) => {
    answerOnSocket(socket, 'BG_ERR_MALFORMED_REQUEST', 'CONNECT is not taken: botgate is no proxy');
    socket.destroySoon();
  });
  installValidation(app);
  installJsonParser(app);
  installErrorHandling(app, { maxParamLength: MAX_PARAM_LENGTH });
  // NUL in a path or query (%00) would reach the store, which cannot hold it in text (PostgreSQL refuses it).
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.url.includes('%00')) return done(new BotgateError('BG_ERR_VALIDATION', 'The URL may not contain the NUL character (%00)'));
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400.
    if (request.headers.host === undefined && request.raw.httpVersion === '1.1') {
      return done(new BotgateError('BG_ERR_MALFORMED_REQUEST', 'An HTTP/1.1 request must have a Host header'));
    }
    // RFC 9110 §10.1.1: an expectation other than 100-continue (which Node answers itself) cannot be met.
    if (request.headers.expect !== undefined && !/(?:^|\W)100-continue(?:$|\W)/i.test(request.headers.expect)) {
      return done(new BotgateError('BG_ERR_EXPECTATION_FAILED', `Expect: ${request.headers.expect} cannot be met; only 100-continue is`));
    }
    // A compressed body would reach the parsers as bytes they cannot read (a misleading 400 about its JSON).
    const encoding = request.headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity' && encoding.trim() !== '') {
      return done(new BotgateError('BG_ERR_UNSUPPORTED_MEDIA_TYPE', 'Content-Encoding is not supported: send the body uncompressed'));
    }
    done();
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    done(null, payload);
  });
  app.addSchema(ErrorBody);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'botgate', version: '0.1.0', description: 'Self-hosted gateway connecting chatbots to the outside world over webhooks. Error codes: docs/errors.md.' },
      components: { securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'the admin token (BOTGATE_ADMIN_TOKEN, or the one printed at first start)' }, agentToken: { type: 'http', scheme: 'bearer', description: 'an agent token (POST /api/agents)' }, producerKey: { type: 'http', scheme: 'bearer', description: 'a producer key (POST /api/producer-keys, or notify.producer_key); also accepted as X-Api-Key' }, metricsToken: { type: 'http', scheme: 'bearer', description: 'metrics_token, when configured' } } },
      security: [{ adminToken: [] }],
    },
    // @fastify/swagger marks every request body required; one the route may go without (OptionalBody) is not.
    transformObject: (document) => {
      if (!('openapiObject' in document)) return document.swaggerObject;
      const { openapiObject } = document;
      for (const ops of Object.values(openapiObject.paths ?? {})) {
        for (const op of Object.values(ops ?? {}) as { requestBody?: { required?: boolean; content?: Record<string, { schema?: Record<string, unknown> }> } }[]) {
          const body = op?.requestBody;
          if (body && Object.values(body.content ?? {}).some((media) => media.schema?.[OPTIONAL_BODY])) body.required = false;
        }
      }
      return openapiObject;
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes, { deps });
  await app.register(koreWebhookRoutes, { deps });
  await app.register(platformWebhookRoutes, { deps });
  await app.register(twilioWebhookRoutes, { deps });
  if (options.demo) await app.register(demoOrderRoutes, { store: deps.store, endpoints: deps.endpoints, now: () => deps.clock.now() });
  await app.register(agentSessionRoutes, { deps, prefix: '/api/agent' });
  await app.register(notifyProducerRoutes, { deps });
  await app.register(async (api) => {
    api.addHook('onRequest', requireAdmin(deps.adminAuth));
    const collections = collectionsOf(api);
    await api.register(apiIndexRoutes, { deps, collections });
    await api.register(endpointRoutes, { deps });
    await api.register(messageRoutes, { deps });
    await api.register(deliveryRoutes, { deps });
    await api.register(appRoutes, { deps });
    await api.register(botRoutes, { deps });
    await api.register(channelRoutes, { deps });
    await api.register(conversationRoutes, { deps });
    await api.register(platformRoutes, { deps });
    await api.register(agentRoutes, { deps });
    await api.register(userRoutes, { deps });
    await api.register(notifyAdminRoutes, { deps });
  }, { prefix: '/api' });

  return app;
}
