// The pino logger: JSON lines on stdout, secrets redacted wherever they could appear.
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
