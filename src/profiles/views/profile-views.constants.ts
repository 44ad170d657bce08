export const PROFILE_VIEWS_QUEUE = 'profile-views';
export const FLUSH_JOB = 'flush';

/** Redis keys (under the client's prefix). */
export const VIEW_KEYS = {
  /** Hash profileId → views counted since the last flush. */
  pending: 'views:pending',
  /** The batch being flushed; survives a crash so the next flush resumes it. */
  inflight: 'views:inflight',
  inflightId: 'views:inflight:id',
  /** The in-flight batch's id and sequence number, `<id> <seq>` (see ProfileViewsFlusher). */
  inflightSeq: 'views:inflight:seq',
  /** The last sequence number given to a batch. */
  lastSeq: 'views:batch-seq',
  lock: 'views:flush-lock',
  /** Sorted set viewer account → last view time (ms), per profile. */
  viewers: (profileId: string) => `views:viewers:${profileId}`,
} as const;

export const VIEWERS_KEPT = 100;
/** The most viewers one "who viewed me" request reads, VIEWERS_KEPT at a time, looking for those who qualify. */
export const VIEWERS_SCANNED = 1_000;
export const VIEWERS_TTL_MS = 30 * 24 * 3600 * 1000;
/** A signed-in member's views of one profile count once in this long: refreshing a profile makes it no more popular. */
export const REPEAT_VIEW_WINDOW_MS = 3600 * 1000;
