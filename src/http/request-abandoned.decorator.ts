import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyReply } from 'fastify';

/**
 * A signal that aborts once nobody waits for this request's answer any more: its client left, or an answer already
 * went out (the deadline's 503). Work queued for such a request (a password hash waiting for a slot) can then give
 * its place up instead of being done for nobody. A response's `close` comes when its connection closes early, or
 * once it has been sent.
 */
export const RequestAbandoned = createParamDecorator((_data: unknown, context: ExecutionContext): AbortSignal => {
  const response = context.switchToHttp().getResponse<FastifyReply>().raw;
  const controller = new AbortController();
  if (response.destroyed || response.writableEnded) controller.abort();
  else response.once('close', () => controller.abort());
  return controller.signal;
});
