import { getConnectionToken } from '@nestjs/mongoose';
import { Types, type Connection, type mongo } from 'mongoose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BackupService } from '../../src/backup/backup.service.js';
import { unguessableObjectId } from '../../src/database/object-id.js';
import { MediaCleanup } from '../../src/media/media-cleanup.js';
import { MediaQuota } from '../../src/media/media-quota.js';
import { MediaVariantsJob } from '../../src/media/media-variants.job.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { decodableImage } from '../factories/images.js';
import { uploadMedia } from '../factories/media.js';
import { profileInput } from '../factories/profiles.js';
import { documentedCalls, type AnsweringCall, type JsonReply } from '../support/json-call.js';
import type { OpenApiConformance } from '../support/openapi-conformance.js';
import { startAppWithAdmin, type RunningApp } from '../support/test-app.js';

const DAY_MS = 24 * 3600 * 1000;

/**
 * What the API makes of a file whose record the shape leaves:
 * - `file`: served and deleted by its owner as any upload (the field reads as its natural value);
 * - `no one's`: served; only an admin may delete it, and no member attach it;
 * - `unknown`: not a complete file (no hash): 404 to everyone, as an upload still under way, and removed by the cleanup
 *   once no upload can still be writing it;
 * - `unsized`: no length to serve it by: 404 to everyone and out of its owner's quota, kept for an operator to mend
 *   (its bytes and hash are whole);
 * - `damaged`: its record promises bytes its chunks do not hold: a 404 problem to every download, before any byte.
 */
type Outcome = 'file' | "no one's" | 'unknown' | 'unsized' | 'damaged';
type Change = (db: mongo.Db, id: Types.ObjectId, member: Account) => Promise<unknown>;

const edit =
  (update: Record<string, Record<string, unknown>>): Change =>
  (db, id) =>
    db.collection('media.files').updateOne({ _id: id }, update);
const variantsOf = async (db: mongo.Db, id: Types.ObjectId) =>
  (await db.collection('media_variants.files').find({ 'metadata.originalId': id }).toArray()).map((file) => file._id);

/** Per the history of src/media: which field came when, and what restores and hand edits (mongosh) leave. */
const SHAPES: [string, Outcome, Change][] = [
  // 2026-11-24, first version: owner, type and hash; no dimensions, no variants made (processed).
  [
    'first version',
    'file',
    edit({ $unset: { 'metadata.width': '', 'metadata.height': '', 'metadata.processed': '' } }),
  ],
  ['no dimensions', 'file', edit({ $unset: { 'metadata.width': '', 'metadata.height': '' } })],
  ['no content type', 'file', edit({ $unset: { 'metadata.contentType': '' } })],
  ['no upload date', 'file', edit({ $unset: { uploadDate: '' } })],
  ['an upload date as a string', 'file', edit({ $set: { uploadDate: '2026-11-24T10:00:00Z' } })],
  ['no chunk size', 'file', edit({ $unset: { chunkSize: '' } })],
  [
    'a length as a string',
    'file',
    async (db, id) => {
      const files = db.collection('media.files');
      const { length } = (await files.findOne({ _id: id }))!;
      return files.updateOne({ _id: id }, { $set: { length: String(length) } });
    },
  ],
  ['no length', 'unsized', edit({ $unset: { length: '' } })],
  ['a length that is not a number', 'unsized', edit({ $set: { length: 'unknown' } })],
  ['a length short of its chunks', 'file', edit({ $set: { length: 100 } })],
  [
    'an upper-case owner',
    'file',
    (db, id, member) =>
      db
        .collection('media.files')
        .updateOne({ _id: id }, { $set: { 'metadata.ownerId': member.userId.toUpperCase() } }),
  ],
  [
    'an owner as an ObjectId',
    'file',
    (db, id, member) =>
      db
        .collection('media.files')
        .updateOne({ _id: id }, { $set: { 'metadata.ownerId': new Types.ObjectId(member.userId) } }),
  ],
  [
    'no variants (made, then removed)',
    'file',
    async (db, id) => {
      const variants = await variantsOf(db, id);
      await db.collection('media_variants.files').deleteMany({ _id: { $in: variants } });
      await db.collection('media_variants.chunks').deleteMany({ files_id: { $in: variants } });
    },
  ],
  [
    'variants without a type',
    'file',
    (db, id) =>
      db
        .collection('media_variants.files')
        .updateMany({ 'metadata.originalId': id }, { $unset: { 'metadata.contentType': '' } }),
  ],
  [
    'variants whose chunks are gone',
    'file',
    async (db, id) =>
      db.collection('media_variants.chunks').deleteMany({ files_id: { $in: await variantsOf(db, id) } }),
  ],
  ['no owner', "no one's", edit({ $unset: { 'metadata.ownerId': '' } })],
  ['no metadata', 'unknown', edit({ $unset: { metadata: '' } })],
  ['null metadata', 'unknown', edit({ $set: { metadata: null } })],
  ['no hash', 'unknown', edit({ $unset: { 'metadata.sha256': '' } })],
  ['a length beyond its chunks', 'damaged', edit({ $inc: { length: 600_000 } })],
];

/**
 * Media files as earlier versions stored them, as a restore from an older backup or an operator's hand edit leaves
 * them: uploaded through the API, then changed with the driver. Every route and job that touches them answers a
 * success or a problem (never a 500, never a hang), and a file deleted leaves nothing behind.
 */
describe('media files written by earlier versions or edited by hand', () => {
  let running: RunningApp;
  let url: string;
  let call: (...args: AnsweringCall) => Promise<JsonReply>;
  let conformance: OpenApiConformance;
  let admin: Account;
  let db: mongo.Db;
  const stored = new Map<string, { member: Account; id: string; bytes: Buffer; sha256: string }>();

  beforeAll(async () => {
    ({ running, admin } = await startAppWithAdmin('legacy-media'));
    url = running.url;
    ({ call, conformance } = await documentedCalls(url));
    db = running.app.get<Connection>(getConnectionToken()).db!;
    const bytes = await decodableImage(300, 200, 'png');
    for (const [shape, , change] of SHAPES) {
      const member = await registerAccount(url);
      const { id, sha256 } = await upload(member, bytes);
      // Its variants made, as a worker would have: the shapes remove them or what they point to.
      await running.app.get(MediaVariantsJob).run({ data: { mediaId: id } });
      await change(db, new Types.ObjectId(id), member);
      stored.set(shape, { member, id, bytes, sha256 });
    }
  }, 120_000);

  // Every answer is held to the OpenAPI document (documentedCalls).
  afterEach(() => {
    expect(conformance.take()).toEqual([]);
  });

  afterAll(async () => {
    await running.close();
  });

  const upload = (account: Account, bytes: Buffer) => uploadMedia(url, account, bytes);

  /** One request, answered in bounded time with a success or a problem+json saying what is wrong, its body whole. */
  const answering = async (method: string, path: string, account?: Account, headers: Record<string, string> = {}) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { ...account?.auth, ...headers },
      signal: AbortSignal.timeout(15_000),
    });
    const body = Buffer.from(await response.arrayBuffer());
    const said = `${method} ${path} ${JSON.stringify(headers)}: ${response.status} ${body.toString().slice(0, 200)}`;
    expect(response.status, said).toBeLessThan(500);
    if (response.status >= 400) {
      expect(response.headers.get('content-type'), said).toContain('application/problem+json');
      if (method !== 'HEAD')
        expect((JSON.parse(body.toString()) as { detail?: unknown }).detail).toEqual(expect.any(String));
    }
    return { status: response.status, headers: response.headers, body };
  };

  it('runs the media cleanup, and a backup and its restore, over every shape', async () => {
    const cleanup = await running.app.get(MediaCleanup).run(new Date(Date.now() + DAY_MS));
    expect(cleanup.failed).toBe(0);
    // A file that can never be completed is removed with its variants, however old its version; every other one stays.
    for (const [shape, outcome] of SHAPES) {
      const id = new Types.ObjectId(stored.get(shape)!.id);
      const left = {
        files: await db.collection('media.files').countDocuments({ _id: id }),
        chunks: Math.min(1, await db.collection('media.chunks').countDocuments({ files_id: id })),
        variants: Math.min(
          1,
          await db.collection('media_variants.files').countDocuments({ 'metadata.originalId': id }),
        ),
      };
      const variants = shape.startsWith('no variants') || outcome === 'unknown' ? 0 : 1;
      const kept = outcome === 'unknown' ? 0 : 1;
      expect(left, shape).toEqual({ files: kept, chunks: kept, variants });
    }

    const backups = running.app.get(BackupService);
    const run = await backups.run('cli');
    expect(run.status).toBe('succeeded');
    expect(run.verify?.status).toBe('passed');
    const target = running.app.get<Connection>(getConnectionToken()).getClient().db(`${db.databaseName}_legacy_media`);
    await backups.restore(run._id, target.databaseName, { drop: true });
    for (const [shape, outcome] of SHAPES) {
      const id = new Types.ObjectId(stored.get(shape)!.id);
      const record = await target.collection('media.files').findOne({ _id: id });
      // A record is restored with its chunks, or left out as an upload still under way (gridfs-completeness.ts).
      const restored = outcome === 'file' || outcome === "no one's" || outcome === 'unsized';
      const restoredOrLeftOut = restored ? !!record : !record;
      expect(restoredOrLeftOut, shape).toBe(true);
    }
    await target.dropDatabase();
  }, 120_000);

  it('leaves a file without its hash alone while an upload may still be writing it', async () => {
    const files = db.collection('media.files');
    const record = (id: Types.ObjectId) => ({ _id: id, length: 0, chunkSize: 261_120, uploadDate: new Date() });
    // One begun a minute ago, as an upload still arriving; one whose pending record is recent, as every upload of ours
    // has while it runs, whatever its id says.
    const recent = unguessableObjectId(new Date(Date.now() - 60_000));
    const pending = unguessableObjectId(new Date(Date.now() - 2 * 3600_000));
    await files.insertMany([record(recent), record(pending)]);
    await db.collection('media_pending_writes').insertOne({ _id: pending, bucket: 'media', since: new Date() });
    expect((await running.app.get(MediaCleanup).run()).failed).toBe(0);
    expect(await files.countDocuments({ _id: { $in: [recent, pending] } })).toBe(2);

    // Once no upload can still be writing them, they go (the second as an abandoned write).
    await running.app.get(MediaCleanup).run(new Date(Date.now() + DAY_MS));
    expect(await files.countDocuments({ _id: { $in: [recent, pending] } })).toBe(0);
  });

  it.each(SHAPES)('takes a file with %s through every route and job (%s)', async (shape, outcome) => {
    const { member, id, bytes, sha256 } = stored.get(shape)!;
    const path = `/v1/media/${id}`;
    const served = outcome === 'file' || outcome === "no one's";

    const whole = await answering('GET', path);
    const head = await answering('HEAD', path);
    const first = await answering('GET', path, undefined, { range: 'bytes=0-9' });
    const last = await answering('GET', path, undefined, { range: 'bytes=-10' });
    const revalidated = await answering('GET', path, undefined, { 'if-none-match': `"${sha256}"` });
    for (const variant of ['thumb', 'medium']) {
      await answering('GET', `${path}?variant=${variant}`);
      await answering('HEAD', `${path}?variant=${variant}`);
      await answering('GET', `${path}?variant=${variant}`, undefined, { range: 'bytes=0-9' });
    }
    if (served) {
      expect(whole.status).toBe(200);
      const length = shape === 'a length short of its chunks' ? 100 : bytes.length;
      expect(whole.body.equals(bytes.subarray(0, length))).toBe(true);
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe(String(length));
      expect(first.status).toBe(206);
      expect(first.body.equals(bytes.subarray(0, 10))).toBe(true);
      expect(last.status).toBe(206);
      expect(revalidated.status).toBe(304);
    } else if (outcome === 'unknown' || outcome === 'unsized') {
      for (const reply of [whole, head, first, last, revalidated]) expect(reply.status).toBe(404);
    } else {
      // Found out before its status goes out (until 2026-12-07 a 200 cut where the chunks end), for every range of it.
      for (const reply of [whole, head, first, last, revalidated]) expect(reply.status).toBe(404);
    }

    // The variants job, as a worker runs it, and as the cleanup asks for it again.
    const job = running.app.get(MediaVariantsJob).run({ data: { mediaId: id } });
    await job;
    if (outcome === 'damaged') {
      // Its missing bytes are no failure a retry can mend: recorded as an undecodable image is, so the cleanup does not
      // ask for its variants again on every run.
      const record = await db.collection('media.files').findOne({ _id: new Types.ObjectId(id) });
      expect((record?.metadata as { processed?: string }).processed).toBe('unreadable');
    }

    // A member uploads beside it: the quota reads the file's record, and counts what can be served by its length.
    const room = await running.app.get(MediaQuota).room(member.userId);
    expect(Number.isSafeInteger(room), `room ${room}`).toBe(true);
    const next = await upload(member, bytes);
    expect((await answering('DELETE', `/v1/media/${next.id}`, member)).status).toBe(204);

    const attached = await call('POST', '/v1/profiles', member, profileInput({ photoIds: [id] }));
    const attachable = outcome === 'unknown' || outcome === 'unsized' ? 422 : outcome === "no one's" ? 403 : 201;
    expect(attached.status).toBe(attachable);
    if (attached.status === 201) {
      expect(attached.body.photoIds).toEqual([id]);
      expect((await call('GET', `/v1/profiles/${attached.body.id as string}`, member)).status).toBe(200);
    }

    const byOwner = await answering('DELETE', path, member);
    if (outcome === 'unknown' || outcome === 'unsized') {
      expect(byOwner.status).toBe(404);
      expect((await answering('DELETE', path, admin)).status).toBe(404);
      return;
    }
    if (outcome === "no one's") {
      expect(byOwner.status).toBe(403);
      expect((await answering('DELETE', path, admin)).status).toBe(204);
    } else expect(byOwner.status).toBe(204);
    const oid = new Types.ObjectId(id);
    const left = {
      files: await db.collection('media.files').countDocuments({ _id: oid }),
      chunks: await db.collection('media.chunks').countDocuments({ files_id: oid }),
      variants: await db.collection('media_variants.files').countDocuments({ 'metadata.originalId': oid }),
      pending: await db.collection('media_pending_writes').countDocuments({ _id: oid }),
    };
    expect(left).toEqual({ files: 0, chunks: 0, variants: 0, pending: 0 });
    expect((await answering('GET', path)).status).toBe(404);
    if (attached.status === 201) {
      const profile = await call('GET', `/v1/profiles/${attached.body.id as string}`, member);
      expect(profile.body.photoIds).toEqual([]);
    }
  });
});
