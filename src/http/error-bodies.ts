// Error bodies per surface (DESIGN.md): botgate's own API shape here; channel surfaces register theirs.
import type { FastifyReply } from 'fastify';
import { apiErrorBody, type BotgateError } from '../errors.ts';

export type ErrorFormat = (error: BotgateError, reply: FastifyReply) => unknown;

const formats = new Map<string, ErrorFormat>([['api', (error) => apiErrorBody(error)]]);
/** URL prefixes whose unknown routes answer in another surface's shape. */
const prefixes: [string, string][] = [];

export function registerErrorFormat(surface: string, format: ErrorFormat): void {
  formats.set(surface, format);
}

export function registerErrorPrefix(prefix: string, surface: string): void {
  prefixes.push([prefix, surface]);
}

/** The surface an unrouted URL belongs to. */
export function surfaceOf(url: string): string {
  return prefixes.find(([prefix]) => url.startsWith(prefix))?.[1] ?? 'api';
}

export function errorFormat(surface: string | undefined): ErrorFormat {
  return formats.get(surface ?? 'api') ?? formats.get('api')!;
}
