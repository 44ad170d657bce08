import { Inject, Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { isObjectIdHex } from '../database/object-id.js';
import { REDIS_CLIENT } from '../redis/redis.constants.js';

const logger = new Logger('UnsettledCharges');

/** Charges whose write failed: `<member id> <charge id>` → when it was noted (ms since the epoch). */
const UNSETTLED_KEY = 'subscriptions:unsettled-charges';
const REFUNDED_PREFIX = 'subscriptions:refunded-charge:';
/** Deletes KEYS[1] if it holds something other than a hash (HGETALL refuses it); 1 if it did. */
const DROP_UNLESS_HASH = `
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'hash' or kind == 'none' then return 0 end
redis.call('DEL', KEYS[1])
return 1`;
/**
 * How long an unsettled charge waits for a retry to apply it before the sweep refunds it: well past a client's retries,
 * the key's lease (40 s) and a stalled MongoDB's late write (its socket timeout, 45 s).
 */
export const SETTLE_AFTER_MS = 10 * 60_000;
/**
 * How long a refunded charge is remembered here. The subscription's record remembers it for good when there is one;
 * this is for a charge that started none, which a processor may give back to a key reused later (Stripe keeps keys at
 * least 24 h): longer than any processor keeps them.
 */
const REFUNDED_KEPT_MS = 30 * 24 * 3600 * 1000;

export interface UnsettledCharge {
  userId: string;
  chargeId: string;
}

/**
 * Charges made for a subscription change whose write then failed (the database down or stalled). Such a write may
 * have applied or not, and its request answers with a server error; until 2026-12-05 the charge was recorded nowhere,
 * and when another change of the member landed before the retry, the retry was refused ("already subscribed") and
 * the member stayed charged twice. Noted here, the sweep refunds each one no retry applied (SubscriptionSweeper).
 */
@Injectable()
export class UnsettledCharges {
  constructor(@Inject(REDIS_CLIENT) private readonly redis: Redis) {}

  async note(charge: UnsettledCharge): Promise<void> {
    await this.redis.hset(UNSETTLED_KEY, fieldOf(charge), String(Date.now()));
  }

  /**
   * The charges noted at least SETTLE_AFTER_MS before `now`. The key holding another type, or a field that names no
   * member and charge (a hand edit, a tool that copied keys), failed the sweep on every run (WRONGTYPE; a member id
   * that is no ObjectId threw in its cast), so that no later charge was settled and no purge ran again. Neither can
   * be a charge this app noted: they are deleted and logged (the log keeps the field and its value).
   */
  async due(now: Date): Promise<UnsettledCharge[]> {
    if ((await this.redis.eval(DROP_UNLESS_HASH, 1, UNSETTLED_KEY)) === 1) {
      logger.warn(`${UNSETTLED_KEY} was no hash (set by hand?): deleted`);
    }
    const due: UnsettledCharge[] = [];
    for (const [field, at] of Object.entries(await this.redis.hgetall(UNSETTLED_KEY))) {
      const [userId = '', chargeId = ''] = field.split(' ');
      if (!isObjectIdHex(userId) || chargeId === '') {
        logger.warn(`${UNSETTLED_KEY}: ${JSON.stringify(field)} (${JSON.stringify(at)}) names no charge: deleted`);
        await this.redis.hdel(UNSETTLED_KEY, field);
      } else if (!(Number(at) > now.getTime() - SETTLE_AFTER_MS)) {
        // A time that is no number (a hand edit) never came due, and the charge was never refunded nor forgotten.
        due.push({ userId, chargeId });
      }
    }
    return due;
  }

  /** Whether the charge is one of a member's changes whose write failed, waiting for its retry or the sweep. */
  async isNoted(charge: UnsettledCharge): Promise<boolean> {
    return (await this.redis.hexists(UNSETTLED_KEY, fieldOf(charge)).catch(unavailable)) === 1;
  }

  async forget(charge: UnsettledCharge): Promise<void> {
    await this.redis.hdel(UNSETTLED_KEY, fieldOf(charge));
  }

  /** Remembered before the refund is made, so that no later request can start a subscription with the charge. */
  async markRefunded(chargeId: string): Promise<void> {
    await this.redis.set(REFUNDED_PREFIX + chargeId, '1', 'PX', REFUNDED_KEPT_MS).catch(unavailable);
  }

  async wasRefunded(chargeId: string): Promise<boolean> {
    return (await this.redis.exists(REFUNDED_PREFIX + chargeId).catch(unavailable)) === 1;
  }
}

/**
 * Redis failing (a timeout, a closed connection) where a request needs its answer, a webhook's once it holds the
 * member's lock: a 503 to retry, as the lock gives when Redis fails before it, not a 500. Its message is for the log.
 */
function unavailable(error: Error): never {
  logger.warn(`Unsettled charges unavailable: ${error.message}`);
  throw new ServiceUnavailableException('Charges cannot be checked while a service is not answering; retry later', {
    cause: error,
  });
}

function fieldOf({ userId, chargeId }: UnsettledCharge): string {
  return `${userId} ${chargeId}`;
}
