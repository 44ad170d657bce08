import { LRUCache } from 'lru-cache';
import type { CacheEntry } from './cache-entry.js';

/**
 * The L1 store: LRU bounded by the summed serialised size of its entries (JSON length; V8 keeps
 * ASCII strings at a byte per character, so this tracks the memory the values hold). The benchmark
 * uses the same factory to measure the hit ratio.
 */
export function createL1Cache(
  maxBytes: number,
  onDispose?: (key: string, reason: LRUCache.DisposeReason, entry: CacheEntry) => void,
): LRUCache<string, CacheEntry> {
  return new LRUCache<string, CacheEntry>({
    maxSize: maxBytes,
    dispose: onDispose ? (entry, key, reason) => onDispose(key, reason, entry) : undefined,
  });
}

/**
 * The least an entry is counted at. Whatever its value, an entry costs about 400 bytes of heap (its object, its key,
 * the LRU's slots), so counted at their JSON length alone (about 60 characters), the absences of made-up profile ids
 * filled the default 50 MiB bound with 845,000 entries and 321 MiB of heap (measured 2026-12-06), against about 1.5 to
 * 2 × the bound for profile snapshots. At this floor they take 88 MiB (1.8 ×); entries above it count as before.
 */
const MIN_ENTRY_BYTES = 256;

/** This instance's tier: the LRU, and its keys by tag, so a tag is invalidated without asking Redis. */
export class L1Store {
  private readonly lru: LRUCache<string, CacheEntry>;
  private readonly keysByTag = new Map<string, Set<string>>();
  /** The reverse index, to forget keys the LRU evicts or drops. */
  private readonly tagsByKey = new Map<string, readonly string[]>();

  /**
   * `onEvicted`: an entry not yet expired was dropped to make room, so a read of it will miss. Expired entries stay
   * (for their grace period, or until the LRU reaches them), so a full L1 evicts them too; those are not counted.
   */
  constructor(maxBytes: number, onEvicted: () => void = () => undefined) {
    this.lru = createL1Cache(maxBytes, (key, reason, entry) => {
      this.forgetTags(key);
      if (reason === 'evict' && entry.exp > Date.now()) onEvicted();
    });
  }

  get size(): number {
    return this.lru.size;
  }

  /** What the entries count against the bound (expired ones included until dropped). */
  get bytes(): number {
    return this.lru.calculatedSize;
  }

  get<T>(fullKey: string): CacheEntry<T> | undefined {
    return this.lru.get(fullKey) as CacheEntry<T> | undefined;
  }

  /** Kept for `keepMs`, which may outlast the entry's own expiry (its grace period). */
  set(fullKey: string, entry: CacheEntry, bytes: number, keepMs: number, tags: readonly string[] = []): void {
    this.lru.set(fullKey, entry, { ttl: keepMs, size: Math.max(bytes, MIN_ENTRY_BYTES) });
    // An entry larger than the whole bound is refused: no tags for it, or they would never be cleaned up.
    if (!tags.length || !this.lru.has(fullKey)) return;
    this.tagsByKey.set(fullKey, tags);
    for (const tag of tags) {
      const members = this.keysByTag.get(tag) ?? new Set<string>();
      members.add(fullKey);
      this.keysByTag.set(tag, members);
    }
  }

  delete(fullKey: string): void {
    this.lru.delete(fullKey);
  }

  /** The keys held under these tags, which are forgotten: the caller drops the keys. */
  takeTagged(tags: readonly string[]): Set<string> {
    const keys = new Set<string>();
    for (const tag of tags) {
      for (const key of this.keysByTag.get(tag) ?? []) keys.add(key);
      this.keysByTag.delete(tag);
    }
    return keys;
  }

  clear(): void {
    this.lru.clear();
  }

  /** Drops a tag with its last key: tags come from client input (a searched city), and the LRU bounds only entries. */
  private forgetTags(fullKey: string): void {
    for (const tag of this.tagsByKey.get(fullKey) ?? []) {
      const members = this.keysByTag.get(tag);
      members?.delete(fullKey);
      if (members?.size === 0) this.keysByTag.delete(tag);
    }
    this.tagsByKey.delete(fullKey);
  }
}
