import { UnsupportedMediaTypeException } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { hasNoBody } from './other-body-types.js';
import { closeWithAnswer } from './unread-body.js';

/**
 * Multipart bodies go to upload routes (`@FileUpload()`) only. Elsewhere @fastify/multipart accepts the content type
 * but leaves the body unread, so a PATCH sent as a form passed validation as an empty change: 200, nothing changed.
 */
export function refuseMultipartOutsideUploads(fastify: FastifyInstance): void {
  fastify.addHook('preValidation', (request, _reply, done) => {
    const multipart = request.headers['content-type']?.trimStart().toLowerCase().startsWith('multipart/') === true;
    if (multipart && !request.routeOptions.config.fileUpload) {
      done(new UnsupportedMediaTypeException('Only uploads take multipart bodies; send this request as JSON'));
      return;
    }
    done();
  });
}

/**
 * Content-Encoding names the codings of a request's body (RFC 9110 §8.4), which @fastify/compress undoes in its
 * preParsing hook, reading the header as given. Read here first, on every request:
 * - A request without a body has nothing to decode, and loses the header: clients that compress every request label a
 *   bodiless logout too, and gunzip of no bytes was a 400 ("Could not decompress") until 2026-12-06.
 * - Coding names are case-insensitive (§8.4.1): the header is lowered, or `GZip` was a 415.
 * - Uploads take no Content-Encoding. @fastify/compress decompresses a request body by reading the connection into a
 *   gunzip stream, while @fastify/multipart reads the same connection itself: a gzip-encoded form was answered "closed
 *   before its body was read" (400), and one over a few hundred KiB stalled both readers until the upload's deadline
 *   (503 after 40 s, which tells a client to retry). Images are compressed already, so such an upload is refused from
 *   its headers, unread, with the coding it may use (RFC 9110 §15.5.16), before the decompression starts.
 */
export function readContentEncoding(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    const { headers } = request;
    if (headers['content-encoding'] === undefined) return done();
    if (hasNoBody(request)) {
      delete headers['content-encoding'];
      return done();
    }
    const encoding = (headers['content-encoding'] = headers['content-encoding'].trim().toLowerCase());
    if (!request.routeOptions.config.fileUpload || !encoding || encoding === 'identity') return done();
    void reply.header('accept-encoding', 'identity');
    closeWithAnswer(reply);
    done(new UnsupportedMediaTypeException(`Uploads are sent without a Content-Encoding, not ${encoding}`));
  });
}
