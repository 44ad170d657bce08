import type { FastifyRequest } from 'fastify';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/**
 * For a request no route matched: the methods its path is served with, so the client gets 405 and `Allow`
 * (RFC 9110, section 15.5.6) rather than a 404 claiming the resource does not exist. Empty when a route matched, when
 * the path is unknown, and when a route takes this method and found nothing (a missing file under Swagger UI's
 * `/docs/*`, which calls the not-found handler itself). OPTIONS is left out: the CORS plugin answers it on every path.
 *
 * A path some method serves as a route of its own (`/v1/profiles/me`) is that resource: the methods that reach it
 * only through a parameter (`PATCH /v1/profiles/:id`, with "me" as the id) are not its methods, and were listed
 * until 2026-12-06, so a client that followed Allow got "id must be a 24-character hexadecimal ObjectId".
 *
 * A match that leaves a parameter empty (`/v1/profiles/`, the :id route with id "") is no method of the path either:
 * Nest's adapter passes such a request to the not-found handler, so a 405 listed methods that each answered 404.
 */
export function allowedMethods(request: FastifyRequest): string[] {
  if (request.routeOptions.url !== undefined) return [];
  const path = request.url.split('?')[0];
  const matches = METHODS.flatMap((method) => {
    const route = request.server.findRoute({ method, url: path });
    if (!route || hasEmptyParam(route.params)) return [];
    return [{ method, params: Object.keys(route.params).length }];
  });
  const fewestParams = Math.min(...matches.map(({ params }) => params));
  const allowed: string[] = matches.filter(({ params }) => params === fewestParams).map(({ method }) => method);
  return allowed.includes(request.method) ? [] : allowed;
}

/** As Nest's FastifyAdapter decides (requireNonEmptyParams): only a wildcard may be empty. */
function hasEmptyParam(params: Record<string, string | undefined>): boolean {
  return Object.entries(params).some(([name, value]) => value === '' && name !== '*');
}
