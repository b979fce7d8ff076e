// Error bodies per surface (DESIGN.md): botgate's own API shape here; channel surfaces register theirs.
import type { FastifyReply } from 'fastify';
import { apiErrorBody, type BotgateError } from '../errors.ts';

export type ErrorFormat = (error: BotgateError, reply: FastifyReply) => unknown;

const formats = new Map<string, ErrorFormat>([['api', (error) => apiErrorBody(error)]]);

export function registerErrorFormat(surface: string, format: ErrorFormat): void {
  formats.set(surface, format);
}

export function errorFormat(surface: string | undefined): ErrorFormat {
  return formats.get(surface ?? 'api') ?? formats.get('api')!;
}
