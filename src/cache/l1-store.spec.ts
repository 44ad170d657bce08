import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { CacheEntry } from './cache-entry.js';
import { L1Store } from './l1-store.js';

const entry = (value: string): CacheEntry<string> => ({ v: value, exp: Date.now() + 60_000, d: 1 });
const bytes = (value: string) => JSON.stringify(entry(value)).length;

describe('L1Store', () => {
  it('finds the keys of a tag once, and forgets the tag', () => {
    const store = new L1Store(10_000);
    store.set('a', entry('a'), bytes('a'), 60_000, ['lists']);
    store.set('b', entry('b'), bytes('b'), 60_000, ['lists', 'other']);
    store.set('c', entry('c'), bytes('c'), 60_000);

    expect([...store.takeTagged(['lists'])].sort()).toEqual(['a', 'b']);
    expect(store.takeTagged(['lists']).size).toBe(0);
    // Taking the keys does not drop them: the caller does.
    expect(store.get('a')?.v).toBe('a');
  });

  it('keeps no tag bookkeeping for values too large for the bound', () => {
    const store = new L1Store(1_024);
    const large = 'x'.repeat(2_000);
    for (let i = 0; i < 20; i += 1) store.set(`large-${i}`, entry(large), bytes(large), 60_000, ['lists']);

    expect(store.size).toBe(0);
    expect(store.takeTagged(['lists']).size).toBe(0);
    expect(store['tagsByKey'].size).toBe(0);
  });

  it('forgets the tags of entries evicted or deleted', () => {
    const value = 'y'.repeat(300);
    const store = new L1Store(bytes(value) * 3);
    for (let i = 0; i < 10; i += 1) store.set(`k${i}`, entry(value), bytes(value), 60_000, ['lists']);
    store.delete('k9');

    expect(store.size).toBe(2);
    expect(store['tagsByKey'].size).toBe(2);
    expect([...store.takeTagged(['lists'])].sort()).toEqual(['k7', 'k8']);
  });

  it('counts as evicted only unexpired entries dropped to make room, and what its entries count against the bound', () => {
    const value = 'e'.repeat(300);
    let evicted = 0;
    const store = new L1Store(bytes(value) * 3, () => (evicted += 1));
    // Expired, kept for their grace period: making room for fresh entries drops them uncounted.
    for (let i = 0; i < 3; i += 1) store.set(`old${i}`, { ...entry(value), exp: Date.now() - 1 }, bytes(value), 60_000);
    for (let i = 0; i < 10; i += 1) store.set(`k${i}`, entry(value), bytes(value), 60_000);
    expect([store.size, store.bytes, evicted]).toEqual([3, bytes(value) * 3, 7]);

    store.set('k9', entry(value), bytes(value), 60_000); // replaced
    store.delete('k8');
    store.set('short', entry('s'), bytes('s'), 60_000); // counted at the 256-byte floor, with room to spare
    store.clear();
    expect([store.size, store.bytes, evicted]).toEqual([0, 0, 7]);
  });

  it('drops a tag with its last entry, so tags from client input (one per searched city) stay bounded', () => {
    const value = 'z'.repeat(300);
    const store = new L1Store(bytes(value) * 10);
    for (let i = 0; i < 1_000; i += 1) {
      store.set(`page-${i}`, entry(value), bytes(value), 60_000, ['lists', `city:${i}`]);
    }

    expect(store.size).toBe(10);
    // The shared tag and one per entry held, not one per city ever searched.
    expect(store['keysByTag'].size).toBe(11);
    expect([...store.takeTagged(['city:999'])]).toEqual(['page-999']);
    expect(store.takeTagged(['city:0']).size).toBe(0);
  });

  it('holds about its bound in heap when filled with the absences of made-up ids, not several times it', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const maxBytes = 20 * 1024 * 1024;
    gc();
    const before = process.memoryUsage().heapUsed;
    const store = new L1Store(maxBytes);
    // GET /v1/profiles/<24 hex digits> with ids no profile has: each keeps a null, expired ones until evicted.
    for (let i = 0; i < 400_000; i += 1) {
      const absent = { v: null, exp: Date.now() + 30_000, d: 1.5 + i / 1e6, w: Date.now() };
      store.set(
        `vesta:cache:profile:${i.toString(16).padStart(24, '0')}`,
        absent,
        JSON.stringify(absent).length,
        30_000,
      );
    }
    gc();
    const held = process.memoryUsage().heapUsed - before;

    expect(store.size).toBeGreaterThan(0);
    // Profile snapshots take 1.5 to 2 × their JSON (architecture.md, Tiers); absences took over 6 ×.
    expect(held).toBeLessThan(maxBytes * 2.5);
  });
});
