import type { FastifyRequest } from 'fastify';

/** Why a request was answered 5xx, set by the problem filter for its request line (request-line.ts). */
const failures = new WeakMap<FastifyRequest, string>();

export function recordFailure(request: FastifyRequest, failure: string): void {
  failures.set(request, failure);
}

export function failureOf(request: FastifyRequest): string | undefined {
  return failures.get(request);
}
