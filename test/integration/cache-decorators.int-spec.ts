import { Body, Controller, ForbiddenException, Get, Module, Param, Put } from '@nestjs/common';
import { DiscoveryModule, NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CacheDecoratorsExplorer } from '../../src/cache/cache-decorators.explorer.js';
import { Cacheable, CacheEvict } from '../../src/cache/cache.decorators.js';
import { CacheMetrics } from '../../src/cache/cache-metrics.js';
import { TieredCache } from '../../src/cache/tiered-cache.js';
import { closeRedisClient, createRedisClient, waitUntilReady } from '../../src/redis/redis-client.factory.js';
import { requiredEnv } from '../support/test-env.js';

const WIDGET_CACHE = { name: 'widget', key: (id: string) => id, ttlS: 60 };

/** The decorators on routes, on either side of the route decorators (each side keeps different metadata). */
@Controller('widgets')
class WidgetsController {
  reads = 0;
  private value = 'first';

  @Cacheable(WIDGET_CACHE)
  @Get(':id')
  read(@Param('id') id: string): Promise<{ id: string; value: string }> {
    this.reads += 1;
    return Promise.resolve({ id, value: this.value });
  }

  @Put(':id')
  @CacheEvict({ name: 'widget', keys: (id: string) => [id] })
  write(@Param('id') _id: string, @Body() body: { value: string }): Promise<{ saved: boolean }> {
    this.value = body.value;
    return Promise.resolve({ saved: true });
  }

  /** Evicts only when its result says the value changed. */
  @Put(':id/if-changed')
  @CacheEvict({ name: 'widget', keys: (id: string) => [id], when: (result: { changed: boolean }) => result.changed })
  writeIfChanged(@Param('id') _id: string, @Body() body: { value: string }): Promise<{ changed: boolean }> {
    const changed = body.value !== this.value;
    this.value = body.value;
    return Promise.resolve({ changed });
  }

  /** Cached under a tag built from the id: its part before the first dash. */
  @Cacheable({
    ...WIDGET_CACHE,
    key: (id: string) => `grouped-${id}`,
    tags: (id: string) => [`group-${id.split('-')[0]}`],
  })
  @Get('grouped/:id')
  readGrouped(@Param('id') id: string): Promise<{ id: string; value: string }> {
    this.reads += 1;
    return Promise.resolve({ id, value: this.value });
  }

  /** Drops the group its result names; had it failed, every group in `tags`. */
  @Put('groups/:group')
  @CacheEvict({
    name: 'widget',
    tags: ['group-a', 'group-b'],
    tagsOf: (result: { group: string }) => [`group-${result.group}`],
  })
  writeGroup(@Param('group') group: string, @Body() body: { value: string }): Promise<{ group: string }> {
    this.value = body.value;
    return Promise.resolve({ group });
  }

  /** Writes, then its `when` fails: it cannot tell what the write changed. */
  @Put(':id/broken-when')
  @CacheEvict({
    name: 'widget',
    keys: (id: string) => [id],
    when: () => {
      throw new Error('predicate failed');
    },
  })
  writeBrokenWhen(@Param('id') _id: string, @Body() body: { value: string }): Promise<{ saved: boolean }> {
    this.value = body.value;
    return Promise.resolve({ saved: true });
  }

  /**
   * Writes, then fails reading the record back (the database went away between the two). Its `when` would keep the
   * entry, had the method resolved.
   */
  @Put(':id/then-fail')
  @CacheEvict({ name: 'widget', keys: (id: string) => [id], when: () => false })
  writeThenFail(@Param('id') _id: string, @Body() body: { value: string }): Promise<never> {
    this.value = body.value;
    return Promise.reject(new Error('connection closed'));
  }

  /** Refuses before writing anything. */
  @Put(':id/refused')
  @CacheEvict({ name: 'widget', keys: (id: string) => [id] })
  refuse(@Param('id') _id: string): Promise<never> {
    return Promise.reject(new ForbiddenException('not yours'));
  }
}

describe('@Cacheable and @CacheEvict on controller routes', () => {
  const prefix = `vesta-test-decorators-${randomUUID().slice(0, 8)}:`;
  const redisOptions = { url: requiredEnv('REDIS_URL'), connectTimeoutMs: 1_000, commandTimeoutMs: 1_000 };
  const redis = createRedisClient({ ...redisOptions, keyPrefix: prefix });
  const subscriber = createRedisClient(redisOptions, undefined, true);
  let app: NestFastifyApplication;

  @Module({
    imports: [DiscoveryModule],
    controllers: [WidgetsController],
    providers: [
      CacheDecoratorsExplorer,
      {
        provide: TieredCache,
        useFactory: async () => {
          const cache = new TieredCache(redis, subscriber, new CacheMetrics(new Registry()), {
            l1Enabled: true,
            l1MaxBytes: 1024 * 1024,
            ttlJitter: 0,
            l2TimeoutMs: 500,
            channel: `${prefix}cache:invalidate`,
          });
          await cache.start();
          return cache;
        },
      },
    ],
  })
  class WidgetsModule {}

  beforeAll(async () => {
    // Connected first: a connection becoming ready later clears L1, which would count as a second handler run.
    await Promise.all([waitUntilReady(redis, 2_000), waitUntilReady(subscriber, 2_000)]);
    app = await NestFactory.create<NestFastifyApplication>(WidgetsModule, new FastifyAdapter(), { logger: false });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });

  afterAll(async () => {
    await app.close();
    await Promise.all([closeRedisClient(redis), closeRedisClient(subscriber)]);
  });

  it('serves a cached route without running its handler, and runs it again after an evicting route', async () => {
    const controller = app.get(WidgetsController);
    const read = async () => (await app.inject({ method: 'GET', url: '/widgets/w1' })).json<{ value: string }>();

    for (let i = 0; i < 3; i += 1) expect(await read()).toEqual({ id: 'w1', value: 'first' });
    expect(controller.reads).toBe(1);

    const write = await app.inject({ method: 'PUT', url: '/widgets/w1', payload: { value: 'second' } });
    expect(write.json()).toEqual({ saved: true });
    expect(await read()).toEqual({ id: 'w1', value: 'second' });
    expect(controller.reads).toBe(2);
  });

  it("evicts after a method resolved only when its `when` holds for the method's result", async () => {
    const controller = app.get(WidgetsController);
    const read = async () => (await app.inject({ method: 'GET', url: '/widgets/w3' })).json<{ value: string }>();
    const writeIfChanged = (value: string) =>
      app.inject({ method: 'PUT', url: '/widgets/w3/if-changed', payload: { value } });
    expect((await writeIfChanged('third')).json()).toEqual({ changed: true });
    expect(await read()).toEqual({ id: 'w3', value: 'third' });
    const reads = controller.reads;

    expect((await writeIfChanged('third')).json()).toEqual({ changed: false });
    expect(await read()).toEqual({ id: 'w3', value: 'third' });
    expect(controller.reads).toBe(reads);

    expect((await writeIfChanged('fourth')).json()).toEqual({ changed: true });
    expect(await read()).toEqual({ id: 'w3', value: 'fourth' });
    expect(controller.reads).toBe(reads + 1);
  });

  it("builds an entry's tags from the method's arguments, and drops the tags `tagsOf` gives for the result", async () => {
    const controller = app.get(WidgetsController);
    const read = async (id: string) =>
      (await app.inject({ method: 'GET', url: `/widgets/grouped/${id}` })).json<{ value: string }>().value;
    await app.inject({ method: 'PUT', url: '/widgets/w5', payload: { value: 'fifth' } });
    expect([await read('a-1'), await read('b-1')]).toEqual(['fifth', 'fifth']);
    const reads = controller.reads;

    await app.inject({ method: 'PUT', url: '/widgets/groups/a', payload: { value: 'sixth' } });
    expect([await read('a-1'), await read('b-1')]).toEqual(['sixth', 'fifth']);
    expect(controller.reads).toBe(reads + 1);
  });

  it('evicts every spec when a `when` fails after the method resolved, and answers with that failure', async () => {
    const read = async () => (await app.inject({ method: 'GET', url: '/widgets/w4' })).json<{ value: string }>();
    await app.inject({ method: 'PUT', url: '/widgets/w4', payload: { value: 'before' } });
    expect(await read()).toEqual({ id: 'w4', value: 'before' });

    const broken = await app.inject({ method: 'PUT', url: '/widgets/w4/broken-when', payload: { value: 'after' } });
    expect(broken.statusCode).toBe(500);
    expect(await read()).toEqual({ id: 'w4', value: 'after' });
  });

  it('evicts after a method that failed unexpectedly, whose write may have landed, but not after a refusal', async () => {
    const controller = app.get(WidgetsController);
    const read = async () => (await app.inject({ method: 'GET', url: '/widgets/w2' })).json<{ value: string }>();
    await app.inject({ method: 'PUT', url: '/widgets/w2', payload: { value: 'before' } });
    expect(await read()).toEqual({ id: 'w2', value: 'before' });

    const failed = await app.inject({ method: 'PUT', url: '/widgets/w2/then-fail', payload: { value: 'after' } });
    expect(failed.statusCode).toBe(500);
    expect(await read()).toEqual({ id: 'w2', value: 'after' });

    const reads = controller.reads;
    expect((await app.inject({ method: 'PUT', url: '/widgets/w2/refused' })).statusCode).toBe(403);
    expect(await read()).toEqual({ id: 'w2', value: 'after' });
    expect(controller.reads).toBe(reads);
  });

  it("has a failed write's entries evicted again later, as it may still land; a write that resolved, not", async () => {
    const invalidate = vi.spyOn(app.get(TieredCache), 'invalidate');
    try {
      await app.inject({ method: 'PUT', url: '/widgets/w6/then-fail', payload: { value: 'late' } });
      await app.inject({ method: 'PUT', url: '/widgets/w6', payload: { value: 'now' } });
      expect(invalidate.mock.calls).toEqual([
        ['widget', ['w6'], [], { afterFailure: true }],
        ['widget', ['w6'], [], { afterFailure: false }],
      ]);
    } finally {
      invalidate.mockRestore();
    }
  });

  it('refuses to run a decorated method that no application gave a cache, instead of skipping the cache', async () => {
    await expect(new WidgetsController().read('w1')).rejects.toThrow(
      'WidgetsController.read uses the cache, but CacheModule has not reached this instance',
    );
  });
});
