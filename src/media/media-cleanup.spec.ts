import { Logger } from '@nestjs/common';
import type { Queue } from 'bull';
import { Types } from 'mongoose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AppConfig } from '../config/app-config.js';
import { MediaCleanup } from './media-cleanup.js';
import type { MediaVariantsJob } from './media-variants.job.js';
import type { MediaService } from './media.service.js';
import type { MediaStorage } from './media.storage.js';

/** A cleanup over stub storage holding `overdue` uploads without variants and `unfinished` deletes. */
function cleanup(
  overdue: Types.ObjectId[],
  unfinished: Types.ObjectId[],
  requeue: (id: Types.ObjectId) => Promise<unknown>,
  finishDelete: (id: Types.ObjectId) => Promise<void>,
) {
  const bucket = { removeAbandonedWrites: () => Promise.resolve(0), incompleteFiles: () => Promise.resolve([]) };
  const storage = {
    originals: bucket,
    variants: bucket,
    unprocessed: () => Promise.resolve(overdue),
    unfinishedDeletes: () => Promise.resolve(unfinished),
  } as unknown as MediaStorage;
  const variantsJob = { requeue: vi.fn(requeue) };
  const media = { finishDelete: vi.fn(finishDelete) };
  const queue = {} as Queue;
  const config = {} as AppConfig;
  const job = variantsJob as unknown as MediaVariantsJob;
  const instance = new MediaCleanup(queue, queue, storage, media as unknown as MediaService, job, config);
  return {
    run: () => instance.run(),
    variantsJob,
    media,
  };
}

const ids = (count: number) => Array.from({ length: count }, () => new Types.ObjectId());

describe('MediaCleanup', () => {
  afterEach(() => vi.restoreAllMocks());

  it('goes on past a file a step fails for, and counts it', async () => {
    const error = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const deletes = ids(3);
    const stuck = deletes[0];
    const { run, media } = cleanup(
      ids(2),
      deletes,
      () => Promise.resolve(),
      (id) => (id.equals(stuck) ? Promise.reject(new Error('cannot be removed')) : Promise.resolve()),
    );

    expect(await run()).toEqual({ abandoned: 0, requeued: 2, deleted: 2, failed: 1 });
    expect(media.finishDelete).toHaveBeenCalledTimes(3);
    expect(error).toHaveBeenCalledWith(expect.stringContaining(stuck.toHexString()));
  });

  it('stops a step after three failures in a row, an outage rather than a file, and still runs the next step', async () => {
    vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const { run, variantsJob, media } = cleanup(
      ids(10),
      ids(2),
      () => Promise.reject(new Error('Redis unreachable')),
      () => Promise.resolve(),
    );

    expect(await run()).toEqual({ abandoned: 0, requeued: 0, deleted: 2, failed: 3 });
    expect(variantsJob.requeue).toHaveBeenCalledTimes(3);
    expect(media.finishDelete).toHaveBeenCalledTimes(2);
  });

  it('gets past three files that always fail at the head of a step in its next run, not only an outage', async () => {
    vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    // One member's photos, say, whose delete fails for a reason of theirs: the query returns them together, first.
    const deletes = ids(5);
    const stuck = deletes.slice(0, 3);
    const { run, media } = cleanup(
      [],
      deletes,
      () => Promise.resolve(),
      (id) =>
        stuck.some((one) => one.equals(id)) ? Promise.reject(new Error('cannot be removed')) : Promise.resolve(),
    );

    await run();
    const second = await run();
    expect(second.deleted).toBe(2);
    for (const id of deletes.slice(3)) expect(media.finishDelete).toHaveBeenCalledWith(id);
  });
});
