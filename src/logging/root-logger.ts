import { pino, type Logger } from 'pino';

/**
 * The process's one pino logger: Fastify's request logs and Nest's application logs both write
 * through it. Redaction guards objects logged by hand; request logs never include headers or bodies.
 */
export function createRootLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'vesta-api' },
    redact: {
      paths: [
        'password',
        '*.password',
        'accessToken',
        '*.accessToken',
        'authorization',
        '*.authorization',
        '*.headers',
      ],
      censor: '[redacted]',
    },
  });
}
