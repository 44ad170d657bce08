import { UnauthorizedException, type ExecutionContext } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import type { JwtService } from '@nestjs/jwt';
import { describe, expect, it, vi } from 'vitest';
import { JwtAuthGuard } from './jwt-auth.guard.js';

const TOKEN = 'aaa.bbb.ccc';

function setup(claims: () => Promise<Record<string, unknown>>) {
  const verifyAsync = vi.fn(claims);
  const guard = new JwtAuthGuard(
    { verifyAsync } as unknown as JwtService,
    {
      getAllAndOverride: () => false,
    } as unknown as Reflector,
  );
  const request: { headers: Record<string, string>; user?: unknown } = {
    headers: { authorization: `Bearer ${TOKEN}` },
  };
  const context = {
    switchToHttp: () => ({ getRequest: () => request }),
    getHandler: () => undefined,
    getClass: () => undefined,
  } as unknown as ExecutionContext;
  return { guard, verifyAsync, request, context };
}

describe('JwtAuthGuard', () => {
  it('verifies a token once and reuses the result until it expires', async () => {
    const exp = Math.floor(Date.now() / 1000) + 60;
    const { guard, verifyAsync, request, context } = setup(() => Promise.resolve({ sub: 'u1', role: 'user', exp }));
    await guard.canActivate(context);
    await guard.canActivate(context);
    expect(verifyAsync).toHaveBeenCalledTimes(1);
    expect(request.user).toEqual({ id: 'u1', role: 'user' });
  });

  it('verifies again once the remembered expiry has passed', async () => {
    const { guard, verifyAsync, context } = setup(() =>
      Promise.resolve({ sub: 'u1', role: 'user', exp: Math.floor(Date.now() / 1000) - 1 }),
    );
    await guard.canActivate(context);
    await guard.canActivate(context);
    expect(verifyAsync).toHaveBeenCalledTimes(2);
  });

  it('never remembers a rejected token', async () => {
    const { guard, verifyAsync, context } = setup(() => Promise.reject(new Error('invalid signature')));
    await expect(guard.canActivate(context)).rejects.toThrow(UnauthorizedException);
    await expect(guard.canActivate(context)).rejects.toThrow(UnauthorizedException);
    expect(verifyAsync).toHaveBeenCalledTimes(2);
  });

  it('rejects claims with an unknown role', async () => {
    const { guard, context } = setup(() => Promise.resolve({ sub: 'u1', role: 'superuser', exp: 9e9 }));
    await expect(guard.canActivate(context)).rejects.toThrow(UnauthorizedException);
  });
});
