import { getConnectionToken } from '@nestjs/mongoose';
import { Types, type Collection, type Connection } from 'mongoose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { registerAccount, type Account } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { documentedCalls, type AnsweringCall, type JsonReply } from '../support/json-call.js';
import type { OpenApiConformance } from '../support/openapi-conformance.js';
import { startAppWithAdmin, type RunningApp } from '../support/test-app.js';

/**
 * Accounts as they were stored before a field existed (roles, session versions, timestamps), restored from an older
 * backup or edited by hand, written with the driver past mongoose: they work as if the schema's defaults were stored.
 * Until now an account without a role logged in (200, a token without a role) and every call with that token was 401,
 * so a client looped login, 401, login.
 */
describe('accounts stored without fields added later or with defaults', () => {
  let running: RunningApp;
  let url: string;
  let call: (...args: AnsweringCall) => Promise<JsonReply>;
  let conformance: OpenApiConformance;
  let admin: Account;
  let users: Collection;

  beforeAll(async () => {
    ({ running, admin } = await startAppWithAdmin('legacy-users'));
    url = running.url;
    ({ call, conformance } = await documentedCalls(url));
    users = running.app.get<Connection>(getConnectionToken()).collection('users');
  });

  // Every answer is held to the OpenAPI document (documentedCalls).
  afterEach(() => {
    expect(conformance.take()).toEqual([]);
  });

  afterAll(async () => {
    await running.close();
  });

  /** A member registered today, then stored as `change` ($set / $unset) leaves it; not logged in. */
  const legacyMember = async (change: Record<string, Record<string, unknown>>): Promise<Account> => {
    const member = await registerAccount(url);
    await users.updateOne({ _id: new Types.ObjectId(member.userId) }, change);
    return member;
  };

  const logIn = async (member: Account): Promise<{ session: Account; reply: JsonReply }> => {
    const reply = await call('POST', '/v1/auth/login', undefined, { email: member.email, password: member.password });
    expect(reply.status).toBe(200);
    const token = reply.body.accessToken as string;
    return { session: { ...member, token, auth: { authorization: `Bearer ${token}` } }, reply };
  };

  const shapes: [string, Record<string, Record<string, unknown>>][] = [
    ['no role', { $unset: { role: '' } }],
    ['a null role', { $set: { role: null } }],
    ['a role set by hand that no version knows', { $set: { role: 'Admin' } }],
    [
      'no role, session version nor timestamps',
      { $unset: { role: '', sessionVersion: '', createdAt: '', updatedAt: '' } },
    ],
    // An import that writes null for what it lacks, or numbers as text (CSV, JSON without types): logout-all and a
    // password change answered 500 ($inc on null), or every token was refused after a login (200, then 401).
    ['a null session version', { $set: { sessionVersion: null } }],
    ['a session version stored as text', { $set: { sessionVersion: '3' } }],
    ['a session version set by hand to no whole number', { $set: { sessionVersion: 1.5 } }],
  ];

  it.each(shapes)('takes an account with %s through every authenticated route, as a member', async (_shape, change) => {
    const member = await legacyMember(change);
    const { session, reply } = await logIn(member);
    const user = reply.body.user as Record<string, unknown>;
    expect(user.role).toBe('user');
    expect(new Date(user.createdAt as string).getTime()).not.toBeNaN();

    expect((await call('GET', '/v1/profiles/me', session)).status).toBe(404);
    const profile = await createProfile(url, session);
    expect((await call('GET', '/v1/profiles/me', session)).body.id).toBe(profile.id);
    expect((await call('PATCH', `/v1/profiles/${profile.id}`, session, { bio: 'Changed' })).status).toBe(200);
    // A member, never an admin.
    expect((await call('GET', '/v1/admin/subscriptions', session)).status).toBe(403);
    expect((await call('GET', '/v1/admin/monitoring/summary', session)).status).toBe(403);
    const other = await registerAccount(url);
    const othersProfile = await createProfile(url, other);
    expect((await call('PATCH', `/v1/profiles/${othersProfile.id}`, session, { bio: 'Mine now' })).status).toBe(403);
    expect((await call('DELETE', `/v1/profiles/${othersProfile.id}`, session)).status).toBe(403);

    const changed = await call('POST', '/v1/auth/password', session, {
      currentPassword: member.password,
      newPassword: 'another long password here',
    });
    expect(changed.status).toBe(200);
    expect((changed.body.user as Record<string, unknown>).role).toBe('user');
    const renewed = { ...member, auth: { authorization: `Bearer ${changed.body.accessToken as string}` } };
    expect((await call('GET', '/v1/profiles/me', renewed)).status).toBe(200);
    expect((await call('GET', '/v1/profiles/me', session)).status).toBe(401);

    expect((await call('POST', '/v1/auth/logout', renewed)).status).toBe(204);
    expect((await call('GET', '/v1/profiles/me', renewed)).status).toBe(401);
    const { session: again } = await logIn({ ...member, password: 'another long password here' });
    expect((await call('DELETE', `/v1/profiles/${profile.id}`, again)).status).toBe(204);
    expect((await call('POST', '/v1/auth/logout-all', again)).status).toBe(204);
    expect((await call('GET', '/v1/profiles/me', again)).status).toBe(401);
  });

  // The walk above changes the password first, which stores a damaged version as it is read: logout-all must do so too.
  it.each(shapes.filter(([shape]) => shape.includes('session version')))(
    'ends every session of an account with %s at its first logout-all',
    async (_shape, change) => {
      const { session } = await logIn(await legacyMember(change));
      expect((await call('GET', '/v1/profiles/me', session)).status).toBe(404);
      expect((await call('POST', '/v1/auth/logout-all', session)).status).toBe(204);
      expect((await call('GET', '/v1/profiles/me', session)).status).toBe(401);
    },
  );

  it('lets an admin act on the profile of an account stored without a role', async () => {
    const member = await legacyMember({ $unset: { role: '' } });
    const { session } = await logIn(member);
    const profile = await createProfile(url, session);
    expect((await call('PATCH', `/v1/profiles/${profile.id}`, admin, { bio: 'Moderated' })).status).toBe(200);
    expect((await call('DELETE', `/v1/profiles/${profile.id}`, admin)).status).toBe(204);
    expect((await call('GET', '/v1/admin/subscriptions', admin)).status).toBe(200);
  });
});
