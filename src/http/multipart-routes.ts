import { UnsupportedMediaTypeException } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
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
 * Uploads take no Content-Encoding. @fastify/compress decompresses a request body by reading the connection into a
 * gunzip stream, while @fastify/multipart reads the same connection itself: a gzip-encoded form was answered "closed
 * before its body was read" (400), and one over a few hundred KiB stalled both readers until the upload's deadline
 * (503 after 40 s, which tells a client to retry). Images are compressed already, so such an upload is refused from
 * its headers, unread, with the coding it may use (RFC 9110 §15.5.16), before the decompression starts.
 */
export function refuseEncodedUploads(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    const encoding = request.headers['content-encoding']?.trim().toLowerCase();
    if (!request.routeOptions.config.fileUpload || !encoding || encoding === 'identity') {
      done();
      return;
    }
    void reply.header('accept-encoding', 'identity');
    closeWithAnswer(reply);
    done(new UnsupportedMediaTypeException(`Uploads are sent without a Content-Encoding, not ${encoding}`));
  });
}
