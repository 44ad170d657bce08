import { getConnectionToken } from '@nestjs/mongoose';
import { Types, type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, registerAccount, type Account } from '../factories/accounts.js';
import { pngStructure } from '../factories/images.js';
import { createProfile } from '../factories/profiles.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

const ADMIN = { email: `profile-deletion-${Date.now()}@example.test`, password: 'an-admin-password-long-enough' };

describe('deleting a profile', () => {
  let running: RunningApp;
  let url: string;
  let adminAuth: Record<string, string>;

  beforeAll(async () => {
    running = await startApp(
      testConfig({ MEDIA_QUOTA_FILES: '3', ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password }),
    );
    url = running.url;
    const token = await login(url, ADMIN.email, ADMIN.password);
    adminAuth = { authorization: `Bearer ${token}` };
  });

  afterAll(async () => {
    await running.close();
  });

  const upload = async (account: Account) => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(pngStructure(300_000))]), 'p.png');
    return fetch(`${url}/v1/media`, { method: 'POST', headers: account.auth, body: form });
  };
  const uploaded = async (account: Account) => {
    const response = await upload(account);
    expect(response.status).toBe(201);
    return ((await response.json()) as { id: string }).id;
  };
  const statusOf = async (path: string) => {
    const response = await fetch(`${url}${path}`);
    await response.arrayBuffer();
    return response.status;
  };
  const remove = (auth: Record<string, string>, profileId: string) =>
    fetch(`${url}/v1/profiles/${profileId}`, { method: 'DELETE', headers: auth });

  it("deletes the photos it showed: they are no longer served, nor counted in the owner's quota", async () => {
    const member = await registerAccount(url);
    const photos = [await uploaded(member), await uploaded(member)];
    const unattached = await uploaded(member);
    const profile = await createProfile(url, member, { photoIds: photos });
    expect((await upload(member)).status).toBe(403); // three files: the quota is full

    expect((await remove(member.auth, profile.id)).status).toBe(204);
    expect(await statusOf(`/v1/profiles/${profile.id}`)).toBe(404);
    expect(await Promise.all(photos.map((id) => statusOf(`/v1/media/${id}`)))).toEqual([404, 404]);
    // An upload the profile did not show is the account's, not the profile's: it stays, and can be deleted itself.
    expect(await statusOf(`/v1/media/${unattached}`)).toBe(200);
    // The two deleted photos no longer count: two uploads fit again.
    await uploaded(member);
    await uploaded(member);
  });

  it('deletes them when an admin deletes the profile, and a refused delete deletes none of them', async () => {
    const member = await registerAccount(url);
    const photo = await uploaded(member);
    const profile = await createProfile(url, member, { photoIds: [photo] });

    const stranger = await registerAccount(url);
    expect((await remove(stranger.auth, profile.id)).status).toBe(403);
    expect(await statusOf(`/v1/media/${photo}`)).toBe(200);

    expect((await remove(adminAuth, profile.id)).status).toBe(204);
    expect(await statusOf(`/v1/media/${photo}`)).toBe(404);
  });

  it('deletes a profile whose photo ids the first version stored as sent, and the photos it showed', async () => {
    // Until 2026-11-24 photoIds were stored as the client sent them: in upper case, or any string IsMongoId took.
    const profiles = running.app.get<Connection>(getConnectionToken()).collection('profiles');
    const member = await registerAccount(url);
    const photo = await uploaded(member);
    const profile = await createProfile(url, member, { photoIds: [photo] });
    const stored = [photo.toUpperCase(), `0x${'1'.repeat(22)}`];
    await profiles.updateOne({ _id: new Types.ObjectId(profile.id) }, { $set: { photoIds: stored } });

    expect((await remove(member.auth, profile.id)).status).toBe(204);
    expect(await statusOf(`/v1/profiles/${profile.id}`)).toBe(404);
    expect(await statusOf(`/v1/media/${photo}`)).toBe(404);
  });
});
