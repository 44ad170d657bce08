import { BadRequestException, Injectable, type CanActivate, type ExecutionContext, type Type } from '@nestjs/common';
import { PARAMTYPES_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum.js';
import type { FastifyRequest } from 'fastify';
import { validationExceptionFactory } from '../problem/validation-exception.factory.js';
import { queryDecodes } from './query-encoding.js';
import { unknownPropertyError } from './unknown-property-error.js';

/** The query parameters a handler takes: `dto` when a class validates the whole query string, else the names it reads. */
type QueryDeclaration = 'dto' | ReadonlySet<string>;

export const QUERY_NOT_DECODED = 'The query string is not valid: check its percent-encoding (text is UTF-8)';

/** Parameter types ValidationPipe does not validate (its toValidate): a whole query typed so is checked by nobody. */
const NOT_VALIDATED: readonly unknown[] = [String, Boolean, Number, Array, Object, Buffer, Date];

/**
 * One rule for every /v1 route (decision 0027): a query parameter the route does not declare is a 400 problem that names
 * it, so `?limt=5` is a visible mistake and a junk parameter never makes a new cache key. Routes with a query DTO get
 * this from RequestValidationPipe (forbidNonWhitelisted); this guard refuses the same way on the routes without one,
 * which would otherwise ignore whatever they are sent. It is registered after the auth and rate-limit guards (see
 * AppModule), so a refused request is authenticated and counted first, as one the pipe refuses is. /health is left
 * alone: probes and monitoring tools add parameters of their own. A query string that does not decode (a broken escape,
 * or bytes that are not UTF-8) is a 400 here too, on every /v1 route, as the same bytes in the path are.
 */
@Injectable()
export class UnknownQueryParamsGuard implements CanActivate {
  private readonly declarations = new WeakMap<object, QueryDeclaration>();

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const names = Object.keys(request.query as object);
    if (names.length === 0 || !request.routeOptions.url?.startsWith('/v1/')) return true;
    if (!queryDecodes(request.url)) throw new BadRequestException(QUERY_NOT_DECODED);
    const declared = this.declarationOf(context);
    if (declared === 'dto') return true;
    const unknown = names.filter((name) => !declared.has(name));
    if (unknown.length === 0) return true;
    throw validationExceptionFactory(unknown.map(unknownPropertyError));
  }

  private declarationOf(context: ExecutionContext): QueryDeclaration {
    const handler = context.getHandler();
    let declared = this.declarations.get(handler);
    if (!declared) this.declarations.set(handler, (declared = queryDeclaration(context.getClass(), handler.name)));
    return declared;
  }
}

function queryDeclaration(controller: Type, method: string): QueryDeclaration {
  const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, method) ?? {}) as Record<
    string,
    { index: number; data?: unknown }
  >;
  const types = (Reflect.getMetadata(PARAMTYPES_METADATA, controller.prototype as object, method) ?? []) as unknown[];
  const names = new Set<string>();
  for (const [key, { index, data }] of Object.entries(args)) {
    if (key !== `${RouteParamtypes.QUERY}:${index}`) continue;
    if (typeof data === 'string') names.add(data);
    // A whole-query parameter typed with a class: RequestValidationPipe validates it and refuses what it lacks.
    else if (typeof types[index] === 'function' && !NOT_VALIDATED.includes(types[index])) return 'dto';
  }
  return names;
}
