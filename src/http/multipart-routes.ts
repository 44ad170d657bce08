import { UnsupportedMediaTypeException } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';

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
