// onRequest hook for management routes: `Authorization: Bearer <admin token>`, else 401.
import type { FastifyRequest } from 'fastify';
import type { AdminAuth } from '../admin-token.ts';
import { BotgateError } from '../errors.ts';

export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  const match = /^bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}

export function requireAdmin(auth: AdminAuth) {
  return async (request: FastifyRequest) => {
    const token = bearerToken(request);
    if (!token || !(await auth.verify(token))) {
      throw new BotgateError('BG_ERR_UNAUTHORIZED', token ? 'The admin token is not valid' : 'Send the admin token as Authorization: Bearer <token>', {
        headers: { 'www-authenticate': 'Bearer' },
      });
    }
  };
}
