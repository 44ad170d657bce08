import { Logger, ServiceUnavailableException } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { Types } from 'mongoose';
import type { AppConfig } from '../../config/app-config.js';
import { VIEW_KEYS } from './profile-views.constants.js';
import { ProfileViewsService } from './profile-views.service.js';

/** A Redis stand-in that records each pipeline's HINCRBYs and COUNT_VIEWERS calls and answers exec() as told. */
function fakeRedis(exec: () => Promise<unknown>) {
  const pipelines: unknown[][][] = [];
  const redis = {
    defineCommand: () => undefined,
    pipeline: () => {
      const commands: unknown[][] = [];
      pipelines.push(commands);
      const pipeline = {
        hincrby: (key: string, field: string, by: number) => (commands.push([key, field, by]), pipeline),
        countViewers: (...args: unknown[]) => (commands.push(['countViewers', ...args]), pipeline),
        trimViewers: () => pipeline,
        zremrangebyscore: () => pipeline,
        pexpire: () => pipeline,
        exec,
      };
      return pipeline;
    },
  };
  return { redis: redis as unknown as Redis, pipelines };
}

const config = { queues: { viewBufferMs: 60_000 } } as AppConfig;
const [a, b] = [new Types.ObjectId(), new Types.ObjectId()];

describe('ProfileViewsService', () => {
  it('sends the sum per profile in one pipeline, then starts from zero', async () => {
    const { redis, pipelines } = fakeRedis(() => Promise.resolve([[null, 1]]));
    const views = new ProfileViewsService(redis, config);
    for (const id of [a, b, a, a]) views.record(id);
    await views.send();
    await views.send();
    expect(pipelines).toEqual([
      [
        [VIEW_KEYS.pending, a.toHexString(), 3],
        [VIEW_KEYS.pending, b.toHexString(), 1],
      ],
    ]);
  });

  it("leaves a signed-in member's views to Redis to count, once per viewer and send, with when they last looked", async () => {
    const { redis, pipelines } = fakeRedis(() => Promise.resolve([[null, 1]]));
    const views = new ProfileViewsService(redis, config);
    vi.useFakeTimers({ now: 1_000, toFake: ['Date'] });
    views.record(a, 'member-1');
    vi.setSystemTime(2_000);
    views.record(a, 'member-1');
    views.record(a, 'member-2');
    views.record(a);
    vi.useRealTimers();
    await views.send();
    const key = VIEW_KEYS.viewers(a.toHexString());
    expect(pipelines).toEqual([
      [
        [VIEW_KEYS.pending, a.toHexString(), 1],
        ['countViewers', key, VIEW_KEYS.pending, a.toHexString(), 3_600_000, 2_000, 'member-1', 2_000, 'member-2'],
      ],
    ]);
  });

  it('drops and logs the views Redis did not take, and does not send them again', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const { redis, pipelines } = fakeRedis(() => Promise.reject(new Error('Connection is closed.')));
    const views = new ProfileViewsService(redis, config);
    views.record(a);
    views.record(a);
    await expect(views.send()).resolves.toBeUndefined();
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('2 views of 1 profiles not counted'));
    views.record(b);
    await views.send();
    expect(pipelines[1]).toEqual([[VIEW_KEYS.pending, b.toHexString(), 1]]);
    warn.mockRestore();
  });

  it('answers 503, not 500, for recent viewers while Redis does not answer', async () => {
    const redis = {
      defineCommand: () => undefined,
      zrevrangebyscore: () => Promise.reject(new Error('Command timed out')),
    } as unknown as Redis;
    vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    await expect(new ProfileViewsService(redis, config).recentViewers(a)).rejects.toBeInstanceOf(
      ServiceUnavailableException,
    );
  });
});
