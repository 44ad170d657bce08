import { ApiExtension } from '@nestjs/swagger';

/** `x-head: <summary>` on a GET operation: openapi.ts documents a HEAD beside it, and removes the extension. */
export const HEAD_EXTENSION = 'x-head';

/**
 * Fastify answers HEAD on every GET route with the GET handler, and Swagger documents GETs only. For a route where a
 * HEAD is part of the contract (a media download: size and validators without the bytes), this documents one: the
 * GET's parameters and answers, under its own operationId.
 */
export const ApiHead = (summary: string): MethodDecorator => ApiExtension(HEAD_EXTENSION, summary);
