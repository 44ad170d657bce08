import { UnauthorizedException, type ExecutionContext } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import type { JwtService } from '@nestjs/jwt';
import { describe, expect, it, vi } from 'vitest';
import { JwtAuthGuard } from './jwt-auth.guard.js';

const TOKEN = 'aaa.bbb.ccc';
const USER_ID = '5f1d7f3a9b1e8a0012345678';

function setup(claims: () => Promise<Record<string, unknown>>, authorization = `Bearer ${TOKEN}`) {
  const verifyAsync = vi.fn(claims);
  const guard = new JwtAuthGuard(
    { verifyAsync } as unknown as JwtService,
    {
      getAllAndOverride: () => false,
    } as unknown as Reflector,
  );
  const request: { headers: Record<string, string>; user?: unknown } = {
    headers: { authorization },
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
    const { guard, verifyAsync, request, context } = setup(() => Promise.resolve({ sub: USER_ID, role: 'user', exp }));
    await guard.canActivate(context);
    await guard.canActivate(context);
    expect(verifyAsync).toHaveBeenCalledTimes(1);
    expect(request.user).toEqual({ id: USER_ID, role: 'user' });
  });

  it('verifies again once the remembered expiry has passed', async () => {
    const { guard, verifyAsync, context } = setup(() =>
      Promise.resolve({ sub: USER_ID, role: 'user', exp: Math.floor(Date.now() / 1000) - 1 }),
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
    const { guard, context } = setup(() => Promise.resolve({ sub: USER_ID, role: 'superuser', exp: 9e9 }));
    await expect(guard.canActivate(context)).rejects.toThrow(UnauthorizedException);
  });

  it('rejects a subject that is not an ObjectId, and a token that never expires', async () => {
    for (const claims of [
      { sub: 'not-an-object-id', role: 'user', exp: 9e9 },
      { sub: { $ne: null }, role: 'user', exp: 9e9 },
      { sub: USER_ID, role: 'user' },
    ]) {
      const { guard, context } = setup(() => Promise.resolve(claims));
      await expect(guard.canActivate(context), JSON.stringify(claims)).rejects.toThrow(UnauthorizedException);
    }
  });

  it('takes the Bearer scheme in any case', async () => {
    const { guard, request, context } = setup(
      () => Promise.resolve({ sub: USER_ID, role: 'user', exp: 9e9 }),
      `bearer ${TOKEN}`,
    );
    await expect(guard.canActivate(context)).resolves.toBe(true);
    expect(request.user).toEqual({ id: USER_ID, role: 'user' });
  });
});
