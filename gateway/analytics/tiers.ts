/**
 * Reputation tiers: what an agent's payment record earns it.
 *
 * | tier     | successful requests | success rate | discount |
 * | bronze   | 0                   | —            | 0 %      |
 * | silver   | 100                 | ≥ 85 %       | 5 %      |
 * | gold     | 500                 | ≥ 90 %       | 10 %     |
 * | platinum | 2,000               | ≥ 95 %       | 15 %     |
 * | diamond  | 10,000              | ≥ 98 %       | 20 %     |
 *
 * An agent gets the highest tier whose two conditions it meets both, so 600 successes at 88 %
 * is silver, not gold. The rate is compared in integers (successful × 100 ≥ percent × total):
 * 85 % of 1,000 is exactly 850, never 849.9999.
 */

export const TIER_NAMES = ["bronze", "silver", "gold", "platinum", "diamond"] as const;
export type TierName = (typeof TIER_NAMES)[number];

export interface Tier {
  readonly name: TierName;
  readonly minSuccessful: number;
  /** Minimum success rate, whole percent. */
  readonly minRatePercent: number;
  readonly discountBps: number;
}

/** Highest first. */
export const TIERS: readonly Tier[] = [
  { name: "diamond", minSuccessful: 10_000, minRatePercent: 98, discountBps: 2_000 },
  { name: "platinum", minSuccessful: 2_000, minRatePercent: 95, discountBps: 1_500 },
  { name: "gold", minSuccessful: 500, minRatePercent: 90, discountBps: 1_000 },
  { name: "silver", minSuccessful: 100, minRatePercent: 85, discountBps: 500 },
  { name: "bronze", minSuccessful: 0, minRatePercent: 0, discountBps: 0 },
];

const BRONZE = TIERS[TIERS.length - 1] as Tier;

/** The tier earned by `successful` out of `total` counted requests. */
export function tierFor(successful: number | bigint, total: number | bigint): Tier {
  const s = count(successful, "successful");
  const t = count(total, "total");
  if (s > t) throw new RangeError(`successful requests (${s}) exceed the total (${t})`);
  for (const tier of TIERS) {
    if (s >= BigInt(tier.minSuccessful) && s * 100n >= BigInt(tier.minRatePercent) * t) return tier;
  }
  return BRONZE;
}

export function tierByName(name: string): Tier | undefined {
  return TIERS.find((tier) => tier.name === name);
}

function count(value: number | bigint, what: string): bigint {
  if (typeof value === "bigint") {
    if (value < 0n) throw new RangeError(`${what} must not be negative`);
    return value;
  }
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a non-negative integer, got ${value}`);
  return BigInt(value);
}
