/**
 * Discounts in basis points (reputation tiers, batch-volume discounts), applied exactly.
 *
 * Rounding rule: the DISCOUNT is rounded down, so the discounted amount is rounded up. The payer
 * never pays less than the exact discounted price rounded up to the next unit, the same
 * "never undercharge" rule as the USD conversion. Several discounts compound (each applies to
 * the price left by the others), so they can never add up to more than 100 %.
 */
import { type NanoUsd, type TokenUsdPrice, NANO_USD_PER_USD, assertDecimals, assertTokenUsdPrice, nanoUsd } from "./usd.js";
import { divide } from "./rational.js";

/** 100 % in basis points. */
export const BPS_DENOMINATOR = 10_000;

/** Throws RangeError unless `bps` is an integer from 0 (no discount) to 10 000 (free). */
export function assertBps(bps: number): void {
  if (!Number.isInteger(bps) || bps < 0 || bps > BPS_DENOMINATOR) {
    throw new RangeError(`a discount must be an integer number of basis points from 0 to ${BPS_DENOMINATOR}, got ${bps}`);
  }
}

/**
 * `amount` less `bps` basis points, rounded up: amount - floor(amount * bps / 10 000).
 * Works on any non-negative integer amount (atomic token units or nano-USD).
 */
export function applyDiscountBps(amount: NanoUsd, bps: number): NanoUsd;
export function applyDiscountBps(amount: bigint, bps: number): bigint;
export function applyDiscountBps(amount: bigint, bps: number): bigint {
  if (typeof amount !== "bigint" || amount < 0n) throw new RangeError(`amount must be a non-negative bigint, got ${String(amount)}`);
  assertBps(bps);
  return amount - (amount * BigInt(bps)) / BigInt(BPS_DENOMINATOR);
}

export interface QuoteInput {
  /** List price of the call. */
  readonly priceUsd: NanoUsd;
  /** USD per whole token. */
  readonly tokenUsdPrice: TokenUsdPrice;
  /** The token's decimals. */
  readonly decimals: number;
  /** Discounts that apply, compounded; empty or absent for the list price. */
  readonly discountsBps?: readonly number[];
}

/**
 * The atomic amount to charge: list price, less every discount, converted to the token, with a
 * single rounding UP at the very end. Rounding once (instead of converting, then discounting the
 * rounded amount) keeps the result the smallest whole amount not below the exact price; it can
 * be one unit less than `applyDiscountBps(usdToTokenAmount(...), bps)`, never more.
 */
export function quoteTokenAmount({ priceUsd, tokenUsdPrice, decimals, discountsBps = [] }: QuoteInput): bigint {
  nanoUsd(priceUsd);
  assertDecimals(decimals);
  assertTokenUsdPrice(tokenUsdPrice);
  let numerator = priceUsd * tokenUsdPrice.denominator * 10n ** BigInt(decimals);
  let denominator = NANO_USD_PER_USD * tokenUsdPrice.numerator;
  for (const bps of discountsBps) {
    assertBps(bps);
    numerator *= BigInt(BPS_DENOMINATOR - bps);
    denominator *= BigInt(BPS_DENOMINATOR);
  }
  return divide(numerator, denominator, "up");
}
