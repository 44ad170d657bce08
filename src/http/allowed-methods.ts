import type { FastifyRequest } from 'fastify';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/**
 * For a request no route matched: the methods its path is served with, so the client gets 405 and `Allow`
 * (RFC 9110, section 15.5.6) rather than a 404 claiming the resource does not exist. Empty when a route matched, when
 * the path is unknown, and when a route takes this method and found nothing (a missing file under Swagger UI's
 * `/docs/*`, which calls the not-found handler itself). OPTIONS is left out: the CORS plugin answers it on every path.
 */
export function allowedMethods(request: FastifyRequest): string[] {
  if (request.routeOptions.url !== undefined) return [];
  const path = request.url.split('?')[0];
  const allowed: string[] = METHODS.filter((method) => request.server.findRoute({ method, url: path }));
  return allowed.includes(request.method) ? [] : allowed;
}
