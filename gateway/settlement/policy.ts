import type { EscrowBatchFailure } from "../schemes/escrow/batch.js";

/**
 * What the engine does with a payment the escrow did not settle, by the escrow's reason
 * (docs/settlement-engine.md, "Failures"):
 *
 * - `fail`: it can never settle as signed (expired, bad signature, bad payee, corrupt row).
 * - `retry`: it may settle later, and only the payer or the registry can change that (funds
 *   topped up, token un-paused, limits restored, the chain's clock catching up). Retried with
 *   backoff, at most {@link PAYMENT_RETRY_LIMIT} times, and never past expiry: the escrow checks
 *   `Expired` before any of these, so an expired authorization turns into `fail` by itself.
 * - `lookup`: the nonce is spent. Perhaps by us (a settlement whose record was lost), perhaps by
 *   the payer elsewhere: the chain's logs decide between `confirmed` and `failed`.
 * - `requeue`: nothing is known to be wrong with the payment (no event for it in a mined batch);
 *   the next simulation will tell.
 */
export type FailurePolicy = "fail" | "retry" | "lookup" | "requeue";

const policyByFailure: Readonly<Record<EscrowBatchFailure, FailurePolicy>> = {
  Expired: "fail",
  InvalidSignature: "fail",
  InvalidPayee: "fail",
  invalid_settlement_data: "fail",
  NotYetValid: "retry",
  TokenNotAccepted: "retry",
  AmountOutOfRange: "retry",
  InsufficientFunds: "retry",
  NonceUsed: "lookup",
  no_event: "requeue",
};

export function failurePolicy(failure: EscrowBatchFailure): FailurePolicy {
  return policyByFailure[failure];
}

/**
 * Retries a payment's own problem gets before it is failed. With the default backoff (5 s doubling,
 * capped at 60 s) that is about seven minutes, beyond the default 300 s settlement horizon: an async
 * payment still refused by then is outside the guarantee anyway (docs/escrow-scheme.md, section 8).
 * `attempts` counts every failed try, chain outages included.
 */
export const PAYMENT_RETRY_LIMIT = 10;
