import { Logger } from '@nestjs/common';
import type { Job, Queue } from 'bull';
import { Types } from 'mongoose';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AppConfig } from '../config/app-config.js';
import { FileCutShortError, FileIncompleteError } from './gridfs-bucket.js';
import { MediaVariantsJob } from './media-variants.job.js';
import type { MediaStorage } from './media.storage.js';

type Handler = (job: Job<{ mediaId: string }>) => Promise<unknown>;

/** A worker's variants job over stub storage; returns the handler Bull would call, and the storage. */
function worker(
  original: Buffer | Readable,
  find: () => Promise<unknown> = () => Promise.resolve({ length: Buffer.isBuffer(original) ? original.length : 0 }),
) {
  let handler: Handler | undefined;
  const queue = {
    name: 'media',
    process: (_name: string, _concurrency: number, registered: Handler) => {
      handler = registered;
      return new Promise(() => {});
    },
    on: () => undefined, // the stalled-job and lock events processJobs logs
  } as unknown as Queue<{ mediaId: string }>;
  const storage = {
    find: vi.fn(find),
    findVariant: vi.fn(() => Promise.resolve(null)),
    open: vi.fn(() => (Buffer.isBuffer(original) ? Readable.from([original]) : original)),
    markProcessed: vi.fn(() => Promise.resolve()),
    storeVariant: vi.fn(() => Promise.resolve()),
  };
  new MediaVariantsJob(
    queue,
    storage as unknown as MediaStorage,
    { role: 'worker' } as AppConfig,
  ).onApplicationBootstrap();
  const job = {
    id: 'variants:1',
    data: { mediaId: new Types.ObjectId().toHexString() },
    attemptsMade: 0,
    opts: { attempts: 5 },
  } as unknown as Job<{ mediaId: string }>;
  return { run: () => handler!(job), storage, job };
}

describe('MediaVariantsJob', () => {
  afterEach(() => vi.restoreAllMocks());

  it("takes a member's undecodable upload (a bare JPEG magic number) as one warning, not a failed job", async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
    const error = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => {});
    const { run, storage } = worker(Buffer.from('ffd8ff', 'hex'));

    await expect(run()).resolves.toBeUndefined();
    expect(storage.markProcessed).toHaveBeenCalledWith(expect.any(Types.ObjectId), 'unreadable');
    expect(error).not.toHaveBeenCalled();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/cannot be decoded; it is served without variants/);
  });

  it.each([
    ['before', new FileIncompleteError('Media not found: its stored bytes are incomplete')],
    ['after', new FileCutShortError('GridFS file 1 is missing chunk 1')],
  ])('takes chunks missing %s the first byte as an undecodable image: one warning, no retry', async (_, missing) => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
    const error = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => {});
    const stored = new Readable({ read() {} });
    stored.push(Buffer.from('ffd8ff', 'hex'));
    stored.destroy(missing);
    const { run, storage } = worker(stored);

    await expect(run()).resolves.toBeUndefined();
    expect(storage.markProcessed).toHaveBeenCalledWith(expect.any(Types.ObjectId), 'unreadable');
    expect(error).not.toHaveBeenCalled();
    expect(warn.mock.calls[0][0]).toMatch(/fewer bytes stored than its record says; it is served without variants/);
  });

  it('fails the job at error level when the database fails, so Bull retries it', async () => {
    const error = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => {});
    const { run, storage } = worker(Buffer.from('ffd8ff', 'hex'), () =>
      Promise.reject(new Error('Server selection timed out')),
    );

    await expect(run()).rejects.toThrow('Server selection timed out');
    expect(storage.markProcessed).not.toHaveBeenCalled();
    expect(error).toHaveBeenCalledWith(expect.stringMatching(/failed \(attempt 1 of 5\): Server selection timed out/));
  });
});
