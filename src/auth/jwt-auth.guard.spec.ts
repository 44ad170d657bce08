import { UnauthorizedException, type ExecutionContext } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import type { JwtService } from '@nestjs/jwt';
import { describe, expect, it, vi } from 'vitest';
import { IS_PUBLIC } from './decorators/public.decorator.js';
import { IGNORES_TOKEN } from './decorators/token-ignored.decorator.js';
import { JwtAuthGuard } from './jwt-auth.guard.js';
import type { AccountSessions } from './session-state.js';
import type { SessionsService } from './sessions.service.js';

const TOKEN = 'aaa.bbb.ccc';
const USER_ID = '5f1d7f3a9b1e8a0012345678';
const SESSION_ID = 'c2Vzc2lvbi1vbmUtaWQtMQ';
const OTHER_SESSION_ID = 'c2Vzc2lvbi10d28taWQtMg';

/** An account's sessions at `version`, with `ended` sessions ended one by one. */
const account = (version: number, ended: string[] = []): AccountSessions => ({ version, ended });

/** Account sessions as SessionsService gives them: `memory` what this instance holds, `stored` the loaded value. */
function fakeSessions(stored: () => Promise<AccountSessions | null> = () => Promise.resolve(account(0))) {
  const memory = new Map<string, AccountSessions | null>();
  const sessions = {
    memory,
    cached: vi.fn((userId: string) => memory.get(userId)),
    forgetCached: vi.fn((userId: string) => memory.delete(userId)),
    current: vi.fn(async (userId: string) => {
      const loaded = await stored();
      memory.set(userId, loaded);
      return loaded;
    }),
  };
  return sessions;
}

class Controller {}
const handler = () => undefined;

function setup(
  claims: () => Promise<Record<string, unknown>>,
  authorization = `Bearer ${TOKEN}`,
  sessions = fakeSessions(),
  metadata: Record<string, boolean> = {},
) {
  const verifyAsync = vi.fn(claims);
  const guard = new JwtAuthGuard(
    { verifyAsync } as unknown as JwtService,
    {
      getAllAndOverride: (key: string) => metadata[key] ?? false,
    } as unknown as Reflector,
    sessions as unknown as SessionsService,
  );
  const request: { headers: Record<string, string>; user?: unknown; session?: unknown } = {
    headers: { authorization },
  };
  const context = {
    switchToHttp: () => ({ getRequest: () => request }),
    getHandler: () => handler,
    getClass: () => Controller,
  } as unknown as ExecutionContext;
  return { guard, verifyAsync, request, context, sessions };
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

  it('reads no Authorization header on a @TokenIgnored() route: a bad one is let through, naming nobody', () => {
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer garbage', `Bearer ${TOKEN}`]) {
      const { guard, verifyAsync, request, context } = setup(
        () => Promise.reject(new Error('invalid signature')),
        authorization,
        fakeSessions(),
        { [IGNORES_TOKEN]: true },
      );
      expect(guard.canActivate(context), authorization).toBe(true);
      expect(verifyAsync).not.toHaveBeenCalled();
      expect(request.user).toBeUndefined();
    }
  });

  it('refuses a malformed Authorization header on a public route that does read it', () => {
    const { guard, context } = setup(() => Promise.resolve({}), 'Basic dXNlcjpwYXNz', fakeSessions(), {
      [IS_PUBLIC]: true,
    });
    expect(() => guard.canActivate(context)).toThrow(UnauthorizedException);
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

  describe('session versions', () => {
    const exp = () => Math.floor(Date.now() / 1000) + 60;

    it('answers synchronously, reading nothing, for a remembered token whose version this instance holds', async () => {
      const { guard, verifyAsync, request, context, sessions } = setup(() =>
        Promise.resolve({ sub: USER_ID, role: 'user', exp: exp(), sv: 2 }),
      );
      sessions.memory.set(USER_ID, account(2));
      await guard.canActivate(context);
      request.user = undefined;
      expect(guard.canActivate(context)).toBe(true);
      expect(request.user).toEqual({ id: USER_ID, role: 'user' });
      expect(verifyAsync).toHaveBeenCalledTimes(1);
      expect(sessions.current).not.toHaveBeenCalled();
    });

    it('loads the version when this instance does not hold it, then answers from memory', async () => {
      const { guard, context, sessions } = setup(() => Promise.resolve({ sub: USER_ID, role: 'user', exp: exp() }));
      await expect(guard.canActivate(context)).resolves.toBe(true);
      expect(guard.canActivate(context)).toBe(true);
      expect(sessions.current).toHaveBeenCalledTimes(1);
    });

    it('takes a token without the claim (issued before it existed) as version 0', async () => {
      const sessions = fakeSessions(() => Promise.resolve(account(0)));
      const { guard, context } = setup(
        () => Promise.resolve({ sub: USER_ID, role: 'user', exp: exp() }),
        undefined,
        sessions,
      );
      await expect(guard.canActivate(context)).resolves.toBe(true);
      sessions.memory.set(USER_ID, account(1)); // a logout-all
      expect(() => guard.canActivate(context)).toThrow(UnauthorizedException);
    });

    it('refuses a remembered token once its version is raised, and a token of an older version from the start', async () => {
      const { guard, verifyAsync, context, sessions } = setup(() =>
        Promise.resolve({ sub: USER_ID, role: 'user', exp: exp(), sv: 4 }),
      );
      sessions.memory.set(USER_ID, account(4));
      expect(await guard.canActivate(context)).toBe(true);
      sessions.memory.set(USER_ID, account(5));
      expect(() => guard.canActivate(context)).toThrow(/revoked/);
      expect(verifyAsync).toHaveBeenCalledTimes(1); // the check needs no second verification

      const older = setup(
        () => Promise.resolve({ sub: USER_ID, role: 'user', exp: exp(), sv: 3 }),
        undefined,
        fakeSessions(() => Promise.resolve(account(4))),
      );
      await expect(older.guard.canActivate(older.context)).rejects.toThrow(/revoked/);
    });

    it('asks again when a token is newer than the version held here (a change on another instance not heard of yet)', async () => {
      const { guard, context, sessions } = setup(
        () => Promise.resolve({ sub: USER_ID, role: 'user', exp: exp(), sv: 5 }),
        undefined,
        fakeSessions(() => Promise.resolve(account(5))),
      );
      sessions.memory.set(USER_ID, account(4));
      await expect(guard.canActivate(context)).resolves.toBe(true);
      expect(sessions.forgetCached).toHaveBeenCalledWith(USER_ID);
      expect(sessions.current).toHaveBeenCalledTimes(1);
      expect(guard.canActivate(context)).toBe(true); // held now
    });

    it('refuses the tokens of an account that no longer exists', async () => {
      const { guard, context } = setup(
        () => Promise.resolve({ sub: USER_ID, role: 'user', exp: exp() }),
        undefined,
        fakeSessions(() => Promise.resolve(null)),
      );
      await expect(guard.canActivate(context)).rejects.toThrow(/no longer exists/);
    });

    it('refuses a version claim that is not a whole number from 0 up', async () => {
      for (const sv of [-1, 1.5, '0', null]) {
        const { guard, context } = setup(() => Promise.resolve({ sub: USER_ID, role: 'user', exp: exp(), sv }));
        await expect(guard.canActivate(context), JSON.stringify(sv)).rejects.toThrow(UnauthorizedException);
      }
    });

    it("refuses a token whose own session was ended, from memory, while the account's other sessions go on", async () => {
      const claims = (sid: string) => () => Promise.resolve({ sub: USER_ID, role: 'user', exp: exp(), sv: 3, sid });
      const sessions = fakeSessions();
      const ended = setup(claims(SESSION_ID), undefined, sessions);
      const other = setup(claims(OTHER_SESSION_ID), 'Bearer other.token.value', sessions);
      sessions.memory.set(USER_ID, account(3));
      expect(await ended.guard.canActivate(ended.context)).toBe(true);

      sessions.memory.set(USER_ID, account(3, [SESSION_ID])); // its logout, heard of through the cache
      expect(() => ended.guard.canActivate(ended.context)).toThrow(/revoked/);
      await expect(other.guard.canActivate(other.context)).resolves.toBe(true);
      expect(sessions.current).not.toHaveBeenCalled();
    });

    it('refuses a token whose ended session is in the list it loads', async () => {
      const { guard, context } = setup(
        () => Promise.resolve({ sub: USER_ID, role: 'user', exp: exp(), sv: 1, sid: SESSION_ID }),
        undefined,
        fakeSessions(() => Promise.resolve(account(1, [OTHER_SESSION_ID, SESSION_ID]))),
      );
      await expect(guard.canActivate(context)).rejects.toThrow(/revoked/);
    });

    it('checks a token without a session id (issued before ids) by its version alone', async () => {
      const { guard, context, sessions } = setup(() =>
        Promise.resolve({ sub: USER_ID, role: 'user', exp: exp(), sv: 2 }),
      );
      sessions.memory.set(USER_ID, account(2, [SESSION_ID]));
      expect(await guard.canActivate(context)).toBe(true);
    });

    it("hands the token's session to the route (what a logout ends)", async () => {
      const expiresAt = exp();
      const { guard, request, context } = setup(() =>
        Promise.resolve({ sub: USER_ID, role: 'user', exp: expiresAt, sv: 0, sid: SESSION_ID }),
      );
      await expect(guard.canActivate(context)).resolves.toBe(true);
      expect(request.session).toEqual({ id: SESSION_ID, version: 0, expiresAtMs: expiresAt * 1000 });
    });

    it('refuses a session id that is not base64url of 128 bits or more', async () => {
      for (const sid of [7, null, '', 'short', `${SESSION_ID}+/`, 'x'.repeat(65), { $ne: null }]) {
        const { guard, context } = setup(() => Promise.resolve({ sub: USER_ID, role: 'user', exp: exp(), sid }));
        await expect(guard.canActivate(context), JSON.stringify(sid)).rejects.toThrow(UnauthorizedException);
      }
    });

    it('passes on a failure to load the version as it is (a database outage is a 503, not a 401)', async () => {
      const outage = new Error('server selection timed out');
      const { guard, context } = setup(
        () => Promise.resolve({ sub: USER_ID, role: 'user', exp: exp() }),
        undefined,
        fakeSessions(() => Promise.reject(outage)),
      );
      await expect(guard.canActivate(context)).rejects.toBe(outage);
    });
  });
});
