import { ForbiddenException, PayloadTooLargeException } from '@nestjs/common';
import { Types } from 'mongoose';
import { describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../config/app-config.js';
import { MediaQuota } from './media-quota.js';
import type { MediaStorage } from './media.storage.js';

const [first, second, third] = [1, 2, 3].map((n) => new Types.ObjectId(n.toString(16).padStart(24, '0')));
const file = (id: Types.ObjectId, length = 10) => ({ id, length });

/** A quota of 2 files and 1,000 bytes over a storage whose listings of the member's files come in `listings` order. */
function quotaOver(...listings: { id: Types.ObjectId; length: number }[][]) {
  const filesOf = vi.fn();
  for (const listing of listings) filesOf.mockResolvedValueOnce(listing);
  const withdraw = vi.fn().mockResolvedValue(undefined);
  const storage = { filesOf, withdraw } as unknown as MediaStorage;
  const config = loadConfig({ MEDIA_QUOTA_FILES: '2', MEDIA_QUOTA_BYTES: '1000' });
  return { quota: new MediaQuota(storage, config), filesOf, withdraw };
}

describe('MediaQuota.assertKept (uploads at the same time)', () => {
  it('keeps a file when the member’s files fit, in one look', async () => {
    const { quota, filesOf } = quotaOver([file(first), file(second)]);
    await expect(quota.assertKept('m', second)).resolves.toBeUndefined();
    expect(filesOf).toHaveBeenCalledTimes(1);
  });

  it('refuses at once a file that does not fit even with only the files before it', async () => {
    const { quota, filesOf, withdraw } = quotaOver([file(first), file(second), file(third)]);
    await expect(quota.assertKept('m', third)).rejects.toBeInstanceOf(ForbiddenException);
    expect(filesOf).toHaveBeenCalledTimes(1);
    // Marked withdrawn before the answer, so the files before it stop counting it without waiting for its delete.
    expect(withdraw).toHaveBeenCalledWith(third);
  });

  it('lets a file that fits with those before it wait for a later one to withdraw, then keeps it', async () => {
    const { quota, filesOf, withdraw } = quotaOver(
      [file(first), file(second), file(third)],
      [file(first), file(second)],
    );
    await expect(quota.assertKept('m', second)).resolves.toBeUndefined();
    expect(filesOf).toHaveBeenCalledTimes(2);
    expect(withdraw).not.toHaveBeenCalled();
  });

  it('waits seconds if need be for later ones that are slow to withdraw (a busy machine), then keeps it', async () => {
    const { quota, filesOf } = quotaOver();
    const withdrawnAt = Date.now() + 1_500;
    filesOf.mockImplementation(() =>
      Promise.resolve(
        Date.now() < withdrawnAt ? [file(first), file(second), file(third)] : [file(first), file(second)],
      ),
    );
    await expect(quota.assertKept('m', second)).resolves.toBeUndefined();
  });

  it('refuses that file too when the later ones never withdraw, after the wait it was given', async () => {
    const crowded = [file(first), file(second), file(third)];
    const { quota, filesOf } = quotaOver();
    filesOf.mockResolvedValue(crowded);
    await expect(quota.assertKept('m', first, 300)).rejects.toBeInstanceOf(ForbiddenException);
    // Looked at most every 100 ms until less than that was left of its 300 ms (MAX_WAIT_MS would have been 50 looks).
    expect(filesOf.mock.calls.length).toBeLessThanOrEqual(3);
  });

  it('still answers the refusal when marking the file withdrawn fails (the delete after it withdraws it anyway)', async () => {
    const { quota, withdraw } = quotaOver([file(first), file(second), file(third)]);
    withdraw.mockRejectedValueOnce(new Error('connection reset'));
    await expect(quota.assertKept('m', third)).rejects.toBeInstanceOf(ForbiddenException);
  });

  it('counts bytes the same way: 413 past the byte quota', async () => {
    const { quota } = quotaOver([file(first, 600), file(second, 600)]);
    await expect(quota.assertKept('m', second)).rejects.toBeInstanceOf(PayloadTooLargeException);
  });
});
