// POST /demo/orders: the demo's order receiver on the gateway itself. The demo bot's order.confirmed webhook
// arrives here through the delivery engine (signed, retried) and is logged, with whether its signature verifies.
import type { FastifyPluginAsync } from 'fastify';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { EndpointService } from '../delivery/endpoints.ts';
import type { Store } from '../store/store.ts';

export const demoOrderRoutes: FastifyPluginAsync<{ store: Store; endpoints: EndpointService; now: () => number }> = async (app, deps) => {
  // The raw body is what was signed; keep it as text.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  app.post('/demo/orders', { schema: { hide: true } }, async (request, reply) => {
    const body = String(request.body ?? '');
    const [orders] = await deps.store.endpoints.list({ name: 'orders' }, { limit: 1 });
    const secrets = orders ? deps.endpoints.signingSecrets(orders, deps.now()) : [];
    const id = String(request.headers['webhook-id'] ?? '');
    const timestamp = String(request.headers['webhook-timestamp'] ?? '');
    const given = String(request.headers['webhook-signature'] ?? '').split(' ');
    const signed = secrets.some((secret) => {
      const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
      const expected = Buffer.from('v1,' + createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64'));
      // Bytes against bytes: a signature of non-ASCII characters is longer in bytes than in characters.
      return given.some((sig) => {
        const bytes = Buffer.from(sig);
        return bytes.length === expected.length && timingSafeEqual(bytes, expected);
      });
    });
    let order: unknown = body;
    try {
      order = JSON.parse(body);
    } catch {
      // logged as text
    }
    request.log.info({ webhookId: id, signatureValid: signed, order }, 'demo: order received');
    reply.code(200);
    return { received: true, signature_valid: signed };
  });
};
