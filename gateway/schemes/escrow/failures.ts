import type { ErrorCode } from "../../x402/errors.js";
import type { CallFailure } from "../chain.js";
import type { SettlementFailureName } from "./abi.js";

export type EscrowRejectionCode = Extract<
  ErrorCode,
  | "wrong_recipient"
  | "not_yet_valid"
  | "expired"
  | "unsupported_token"
  | "nonce_used"
  | "insufficient_funds"
  | "invalid_signature"
>;

/**
 * The stable code for each reason the escrow refuses a payment (`checkPayment`, `settleBatch`).
 *
 * `AmountOutOfRange` is `unsupported_token`: the price of this resource lies outside the token's
 * per-payment limits in the registry, so no payment in this token can buy it, however it is
 * signed. The payer cannot fix that by paying differently (`amount_mismatch` would tell it to),
 * and it is not a bad request; it can pay with another token's offer, which is what
 * `unsupported_token` says. Offers built from catalog entries that carry the limits never get
 * here (`escrowOffer` leaves such tokens out).
 *
 * `InvalidPayee` (zero address or the escrow itself) cannot come from a payment that matched its
 * offer, because offers refuse such a `payTo`; should it happen, the recipient is what is wrong.
 */
const codeByFailure: Readonly<Record<Exclude<SettlementFailureName, "None">, EscrowRejectionCode>> = {
  InvalidPayee: "wrong_recipient",
  NotYetValid: "not_yet_valid",
  Expired: "expired",
  TokenNotAccepted: "unsupported_token",
  AmountOutOfRange: "unsupported_token",
  NonceUsed: "nonce_used",
  InsufficientFunds: "insufficient_funds",
  InvalidSignature: "invalid_signature",
};

export function failureCode(failure: Exclude<SettlementFailureName, "None">): EscrowRejectionCode {
  return codeByFailure[failure];
}

/** `settle`'s custom errors (PaymentAuthorizations._revertFor), by the failure each reports. */
const failureByError: ReadonlyMap<string, Exclude<SettlementFailureName, "None">> = new Map([
  ["InvalidPayee", "InvalidPayee"],
  ["AuthorizationNotYetValid", "NotYetValid"],
  ["AuthorizationExpired", "Expired"],
  ["TokenNotAccepted", "TokenNotAccepted"],
  ["AmountOutOfRange", "AmountOutOfRange"],
  ["NonceAlreadyUsed", "NonceUsed"],
  ["InsufficientFunds", "InsufficientFunds"],
  ["InvalidSignature", "InvalidSignature"],
] as const);

/**
 * What a reverted `settle` / `settleBatch` means. `paused`: the escrow is paused, which ends (the
 * payment is not refused, it must wait); `failure`: the payment's own failure; `unknown`: any other
 * revert, which says the transaction cannot go through as built.
 */
export type EscrowRevert =
  | { readonly kind: "paused" }
  | { readonly kind: "failure"; readonly failure: Exclude<SettlementFailureName, "None"> }
  | { readonly kind: "unknown"; readonly reason: string | undefined };

export function classifyEscrowRevert(failure: Extract<CallFailure, { kind: "revert" }>): EscrowRevert {
  const name = failure.error?.errorName;
  if (name === "EnforcedPause") return { kind: "paused" };
  const known = failureByError.get(name ?? "");
  if (known !== undefined) return { kind: "failure", failure: known };
  return { kind: "unknown", reason: name ?? failure.reason };
}
