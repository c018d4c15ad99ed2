/**
 * Errors of the pricing layer. Neither is a PaymentError: a malformed configured price is an
 * operator mistake caught at start-up, and a missing price is our outage, not the payer's fault.
 */

/** A configured price, time or amount string that is not in the exact form the gateway accepts. */
export class PriceFormatError extends Error {
  override readonly name = "PriceFormatError";
  /** The offending input, as given. */
  readonly input: unknown;

  constructor(message: string, input: unknown) {
    super(message);
    this.input = input;
  }
}

/**
 * Why a source could not produce a price it is willing to stand behind:
 * - "stale": the last known price is older than the source's maximum age;
 * - "unreachable": the chain did not answer;
 * - "no-liquidity": the pair's reserves are empty or below the configured floor, so its ratio is
 *   not a market price (and is cheap to move);
 * - "misconfigured": the source cannot work as configured (pair without the expected tokens, …).
 */
export type PriceUnavailableReason = "stale" | "unreachable" | "no-liquidity" | "misconfigured";

/**
 * No fresh price for a token right now. The HTTP layer maps it to 503 `price_unavailable`: the
 * gateway refuses to quote rather than charge from a price it cannot vouch for.
 */
export class PriceUnavailableError extends Error {
  override readonly name = "PriceUnavailableError";
  /** The x402 error code the HTTP layer answers with. */
  readonly code = "price_unavailable" as const;
  readonly reason: PriceUnavailableReason;
  /** Which source gave up (for logs, never sent to clients). */
  readonly source: string;

  constructor(reason: PriceUnavailableReason, source: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
    this.source = source;
  }
}

export function isPriceUnavailableError(value: unknown): value is PriceUnavailableError {
  return value instanceof PriceUnavailableError;
}
