// GET /api (and /api/): the management API's index — a link to each of its collections (its GET routes without a
// path parameter, found as they are registered), to the OpenAPI document and to the docs page.
import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../deps.ts';
import { errors } from '../schemas.ts';

const PREFIX = '/api';

/** Watches the routes registered on `api` (the admin-token plugin) from now on; the paths of its collections, sorted. */
export function collectionsOf(api: FastifyInstance): () => string[] {
  const paths = new Set<string>();
  api.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const hidden = (route.schema as { hide?: boolean } | undefined)?.hide === true;
    if (!methods.includes('GET') || hidden || /[:*]/.test(route.url) || !route.url.startsWith(`${PREFIX}/`) || route.url === `${PREFIX}/`) return;
    paths.add(route.url);
  });
  return () => [...paths].sort();
}

const ApiIndex = Type.Object({
  docs: Type.String({ description: 'the API docs page' }),
  openapi: Type.String({ description: 'the OpenAPI document' }),
  collections: Type.Record(Type.String(), Type.String(), { description: 'each collection (its path under /api) → its URL' }),
});

export const apiIndexRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps; collections: () => string[] }> = async (app, { deps, collections }) => {
  app.get('/', {
    schema: {
      tags: ['operations'], summary: 'The management API: a link to each collection, the OpenAPI document and the docs page',
      querystring: Type.Object({}, { additionalProperties: false }),
      response: { 200: ApiIndex, ...errors('BG_ERR_UNKNOWN_FIELD') },
    },
  }, async () => {
    const base = deps.publicBase();
    return {
      docs: `${base}/docs`,
      openapi: `${base}/openapi.json`,
      collections: Object.fromEntries(collections().map((path) => [path.slice(PREFIX.length + 1), `${base}${path}`])),
    };
  });
};
