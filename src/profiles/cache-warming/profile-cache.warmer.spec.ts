import { Types } from 'mongoose';
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import type { TieredCache } from '../../cache/tiered-cache.js';
import type { AppConfig } from '../../config/app-config.js';
import { SubscriptionNeedsSupportException } from '../../subscriptions/stored-subscription.js';
import type { SubscriptionsService } from '../../subscriptions/subscriptions.service.js';
import type { ProfilesService } from '../profiles.service.js';
import { ProfileCacheWarmer } from './profile-cache.warmer.js';

const MEMBERS = Array.from({ length: 100 }, (_, i) => `member-${i}`);

/**
 * A warmer over 100 live members whose status loads take a turn of the event loop each; `fails` names one to fail,
 * `needsSupport` one whose subscription cannot be read; the city data takes `citiesMs` to load.
 */
function setup(fails?: string, needsSupport?: string, citiesMs = 0) {
  let running = 0;
  let mostAtOnce = 0;
  const loadEntitlementState = vi.fn(async (userId: string) => {
    running += 1;
    mostAtOnce = Math.max(mostAtOnce, running);
    await new Promise((resolve) => setImmediate(resolve));
    running -= 1;
    if (userId === fails) throw new Error('connection reset');
    if (userId === needsSupport)
      throw new SubscriptionNeedsSupportException({ _id: new Types.ObjectId(), userId, problems: ['plan'] });
    return { plan: 'premium' };
  });
  const subscriptions = { liveMembers: () => Promise.resolve(MEMBERS), loadEntitlementState };
  const loadCities = () => new Promise((resolve) => setTimeout(() => resolve([]), citiesMs));
  const profiles = { loadPopularIds: () => Promise.resolve([]), loadCities };
  const cache = { refresh: (_name: string, _key: string, load: () => Promise<unknown>) => load() };
  const config = { mongo: { maxPoolSize: 10 } } as AppConfig;
  const registry = new Registry();
  const warmer = new ProfileCacheWarmer(
    profiles as unknown as ProfilesService,
    subscriptions as unknown as SubscriptionsService,
    cache as unknown as TieredCache,
    registry,
    config,
  );
  return { warmer, registry, loadEntitlementState, mostAtOnce: () => mostAtOnce };
}

describe('ProfileCacheWarmer', () => {
  it('holds at most a quarter of the MongoDB pool at once', async () => {
    const { warmer, loadEntitlementState, mostAtOnce } = setup();
    expect((await warmer.warm()).entries).toBe(2 + MEMBERS.length);
    expect(loadEntitlementState).toHaveBeenCalledTimes(MEMBERS.length);
    expect(mostAtOnce()).toBe(2);
  });

  it('goes on past a subscription that cannot be read, and does not count it as warmed', async () => {
    const { warmer, loadEntitlementState } = setup(undefined, 'member-10');
    expect((await warmer.warm()).entries).toBe(2 + MEMBERS.length - 1);
    expect(loadEntitlementState).toHaveBeenCalledTimes(MEMBERS.length);
  });

  it('starts no further load once one has failed', async () => {
    const { warmer, loadEntitlementState } = setup('member-10');
    await expect(warmer.warm()).rejects.toThrow('connection reset');
    await new Promise((resolve) => setTimeout(resolve, 10));
    // member-10 and the one beside it in flight, and none after.
    expect(loadEntitlementState.mock.calls.length).toBeLessThanOrEqual(12);
  });

  it("records the last run's duration and entries for the monitoring module", async () => {
    const { warmer, registry } = setup(undefined, undefined, 30);
    const gauge = async (name: string) =>
      (await registry.getMetricsAsJSON()).find((metric) => metric.name === name)?.values[0]?.value;
    const { entries, durationMs } = await warmer.warm();
    expect(durationMs).toBeGreaterThanOrEqual(25);
    expect(await gauge('cache_warm_last_entries')).toBe(entries);
    expect(await gauge('cache_warm_last_duration_seconds')).toBe(durationMs / 1000);
  });
});
