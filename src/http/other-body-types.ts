import { NotFoundException, UnsupportedMediaTypeException } from '@nestjs/common';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** What an upload route says it takes when sent a body of another type. */
export const UPLOADS_TAKE = 'Uploads are multipart/form-data with the file in the field "file"';

/**
 * Every content type without a parser of its own (JSON and multipart have theirs). No body is no body whatever type it
 * is labelled with: some clients label every POST, a body or not, as a form (jQuery's default) or as text, and
 * Fastify answered such a bodiless logout or cancel with 415, before the route was even found to take no body. A body
 * of such a type is refused at once, unread, with a 415 that names the type the route takes (multipart on uploads), or
 * with the 404 or 405 of a request no route takes.
 */
export function registerOtherBodyTypes(fastify: FastifyInstance): void {
  fastify.addContentTypeParser('*', (request, _payload, done) => {
    if (hasNoBody(request)) {
      done(null, undefined);
      return;
    }
    // No route takes this request: its answer is the router's 404 (or 405, ProblemDetailsFilter), not "send JSON".
    if (request.routeOptions.url === undefined) {
      done(new NotFoundException());
      return;
    }
    // A body sent without any Content-Type reaches this parser too; "not <type>" would name nothing.
    const type = request.headers['content-type']?.split(';')[0]?.trim();
    const got = type ? `, not ${type}` : '; this one has no Content-Type';
    // An upload route takes a form, not JSON: an image sent as the raw body is told so.
    const takes = request.routeOptions.config.fileUpload
      ? UPLOADS_TAKE
      : 'Request bodies are JSON (Content-Type: application/json)';
    done(new UnsupportedMediaTypeException(`${takes}${got}`));
  });
}

/** RFC 9112 §6.3: without Content-Length or Transfer-Encoding a request has no body. */
export function hasNoBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return length === '0' || (length === undefined && request.headers['transfer-encoding'] === undefined);
}
