import { StreamableFile } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { FastifyReply } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { isStream } from './request-deadlines.js';

/**
 * Nest's Fastify adapter, except for a handler that returns after its request's deadline answered it
 * (request-deadlines.ts). Nest hands that late answer to `reply.send`, which Fastify refuses with a warning and a stack
 * trace, "Reply was already sent, did you forget to "return reply" ...?": one such line for every request a slow
 * database cut short, worded as a bug in the route. The answer is dropped here without a word (the 503 it came after
 * is logged and counted), and a stream in it is destroyed so that its source, a GridFS cursor, is let go.
 */
export class LateAnswerAdapter extends FastifyAdapter {
  override reply(response: FastifyReply | ServerResponse, body: unknown, statusCode?: number): FastifyReply {
    const answered = 'sent' in response ? response.sent : response.headersSent;
    if (!answered) return super.reply(response, body, statusCode);
    streamOf(body)?.destroy();
    return response as FastifyReply;
  }
}

function streamOf(body: unknown): Readable | undefined {
  if (body instanceof StreamableFile) return body.getStream();
  return isStream(body) ? body : undefined;
}
