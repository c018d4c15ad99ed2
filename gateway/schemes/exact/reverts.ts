import type { ErrorCode } from "../../x402/errors.js";
import type { CallFailure } from "../chain.js";

type PaymentRevertCode = Extract<
  ErrorCode,
  "invalid_signature" | "not_yet_valid" | "expired" | "nonce_used" | "insufficient_funds" | "settlement_failed"
>;

/** Custom errors (MockUSDC, OpenZeppelin 5 tokens); a Map, so no error name can hit a prototype key. */
const byErrorName: ReadonlyMap<string, PaymentRevertCode> = new Map([
  ["InvalidSignature", "invalid_signature"],
  ["AuthorizationNotYetValid", "not_yet_valid"],
  ["AuthorizationExpired", "expired"],
  ["AuthorizationUsedOrCanceled", "nonce_used"],
  ["ERC20InsufficientBalance", "insufficient_funds"],
]);

/**
 * FiatToken (every version) reverts with strings: "FiatTokenV2: invalid signature",
 * "ECRecover: invalid signature 's' value", "FiatTokenV2: authorization is used or canceled",
 * "…authorization is not yet valid", "…authorization is expired", "ERC20: transfer amount exceeds
 * balance". Matched loosely, since bridged copies reword prefixes.
 */
const byReason: readonly (readonly [RegExp, PaymentRevertCode])[] = [
  [/invalid signature|signature is invalid|ECRecover/i, "invalid_signature"],
  [/used or cancel/i, "nonce_used"],
  [/not yet valid/i, "not_yet_valid"],
  [/expired/i, "expired"],
  [/exceeds balance|insufficient balance/i, "insufficient_funds"],
];

/**
 * The most specific code for a reverted `transferWithAuthorization`. Reverts with no payment
 * meaning of their own (blacklisted, paused, unknown) are `settlement_failed`: the payment cannot
 * go through as signed.
 */
export function revertCode(failure: Extract<CallFailure, { kind: "revert" }>): PaymentRevertCode {
  const code = byErrorName.get(failure.error?.errorName ?? "");
  if (code !== undefined) return code;
  const reason = failure.reason ?? "";
  return byReason.find(([pattern]) => pattern.test(reason))?.[1] ?? "settlement_failed";
}
