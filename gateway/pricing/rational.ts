/**
 * Exact non-negative rationals over bigint, and integer division with an explicit rounding
 * direction. Every price in the gateway goes through here, so nothing is ever a float: a price
 * is a ratio of two integers until the single, deliberate rounding into atomic token units.
 */

/** n / d with d > 0 and n >= 0, kept in lowest terms so equal values compare equal field by field. */
export interface Rational {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

/**
 * Direction of the one rounding step of a conversion. "up" is the ceiling, "down" the floor
 * (operands are never negative, so there is no "towards zero" ambiguity).
 */
export type Rounding = "up" | "down";

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** A rational in lowest terms; throws RangeError for a negative numerator or a non-positive denominator. */
export function rational(numerator: bigint, denominator: bigint = 1n): Rational {
  if (typeof numerator !== "bigint" || typeof denominator !== "bigint") throw new TypeError("rational parts must be bigints");
  if (numerator < 0n) throw new RangeError(`rational numerator must not be negative, got ${numerator}`);
  if (denominator <= 0n) throw new RangeError(`rational denominator must be positive, got ${denominator}`);
  const divisor = gcd(numerator, denominator);
  // gcd(0, d) = d, which turns 0/d into 0/1: the canonical zero.
  return { numerator: numerator / divisor, denominator: denominator / divisor };
}

/** n / d rounded as asked; both operands non-negative, d positive. */
export function divide(numerator: bigint, denominator: bigint, rounding: Rounding): bigint {
  if (numerator < 0n) throw new RangeError(`dividend must not be negative, got ${numerator}`);
  if (denominator <= 0n) throw new RangeError(`divisor must be positive, got ${denominator}`);
  const quotient = numerator / denominator;
  if (rounding === "down" || quotient * denominator === numerator) return quotient;
  return quotient + 1n;
}

/** Exact comparison: negative, zero or positive as a is less than, equal to or greater than b. */
export function compareRational(a: Rational, b: Rational): -1 | 0 | 1 {
  const left = a.numerator * b.denominator;
  const right = b.numerator * a.denominator;
  return left < right ? -1 : left > right ? 1 : 0;
}

/** Exact product. */
export function multiplyRational(a: Rational, b: Rational): Rational {
  return rational(a.numerator * b.numerator, a.denominator * b.denominator);
}
