import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { silenceCheck } from '../redis/silence-check.js';

/**
 * The pub/sub channel of the instances sharing `keyPrefix`; anything that deletes cache keys elsewhere announces it
 * here.
 */
export function invalidationChannel(keyPrefix: string): string {
  return `${keyPrefix}cache:invalidate`;
}

/** What an invalidation on the channel says: full entry keys (`cache:<name>:<key>`) and tags to drop. */
export interface InvalidationMessage {
  origin: string;
  keys: string[];
  tags: string[];
  /**
   * Drop every L1 entry and detach running loads (after a restore, when the database itself changed under the cache).
   * Versions before it was added ignore it.
   */
  everything?: boolean;
  /**
   * The cache the write named, for the metric; absent on repeats (the second pass and replays), which peers act on
   * but do not count again, and in messages from versions before it was added.
   */
  cache?: string;
  /**
   * Per cache, the invalidations (keys plus tags) of this instance's earlier writes whose own message failed: peers
   * count them when this message arrives. Absent when there are none, and in messages from older versions.
   */
  uncounted?: Record<string, number>;
}

/**
 * The invalidation connection can die without a sign (a NAT or proxy idle timeout drops it silently, and TCP
 * notices after hours): it is pinged this often, and reconnected when two pings in a row go unanswered for
 * CHANNEL_PING_TIMEOUT_MS. That bounds how long a silently deaf instance serves entries changed elsewhere.
 */
const CHANNEL_CHECK_MS = 5_000;
const CHANNEL_PING_TIMEOUT_MS = 1_000;

export interface InvalidationListener {
  /** Another instance's message. */
  onMessage(message: InvalidationMessage): void;
  /** Subscribed (again): anything held from before may have missed messages. */
  onSubscribed(reason: string): void;
}

/**
 * Keeps this instance subscribed to the invalidation channel on its own connection: subscribes again on every
 * reconnect and after a failed attempt, and reconnects a connection that stops answering pings.
 */
export class InvalidationSubscription {
  private readonly logger = new Logger(InvalidationSubscription.name);
  private subscribed = false;
  private check?: NodeJS.Timeout;
  private checking = false;
  /** Reconnects a connection that missed two pings in a row: see silenceCheck. */
  private readonly ping: () => Promise<void>;

  constructor(
    private readonly subscriber: Redis,
    private readonly channel: string,
    /** Messages from this origin are this instance's own, and ignored. */
    private readonly origin: string,
    private readonly listener: InvalidationListener,
  ) {
    this.ping = silenceCheck(subscriber, CHANNEL_PING_TIMEOUT_MS, (error) =>
      this.logger.warn(`Cache invalidation channel silent (${error.message}): reconnecting`),
    );
  }

  async start(checkEveryMs = CHANNEL_CHECK_MS): Promise<void> {
    this.subscriber.on('message', (_channel: string, raw: string) => this.receive(raw));
    // Subscribing again on every (re)connect also covers a start while Redis was down, when the first
    // SUBSCRIBE failed; and a dropped subscription may have missed invalidations, so L1 starts over.
    this.subscriber.on('ready', () => void this.subscribeAndStartOver('pub/sub reconnected'));
    this.subscriber.on('close', () => (this.subscribed = false));
    this.check = setInterval(() => void this.checkConnection(), checkEveryMs).unref();
    await this.subscribe();
  }

  stop(): void {
    clearInterval(this.check);
  }

  /** Subscribed on a connection not known to be lost (one that went silent counts until the ping check drops it). */
  get listening(): boolean {
    return this.subscribed;
  }

  /** Whether it worked; a failure is logged and retried by the connection check. */
  private async subscribe(): Promise<boolean> {
    this.subscribed = await this.subscriber.subscribe(this.channel).then(
      () => true,
      (error: Error) => {
        this.logger.warn(`Cache invalidation channel unavailable: ${error.message}`);
        return false;
      },
    );
    return this.subscribed;
  }

  /**
   * The listener starts over once subscribed (again), not while the subscribe fails, since L1 would only refill
   * unheard; the connection check retries it.
   */
  private async subscribeAndStartOver(reason: string): Promise<void> {
    if (await this.subscribe()) this.listener.onSubscribed(reason);
  }

  /** Subscribes again if the last attempt failed on a live connection, else pings it. */
  private async checkConnection(): Promise<void> {
    if (this.subscriber.status !== 'ready' || this.checking) return; // reconnecting: 'ready' subscribes again
    this.checking = true;
    try {
      if (!this.subscribed) return await this.subscribeAndStartOver('pub/sub subscribed again');
      await this.ping();
    } finally {
      this.checking = false;
    }
  }

  /** A message of the wrong shape (`keys` not an array, say) throws in the listener: ignored the same way. */
  private receive(raw: string): void {
    try {
      const message = JSON.parse(raw) as InvalidationMessage;
      if (message.origin !== this.origin) this.listener.onMessage(message);
    } catch {
      this.logger.warn('Ignored a malformed cache invalidation message');
    }
  }
}
