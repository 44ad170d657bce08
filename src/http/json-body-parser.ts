import { BadRequestException } from '@nestjs/common';
import type { FastifyBodyParser, FastifyInstance } from 'fastify';
import { isUtf8 } from 'node:buffer';

export const NOT_UTF8_DETAIL = 'The body is not valid UTF-8, the encoding JSON is exchanged in (RFC 8259, section 8.1)';

export const FORBIDDEN_KEY_DETAIL =
  'The body has a "__proto__" key, or a "constructor" key holding "prototype"; such keys are not accepted';

/**
 * Fastify's JSON parser, refusing prototype-poisoning keys as it does (onProtoPoisoning and onConstructorPoisoning
 * 'error'), with an answer that says so. Fastify's own answer to such a body is the one it gives to broken JSON, "Body
 * is not valid JSON", which sends a client looking for a syntax error in valid JSON. Only a refused body is parsed a
 * second time, to tell the two apart.
 *
 * An empty body is no body, as it is without the content type: many clients set `Content-Type: application/json` on
 * every request, and Fastify's 400 for it ("Body cannot be empty") refused a logout or a cancel sent so. A route that
 * needs a body still refuses a missing one (RequestValidationPipe); one that takes none lets it through
 * (UnexpectedBodyGuard).
 *
 * A body that is not UTF-8 is refused: decoded as it stands, each byte that is not UTF-8 became U+FFFD, and a bio or
 * a password sent in Latin-1 (a `charset=iso-8859-1` client) was stored with "�" where its accents were.
 */
export function jsonBodyParser(fastify: FastifyInstance): FastifyBodyParser<Buffer> {
  const parse = fastify.getDefaultJsonParser('error', 'error') as unknown as FastifyBodyParser<Buffer>;
  return (request, body, done) => {
    if (body.length === 0) {
      done(null, undefined);
      return;
    }
    if (!isUtf8(body)) {
      done(new BadRequestException(NOT_UTF8_DETAIL), undefined);
      return;
    }
    void parse(request, body, (error: Error | null, parsed?: unknown) => {
      done(error && isValidJson(body) ? new BadRequestException(FORBIDDEN_KEY_DETAIL) : error, parsed);
    });
  };
}

function isValidJson(body: Buffer): boolean {
  try {
    // secure-json-parse, under Fastify's parser, skips a leading byte-order mark; JSON.parse does not.
    JSON.parse(body.toString('utf8').replace(/^\uFEFF/, ''));
    return true;
  } catch {
    return false;
  }
}
