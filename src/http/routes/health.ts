// /healthz (the process answers), /readyz (the store answers and we are not shutting down), /metrics.
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { tokenMatches, hashToken } from '../../crypto/tokens.ts';
import { BotgateError } from '../../errors.ts';
import type { AppDeps } from '../deps.ts';
import { bearerToken } from '../admin-guard.ts';
import { errors } from '../schemas.ts';

const READY_TIMEOUT_MS = 2000;

export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const tags = ['operations'];
  const metricsHash = deps.config.metrics_token ? hashToken(deps.config.metrics_token) : null;

  app.get('/healthz', {
    schema: { tags, summary: 'Liveness: the process answers', security: [], response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
  }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    schema: { tags, summary: 'Readiness: started (provisioning done), the store answers, and not shutting down', security: [], response: { 200: Type.Object({ status: Type.Literal('ready') }), 503: Type.Ref('ErrorBody') } },
  }, async () => {
    if (deps.isShuttingDown?.()) throw new BotgateError('BG_ERR_NOT_READY', 'The gateway is shutting down');
    if (deps.isStarted && !deps.isStarted()) throw new BotgateError('BG_ERR_NOT_READY', 'The gateway is starting (provisioning declared resources)');
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        deps.store.ping(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('store ping timed out')), READY_TIMEOUT_MS))),
      ]);
    } catch (error) {
      // What the driver said (a host, a user name) is for the log, not for an unauthenticated caller.
      throw new BotgateError('BG_ERR_NOT_READY', 'The store does not answer', { cause: error });
    } finally {
      clearTimeout(timer);
    }
    return { status: 'ready' as const };
  });

  app.get('/metrics', {
    schema: { tags, summary: 'Prometheus metrics (a Bearer token when metrics_token is configured)', security: metricsHash ? [{ metricsToken: [] }] : [], response: { 200: { description: 'the Prometheus text format', content: { 'text/plain': { schema: Type.String() } } }, ...(metricsHash ? errors() : {}) } },
  }, async (request, reply) => {
    if (metricsHash) {
      const token = bearerToken(request);
      if (!token || !tokenMatches(token, metricsHash)) throw new BotgateError('BG_ERR_UNAUTHORIZED', 'Send the metrics token as Authorization: Bearer <token>');
    }
    const { contentType, body } = await deps.metrics.render();
    reply.type(contentType);
    return body;
  });
};
