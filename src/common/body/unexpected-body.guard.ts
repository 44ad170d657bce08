import { BadRequestException, Injectable, type CanActivate, type ExecutionContext, type Type } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum.js';
import type { FastifyRequest } from 'fastify';
import { VALIDATION_PROBLEM_TYPE, type FieldError } from '../problem/problem-details.js';
import { toFieldErrors } from '../problem/validation-exception.factory.js';
import { unknownPropertyError } from '../query/unknown-property-error.js';

export const BODY_NOT_TAKEN_DETAIL = 'This route takes no request body; send none, or an empty JSON object ({})';

/**
 * A route that takes no body refuses one with a 400 problem, as routes with a body DTO refuse a field they do not take
 * (forbidNonWhitelisted): `POST /v1/auth/logout` with `{"all": true}` was a 204 that did not do what its caller meant.
 * A route takes a body when its handler has a `@Body()` (or `@RawBody()`) parameter; an upload reads its multipart
 * body itself, which never reaches `request.body` (and multipart bodies elsewhere get 415, multipart-routes.ts).
 *
 * What counts as no body: none, whatever its `Content-Type` (json-body-parser.ts, other-body-types.ts), and `{}`.
 * Neither carries a field, so nothing the client meant is ignored, and clients send them on their own: many label
 * every request as JSON or as a form, and many send `{}` on every POST. Anything else (a field, an array, a string, a
 * number, `null`) is refused, its fields named one by one in `errors` as the whitelist names them.
 *
 * Registered after the auth and rate-limit guards (see AppModule), as UnknownQueryParamsGuard is, so a 401 stays a 401
 * and a refused request is counted. GET and HEAD bodies are never read (Fastify does not parse them), so never refused.
 */
@Injectable()
export class UnexpectedBodyGuard implements CanActivate {
  private readonly takesBody = new WeakMap<object, boolean>();

  canActivate(context: ExecutionContext): boolean {
    const { body, routeOptions } = context.switchToHttp().getRequest<FastifyRequest>();
    // An upload takes a body, multipart, which its handler reads itself: one of another type is its 415 to give.
    if (isNoBody(body) || routeOptions.config.fileUpload || this.routeTakesBody(context)) return true;
    throw new BadRequestException({
      type: VALIDATION_PROBLEM_TYPE,
      detail: BODY_NOT_TAKEN_DETAIL,
      errors: errorsOf(body),
    });
  }

  private routeTakesBody(context: ExecutionContext): boolean {
    const handler = context.getHandler();
    let takes = this.takesBody.get(handler);
    if (takes === undefined) this.takesBody.set(handler, (takes = hasBodyParameter(context.getClass(), handler.name)));
    return takes;
  }
}

function isNoBody(body: unknown): boolean {
  if (body === undefined) return true;
  return typeof body === 'object' && body !== null && !Array.isArray(body) && Object.keys(body).length === 0;
}

function errorsOf(body: unknown): FieldError[] {
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    return toFieldErrors(Object.keys(body).map(unknownPropertyError));
  }
  return [{ field: 'body', message: 'body should not exist' }];
}

function hasBodyParameter(controller: Type, method: string): boolean {
  const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, method) ?? {}) as Record<string, unknown>;
  const kinds = [RouteParamtypes.BODY, RouteParamtypes.RAW_BODY].map((kind) => `${kind}:`);
  return Object.keys(args).some((key) => kinds.some((kind) => key.startsWith(kind)));
}
