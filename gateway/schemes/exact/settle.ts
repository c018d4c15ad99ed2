import { type Address, type TransactionReceipt, isAddressEqual, parseEventLogs } from "viem";
import { PaymentError } from "../../x402/errors.js";
import { type SenderContext, chainUnavailable, classifyCallError, sendAndConfirm } from "../chain.js";
import type { SettleOptions, Settlement, VerifiedPayment } from "../types.js";
import { eip3009Abi } from "./abi.js";
import { type ExactPayload, exactPayloadSchema, transferWithAuthorizationArgs } from "./payload.js";
import { revertCode } from "./reverts.js";
import { EXACT_SCHEME } from "./verify.js";

export type ExactSettlerContext = SenderContext;


/**
 * The settlement data as the ledger returned it, re-validated: a corrupted or hand-edited row must
 * fail here rather than send a transaction for something that was never verified.
 */
export function settlementPayload(payment: VerifiedPayment): ExactPayload {
  const parsed = exactPayloadSchema.safeParse(payment.settlementData);
  const a = parsed.data?.authorization;
  if (
    !parsed.success ||
    a === undefined ||
    !isAddressEqual(a.from, payment.payer) ||
    !isAddressEqual(a.to, payment.payee) ||
    a.value !== payment.amount
  ) {
    throw new PaymentError("settlement_failed", "the stored settlement data does not match the payment", {
      paymentKey: payment.paymentKey,
    });
  }
  return parsed.data;
}

/**
 * One settlement attempt: estimate (which is also a last simulation, so a doomed transaction is
 * never broadcast), send, wait for one confirmation, and accept only a successful receipt carrying
 * the token's `Transfer(from, to, value)`.
 */
export async function settleExact(
  ctx: ExactSettlerContext,
  payment: VerifiedPayment,
  options: SettleOptions = {},
): Promise<Settlement> {
  if (payment.scheme !== EXACT_SCHEME || payment.chainId !== ctx.chainId) {
    throw new TypeError(`payment for ${payment.scheme} on chain ${payment.chainId} sent to exact on chain ${ctx.chainId}`);
  }
  const payload = settlementPayload(payment);
  const details = { payer: payment.payer, paymentKey: payment.paymentKey };
  const call = {
    address: payment.token,
    abi: eip3009Abi,
    functionName: "transferWithAuthorization",
    args: transferWithAuthorizationArgs(payload),
  };
  const { transaction, receipt } = await sendAndConfirm(ctx, call, options, (error) => settlementRefused(error, details), details);
  checkReceipt(receipt, payment);
  return { transaction, blockNumber: receipt.blockNumber };
}

/** A failed estimate or send: the token's refusal keeps its meaning, anything else is the chain's. */
function settlementRefused(error: unknown, details: { payer: Address; paymentKey: string }): PaymentError {
  const failure = classifyCallError(error);
  if (failure.kind === "unavailable") return chainUnavailable("settlement transaction not sent", error, details);
  const cause = failure.kind === "revert" ? revertCode(failure) : "settlement_failed";
  // nonce_used keeps its own code: the authorization is spent, maybe by our own earlier attempt.
  const code = cause === "nonce_used" ? "nonce_used" : "settlement_failed";
  return new PaymentError(code, `the token refuses the transfer (${cause})`, { ...details, reason: cause }, { cause: error });
}

/**
 * Success means status 1 AND the token's own Transfer event for exactly this payment: a token that
 * returns without moving funds (or moves something else) must not count as paid.
 */
export function checkReceipt(receipt: TransactionReceipt, payment: VerifiedPayment): void {
  const details = { payer: payment.payer, paymentKey: payment.paymentKey, transaction: receipt.transactionHash };
  if (receipt.status !== "success") {
    throw new PaymentError("settlement_failed", "the settlement transaction reverted", details);
  }
  const transferred = parseEventLogs({ abi: eip3009Abi, eventName: "Transfer", logs: receipt.logs }).some(
    (log) =>
      isAddressEqual(log.address, payment.token) &&
      isAddressEqual(log.args.from, payment.payer) &&
      isAddressEqual(log.args.to, payment.payee) &&
      log.args.value === payment.amount,
  );
  if (!transferred) {
    throw new PaymentError("settlement_failed", "the settlement transaction emitted no matching Transfer", details);
  }
}
