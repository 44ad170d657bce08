import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ChunkReadTimeoutError, waitForChunk } from './gridfs-bucket.js';

describe('waitForChunk', () => {
  const ROUND_MS = 20;

  it('keeps waiting past its timeout while the database answers other commands (busy, not hung)', async () => {
    const chunk = sleep(ROUND_MS * 5).then(() => 'chunk');
    await expect(waitForChunk(chunk, { timeoutMs: ROUND_MS, databaseAnsweredWithin: () => true })).resolves.toBe(
      'chunk',
    );
  });

  it('gives up after one round in which the database answered nothing (hung)', async () => {
    const asked: number[] = [];
    const never = new Promise<string>(() => undefined);
    const started = Date.now();
    const waiting = waitForChunk(never, {
      timeoutMs: ROUND_MS,
      databaseAnsweredWithin: (ms) => {
        asked.push(ms);
        return false;
      },
    });
    await expect(waiting).rejects.toBeInstanceOf(ChunkReadTimeoutError);
    await expect(waiting).rejects.toThrow(`The database answered nothing for ${ROUND_MS} ms`);
    expect(asked).toEqual([ROUND_MS]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(ROUND_MS - 1);
  });

  it('passes on the failure of the read itself at once', async () => {
    const failed = Promise.reject(new Error('cursor killed'));
    await expect(waitForChunk(failed, { timeoutMs: 10_000, databaseAnsweredWithin: () => true })).rejects.toThrow(
      'cursor killed',
    );
  });
});
