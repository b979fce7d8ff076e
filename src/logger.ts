// The pino logger: JSON lines on stdout, secrets redacted wherever they could appear.
import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import type { Config } from './config/schema.ts';

export function createLogger(config: Pick<Config, 'log_level'>) {
  return pino({
    level: config.log_level,
    redact: {
      paths: ['req.headers.authorization', 'req.headers["x-api-key"]', '*.secret', '*.token', '*.password', '*.client_secret', '*.auth_token'],
      censor: '[redacted]',
    },
  });
}

type Logger = FastifyBaseLogger;
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
const LEVELS: Record<string, number> = pino.levels.values;

/**
 * Fastify's per-request child logger, made only when the request logs at an enabled level: pino builds a child's
 * bindings through its redaction on every child() (1–2% of a small request's CPU), and most requests log nothing.
 */
class LazyChild {
  readonly #parent: Logger;
  readonly #bindings: Record<string, unknown>;
  readonly #options: Record<string, unknown>;
  #real: Logger | null = null;

  constructor(parent: Logger, bindings: Record<string, unknown>, options: Record<string, unknown>) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
  }

  #child(): Logger {
    return (this.#real ??= this.#parent.child(this.#bindings, this.#options));
  }

  #log(level: Level, args: unknown[]): void {
    if ((LEVELS[level] ?? 0) < (LEVELS[this.level] ?? Infinity)) return;
    (this.#child()[level] as (...a: unknown[]) => void)(...args);
  }

  get level(): string {
    return this.#real?.level ?? (typeof this.#options.level === 'string' ? this.#options.level : this.#parent.level);
  }
  set level(value: string) {
    this.#child().level = value;
  }
  fatal(...args: unknown[]) { this.#log('fatal', args); }
  error(...args: unknown[]) { this.#log('error', args); }
  warn(...args: unknown[]) { this.#log('warn', args); }
  info(...args: unknown[]) { this.#log('info', args); }
  debug(...args: unknown[]) { this.#log('debug', args); }
  trace(...args: unknown[]) { this.#log('trace', args); }
  silent() {}
  child(bindings: Record<string, unknown>, options?: Record<string, unknown>): Logger {
    return this.#child().child(bindings, options);
  }
}

export function lazyChildLogger(parent: Logger, bindings: Record<string, unknown>, options: object): Logger {
  return new LazyChild(parent, bindings, options as Record<string, unknown>) as unknown as Logger;
}
