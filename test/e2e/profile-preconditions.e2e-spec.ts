import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAccount, type Account } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

/**
 * A client that sends a precondition asks for the write only while the profile is as it read it (RFC 9110 §13.1): a
 * change made in between (another device, a moderator) must get 412 and stay, never be overwritten.
 */
describe('profile writes with preconditions', () => {
  let running: RunningApp;
  let url: string;

  beforeAll(async () => {
    running = await startApp(testConfig());
    url = running.url;
  });

  afterAll(async () => {
    await running.close();
  });

  const send = (method: string, path: string, account: Account, headers: Record<string, string>, body?: unknown) =>
    fetch(`${url}${path}`, {
      method,
      headers: { ...account.auth, ...headers, ...(body !== undefined && { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const displayNameOf = async (id: string, account: Account) =>
    ((await (await send('GET', `/v1/profiles/${id}`, account, {})).json()) as { displayName: string }).displayName;
  /** A profile last changed a minute ago, so that a change now is in a later second. */
  const profileOf = async (account: Account, visibility: 'public' | 'hidden' = 'public') => {
    const { id } = await createProfile(url, account, { displayName: 'Ann', visibility });
    await running.app
      .get<Connection>(getConnectionToken())
      .collection('profiles')
      .updateOne({ _id: new Types.ObjectId(id) }, { $set: { updatedAt: new Date(Date.now() - 60_000) } });
    const read = (await (await send('GET', `/v1/profiles/${id}`, account, {})).json()) as { updatedAt: string };
    return { id, readAt: new Date(read.updatedAt).toUTCString() };
  };

  it('refuses a PATCH or DELETE whose If-Match names a tag, which the weak ETags never match, and keeps the profile', async () => {
    const ann = await registerAccount(url, 'ann');
    const { id } = await profileOf(ann);
    const readTag = (await send('GET', `/v1/profiles/${id}`, ann, {})).headers.get('etag')!;
    expect(readTag).toMatch(/^W\//);

    const patch = await send('PATCH', `/v1/profiles/${id}`, ann, { 'if-match': readTag }, { displayName: 'Old' });
    expect(patch.status).toBe(412);
    expect(patch.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await send('DELETE', `/v1/profiles/${id}`, ann, { 'if-match': readTag })).status).toBe(412);
    expect(
      (await send('PATCH', `/v1/profiles/${id}`, ann, { 'if-none-match': '*' }, { displayName: 'Xavier' })).status,
    ).toBe(412);
    expect(await displayNameOf(id, ann)).toBe('Ann');

    const any = await send('PATCH', `/v1/profiles/${id}`, ann, { 'if-match': '*' }, { displayName: 'Any' });
    expect(any.status).toBe(200);
    expect(await displayNameOf(id, ann)).toBe('Any');
  });

  it('applies a write with If-Unmodified-Since while the profile is unchanged, and refuses it after a change', async () => {
    const ann = await registerAccount(url, 'ann');
    const { id, readAt } = await profileOf(ann);
    // Another device changes the profile after the read.
    expect((await send('PATCH', `/v1/profiles/${id}`, ann, {}, { displayName: 'Ann from the phone' })).status).toBe(
      200,
    );

    const stale = { 'if-unmodified-since': readAt };
    expect((await send('PATCH', `/v1/profiles/${id}`, ann, stale, { displayName: 'Old' })).status).toBe(412);
    expect((await send('DELETE', `/v1/profiles/${id}`, ann, stale)).status).toBe(412);
    expect(await displayNameOf(id, ann)).toBe('Ann from the phone');

    const fresh = { 'if-unmodified-since': new Date().toUTCString() };
    expect((await send('PATCH', `/v1/profiles/${id}`, ann, fresh, { displayName: 'Ann, again' })).status).toBe(200);
    expect(await displayNameOf(id, ann)).toBe('Ann, again');
    expect(
      (await send('DELETE', `/v1/profiles/${id}`, ann, { 'if-unmodified-since': new Date().toUTCString() })).status,
    ).toBe(204);
  });

  it('makes a hidden profile public with If-Unmodified-Since while it is unchanged', async () => {
    const ann = await registerAccount(url, 'ann');
    const { id, readAt } = await profileOf(ann, 'hidden');

    // The write recording publicSince comes first: it must not count as a change made since the client's read.
    const unchanged = { 'if-unmodified-since': readAt };
    const shown = await send('PATCH', `/v1/profiles/${id}`, ann, unchanged, { visibility: 'public' });
    expect(shown.status).toBe(200);
    expect(((await shown.json()) as { visibility: string }).visibility).toBe('public');
  });

  it('ignores If-Unmodified-Since on a PATCH of a profile stored without updatedAt, as DELETE does', async () => {
    const ann = await registerAccount(url, 'ann');
    const { id } = await createProfile(url, ann, { displayName: 'Ann' });
    // A document written before timestamps: it has no modification date, so the condition cannot be evaluated.
    await running.app
      .get<Connection>(getConnectionToken())
      .collection('profiles')
      .updateOne({ _id: new Types.ObjectId(id) }, { $unset: { updatedAt: '' } });
    const since = { 'if-unmodified-since': new Date().toUTCString() };

    const patch = await send('PATCH', `/v1/profiles/${id}`, ann, since, { displayName: 'Ann, edited' });
    expect(patch.status).toBe(200);
    expect(await displayNameOf(id, ann)).toBe('Ann, edited');
    expect((await send('DELETE', `/v1/profiles/${id}`, ann, {})).status).toBe(204);
  });

  it('answers 404 and 403 before 412: a precondition is not evaluated for a write that would be refused anyway', async () => {
    const ann = await registerAccount(url, 'ann');
    const bob = await registerAccount(url, 'bob');
    const { id } = await profileOf(ann);
    const never = { 'if-match': '"x"' };
    expect((await send('PATCH', `/v1/profiles/${id}`, bob, never, { displayName: 'Bob' })).status).toBe(403);
    expect((await send('DELETE', `/v1/profiles/${id}`, bob, never)).status).toBe(403);
    const missing = new Types.ObjectId().toHexString();
    expect((await send('PATCH', `/v1/profiles/${missing}`, ann, never, { displayName: 'Ann' })).status).toBe(404);
    expect((await send('DELETE', `/v1/profiles/${missing}`, ann, never)).status).toBe(404);
  });
});
