import type { ExecutionContext, Type } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';

/**
 * A Reflector lookup (handler first, then controller) memoised per route. Route metadata is fixed
 * once the app has started, and the reflect-metadata walks behind getAllAndOverride ran on every
 * request for every global guard.
 */
export function routeMetadata<T>(reflector: Reflector, key: string): (context: ExecutionContext) => T | undefined {
  const byController = new WeakMap<Type, Map<unknown, T | undefined>>();
  return (context) => {
    const controller = context.getClass();
    const handler = context.getHandler();
    let byHandler = byController.get(controller);
    if (!byHandler) byController.set(controller, (byHandler = new Map<unknown, T | undefined>()));
    if (!byHandler.has(handler)) byHandler.set(handler, reflector.getAllAndOverride<T>(key, [handler, controller]));
    return byHandler.get(handler);
  };
}
