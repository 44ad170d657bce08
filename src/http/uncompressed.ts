import type { RouteOptions } from 'fastify';
import { mergeRouteConfig } from './route-config.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    uncompressed?: boolean;
  }
}

/**
 * The route's answers go out as stored, never content-coded: a file download whose strong ETag, Content-Length and
 * ranges are of its stored bytes. @fastify/compress gzips any type it deems compressible (a file of no known type is
 * application/octet-stream) under the same strong ETag, so a download cut short resumed with If-Range got a 206 of
 * the stored bytes to append to gzipped ones.
 */
export const Uncompressed = (): MethodDecorator => mergeRouteConfig({ uncompressed: true });

/** An onRoute hook added before @fastify/compress is registered, whose own onRoute hook reads `compress`. */
export function leaveUncompressed(route: RouteOptions): void {
  if (route.config?.uncompressed) route.compress = false;
}
