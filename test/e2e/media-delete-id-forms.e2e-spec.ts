import { getConnectionToken } from '@nestjs/mongoose';
import { Types, type Connection } from 'mongoose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SearchKeyMigration } from '../../src/profiles/search-key-migration.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { pngStructure } from '../factories/images.js';
import { uploadMedia } from '../factories/media.js';
import { createProfile } from '../factories/profiles.js';
import { documentedCalls, type AnsweringCall, type JsonReply } from '../support/json-call.js';
import type { OpenApiConformance } from '../support/openapi-conformance.js';
import { startAppWithAdmin, type RunningApp } from '../support/test-app.js';

/**
 * A media id in another spelling than the API's (upper or mixed case hex: the route takes either), or held in that
 * spelling by a profile written before 2026-11-24, when photo ids were stored as the client sent them: deleting the
 * file leaves nothing of it behind, in GridFS or in any profile's photos.
 */
describe('deleting a file named in another spelling of its id', () => {
  let running: RunningApp;
  let url: string;
  let call: (...args: AnsweringCall) => Promise<JsonReply>;
  let conformance: OpenApiConformance;
  let admin: Account;
  let connection: Connection;

  beforeAll(async () => {
    ({ running, admin } = await startAppWithAdmin('media-delete-id-forms'));
    url = running.url;
    ({ call, conformance } = await documentedCalls(url));
    connection = running.app.get<Connection>(getConnectionToken());
  });

  // Every answer is held to the OpenAPI document (documentedCalls).
  afterEach(() => {
    expect(conformance.take()).toEqual([]);
  });

  afterAll(async () => {
    await running.close();
  });

  const upload = async (account: Account) => (await uploadMedia(url, account, pngStructure(2_000))).id;

  /** What GridFS still holds of the file: its document and chunks. */
  const storedOf = async (id: string) => {
    const _id = new Types.ObjectId(id);
    return {
      files: await connection.collection('media.files').countDocuments({ _id }),
      chunks: await connection.collection('media.chunks').countDocuments({ files_id: _id }),
    };
  };

  /** The profile's photo ids as stored, and as the API shows them to its owner. */
  const photosOf = async (profileId: string, owner: Account) => {
    const stored = await connection.collection('profiles').findOne({ _id: new Types.ObjectId(profileId) });
    const shown = (await call('GET', `/v1/profiles/${profileId}`, owner)).body.photoIds;
    return { stored: stored?.photoIds as unknown, shown };
  };

  const mixedCase = (id: string) => [...id].map((c, i) => (i % 2 ? c.toUpperCase() : c)).join('');

  it.each([
    ['upper case', (id: string) => id.toUpperCase()],
    ['mixed case', mixedCase],
  ])('deletes a file named in %s, everywhere', async (_form, spell) => {
    const member = await registerAccount(url);
    const photo = await upload(member);
    const kept = await upload(member);
    const profile = await createProfile(url, member, { photoIds: [spell(photo), kept] });
    expect(profile.photoIds).toEqual([photo, kept]);
    expect(await storedOf(photo)).toEqual({ files: 1, chunks: 1 });

    expect((await call('DELETE', `/v1/media/${spell(photo)}`, member)).status).toBe(204);
    expect((await call('GET', `/v1/media/${photo}`)).status).toBe(404);
    expect((await call('GET', `/v1/media/${spell(photo)}`)).status).toBe(404);
    expect(await storedOf(photo)).toEqual({ files: 0, chunks: 0 });
    expect(await photosOf(profile.id, member)).toEqual({ stored: [kept], shown: [kept] });
    expect((await call('DELETE', `/v1/media/${spell(photo)}`, member)).status).toBe(404);
  });

  /** A member's profile with two uploads, the first one's id stored as `spell` writes it (as before 2026-11-24). */
  const profileStoring = async (spell: (id: string) => string) => {
    const member = await registerAccount(url);
    const photo = await upload(member);
    const kept = await upload(member);
    const profile = await createProfile(url, member, { photoIds: [photo, kept] });
    await connection
      .collection('profiles')
      .updateOne({ _id: new Types.ObjectId(profile.id) }, { $set: { photoIds: [spell(photo), kept] } });
    return { member, photo, kept, profileId: profile.id };
  };

  it('drops a photo from a profile that stored its id in upper case when the file is deleted', async () => {
    const { member, photo, kept, profileId } = await profileStoring((id) => id.toUpperCase());
    expect((await call('DELETE', `/v1/media/${photo}`, member)).status).toBe(204);
    expect(await storedOf(photo)).toEqual({ files: 0, chunks: 0 });
    expect(await photosOf(profileId, member)).toEqual({ stored: [kept], shown: [kept] });
  });

  it('drops a photo whose id a profile stored in mixed case, once a worker has written it in lower case', async () => {
    const { member, photo, kept, profileId } = await profileStoring(mixedCase);
    // What a worker runs at start.
    expect(await running.app.get(SearchKeyMigration).run()).toBeGreaterThanOrEqual(1);
    expect(await photosOf(profileId, member)).toEqual({ stored: [photo, kept], shown: [photo, kept] });
    expect((await call('DELETE', `/v1/media/${photo}`, member)).status).toBe(204);
    expect(await photosOf(profileId, member)).toEqual({ stored: [kept], shown: [kept] });
  });

  it('drops it there when an admin deletes the file in upper case', async () => {
    const { member, photo, kept, profileId } = await profileStoring((id) => id.toUpperCase());
    expect((await call('DELETE', `/v1/media/${photo.toUpperCase()}`, admin)).status).toBe(204);
    expect(await storedOf(photo)).toEqual({ files: 0, chunks: 0 });
    expect(await photosOf(profileId, member)).toEqual({ stored: [kept], shown: [kept] });
  });
});
