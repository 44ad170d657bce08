/** Premium features a plan unlocks; routes ask for a plan through @RequiresPlan. */
export const FEATURES = ['who-viewed-me', 'advanced-search', 'unlimited-likes', 'profile-boost'] as const;
export type Feature = (typeof FEATURES)[number];

export const PLAN_IDS = ['free', 'premium', 'platinum'] as const;
export type PlanId = (typeof PLAN_IDS)[number];

export interface Plan {
  id: PlanId;
  name: string;
  /** Integer minor units (cents): no floating-point money anywhere. */
  priceMinor: number;
  currency: 'EUR';
  billingPeriod: 'month';
  /** Ordering for upgrades, downgrades and "this plan or better" checks. */
  rank: number;
  features: readonly Feature[];
}

/**
 * The catalogue. Prices and features come only from here, never from a client; changing a price
 * is a deploy, which keeps the price a member was charged traceable to a commit.
 */
export const PLANS: Readonly<Record<PlanId, Plan>> = {
  free: { id: 'free', name: 'Free', priceMinor: 0, currency: 'EUR', billingPeriod: 'month', rank: 0, features: [] },
  premium: {
    id: 'premium',
    name: 'Premium',
    priceMinor: 999,
    currency: 'EUR',
    billingPeriod: 'month',
    rank: 1,
    features: ['who-viewed-me', 'advanced-search', 'unlimited-likes'],
  },
  platinum: {
    id: 'platinum',
    name: 'Platinum',
    priceMinor: 1999,
    currency: 'EUR',
    billingPeriod: 'month',
    rank: 2,
    features: ['who-viewed-me', 'advanced-search', 'unlimited-likes', 'profile-boost'],
  },
};

/** Billing periods in ms. A calendar month would shift renewal days; 30 days is what members are told. */
export const PERIOD_MS = { month: 30 * 24 * 3600 * 1000 } as const;

/**
 * How long a renewing member keeps their plan after the paid period ends while the provider's confirmation is awaited:
 * processors charge a renewal at or after the period end (Stripe finalises the invoice about an hour later), and a
 * member who pays every month must not lose the plan for that hour. A failed payment reported meanwhile ends it at
 * once (past due); with no word at all, the sweep marks the subscription past due when the wait is over.
 */
export const RENEWAL_WAIT_MS = 24 * 3600 * 1000;
