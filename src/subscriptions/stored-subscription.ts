import { ConflictException, Logger } from '@nestjs/common';
import { Types, type Model } from 'mongoose';
import { PLAN_IDS } from './plans.js';
import { SUBSCRIPTION_STATUSES, type Subscription } from './subscription.schema.js';
import type { SubscriptionRecord } from './subscriptions.repository.js';

const logger = new Logger('StoredSubscription');

/** A subscription as the database holds it, read past mongoose (a lean read casts nothing and applies no defaults). */
export type StoredSubscription = Record<string, unknown> & { _id: Types.ObjectId };

/** A stored subscription that cannot be read as one (see readStored): left to support, never written by this API. */
export interface DamagedSubscription {
  _id: Types.ObjectId;
  userId: unknown;
  problems: string[];
}

/**
 * Fields added after the first version, whose default is not null. A document stored before one existed lacks it, and
 * a hand edit may have set it to null: both read as the default.
 */
export const NULL_MEANS_DEFAULT = ['cancelAtPeriodEnd', 'chargeIds', 'recentPaymentKeys', 'refundedChargeIds'] as const;

/**
 * The one parse of a stored subscription, at the repository's boundary. A field with a default that is missing (a
 * document older than the field, or restored from an older backup) or null reads as its default, as mongoose applies
 * it to new documents. A record that cannot be read (a period date missing or stored as something other than a date, a
 * plan or status this version does not know) is damaged: no version wrote it, and guessing would act on a wrong state
 * (a date stored as a string reads, but no filter on the period matches it, so renewals would be refunded and the
 * sweep would never end it). It is logged with its id and left to support.
 */
export function readStored(
  model: Model<Subscription>,
  stored: StoredSubscription,
): SubscriptionRecord | DamagedSubscription {
  for (const field of NULL_MEANS_DEFAULT) if (stored[field] === null) delete stored[field];
  model.applyDefaults(stored);
  const problems = problemsOf(stored);
  if (problems.length === 0) return stored as unknown as SubscriptionRecord;
  logger.warn(`Subscription ${String(stored._id)} cannot be read and needs repair: ${problems.join('; ')}`);
  return { _id: stored._id, userId: stored.userId, problems };
}

/**
 * A stored subscription whose `_id` is no ObjectId (an import without types stores it as text): damaged whatever else
 * it holds, as the admin list pages by ObjectId and every write finds the record by one. Logged as readStored logs.
 */
export function readWithForeignId(
  model: Model<Subscription>,
  stored: Record<string, unknown>,
): Omit<DamagedSubscription, '_id'> & { _id: unknown } {
  const read = readStored(model, stored as StoredSubscription);
  const problems = [`_id is ${shown(stored._id)}, not an ObjectId`, ...(isDamaged(read) ? read.problems : [])];
  if (!isDamaged(read))
    logger.warn(`Subscription ${String(stored._id)} cannot be read and needs repair: ${problems[0]}`);
  return { _id: stored._id, userId: stored.userId, problems };
}

export function isDamaged(read: SubscriptionRecord | DamagedSubscription): read is DamagedSubscription {
  return 'problems' in read;
}

function problemsOf(stored: StoredSubscription): string[] {
  const problems: string[] = [];
  if (!(stored.userId instanceof Types.ObjectId)) problems.push(`userId is ${shown(stored.userId)}, not an ObjectId`);
  for (const field of ['currentPeriodStart', 'currentPeriodEnd']) {
    const value = stored[field];
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
      problems.push(`${field} is ${shown(value)}, not a date`);
    }
  }
  const known = { plan: PLAN_IDS, status: SUBSCRIPTION_STATUSES } as const;
  for (const [field, values] of Object.entries(known)) {
    if (!(values as readonly unknown[]).includes(stored[field])) {
      problems.push(`${field} is ${shown(stored[field])}, not one of ${values.join(', ')}`);
    }
  }
  for (const field of ['pendingPlan', 'previousPlan']) {
    if (stored[field] !== null && !(PLAN_IDS as readonly unknown[]).includes(stored[field])) {
      problems.push(`${field} is ${shown(stored[field])}, not null nor one of ${PLAN_IDS.join(', ')}`);
    }
  }
  return problems;
}

/**
 * The member a subscription names, for a job that reads only that (cache warming), or undefined when its userId is no
 * ObjectId (as readStored finds it): logged with the subscription's id for support, as what the job leaves out.
 */
export function memberOf(stored: { _id: unknown; userId: unknown }, leftOut: string): string | undefined {
  if (stored.userId instanceof Types.ObjectId) return stored.userId.toHexString();
  logger.warn(
    `Subscription ${String(stored._id)} needs repair: userId is ${shown(stored.userId)}, not an ObjectId; ${leftOut}`,
  );
  return undefined;
}

function shown(value: unknown): string {
  return value === undefined ? 'missing' : value instanceof Date ? 'an invalid date' : JSON.stringify(value);
}

/** The OpenAPI description of the 409 that routes reading a member's subscription answer for a damaged one. */
export const DAMAGED_SUBSCRIPTION = 'Your subscription record is damaged: support must repair it; nothing was changed';

/**
 * A member's subscription that cannot be read (readStored): 409, as no retry can change it and only support can,
 * rather than a 500 that reads as a passing fault of the API. Nothing was changed or charged.
 */
export class SubscriptionNeedsSupportException extends ConflictException {
  constructor(readonly damaged: DamagedSubscription) {
    super(
      `The subscription record ${String(damaged._id)} is damaged and needs support's attention; nothing was ` +
        'changed or charged. Contact support with this reference.',
    );
  }
}
