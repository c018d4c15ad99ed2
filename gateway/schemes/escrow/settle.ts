import { type Address, type Hash, type TransactionReceipt, isAddressEqual, parseEventLogs } from "viem";
import { PaymentError } from "../../x402/errors.js";
import { type SenderContext, chainUnavailable, classifyCallError, sendAndConfirm } from "../chain.js";
import type { SettleOptions, Settlement, VerifiedPayment } from "../types.js";
import { settlementEscrowAbi } from "./abi.js";
import { classifyEscrowRevert, failureCode } from "./failures.js";
import { ESCROW_SCHEME } from "./offer.js";
import { type EscrowAuthorization, type EscrowSettlementData, escrowPaymentKey, escrowSettlementDataSchema } from "./payload.js";

export interface EscrowSettlerContext extends SenderContext {
  readonly escrow: Address;
}

/**
 * The settlement data as the ledger returned it, re-validated against the payment's own columns
 * and key: a corrupted or hand-edited row must fail here (`settlement_failed`) rather than send a
 * transaction for something that was never verified. A payment of another scheme or chain is a
 * routing bug (TypeError).
 */
export function escrowSettlementData(payment: VerifiedPayment, chainId: number): EscrowSettlementData {
  if (payment.scheme !== ESCROW_SCHEME || payment.chainId !== chainId) {
    throw new TypeError(`payment for ${payment.scheme} on chain ${payment.chainId} sent to escrow on chain ${chainId}`);
  }
  const parsed = escrowSettlementDataSchema.safeParse(payment.settlementData);
  if (!parsed.success || !matchesPayment(parsed.data, payment)) {
    throw new PaymentError("settlement_failed", "the stored settlement data does not match the payment", {
      paymentKey: payment.paymentKey,
      reason: "invalid_settlement_data",
    });
  }
  return parsed.data;
}

function matchesPayment(data: EscrowSettlementData, payment: VerifiedPayment): boolean {
  const a = data.authorization;
  return (
    isAddressEqual(a.payer, payment.payer) &&
    isAddressEqual(a.payee, payment.payee) &&
    isAddressEqual(a.token, payment.token) &&
    a.amount === payment.amount &&
    escrowPaymentKey(payment.chainId, data.escrow, a.payer, a.nonce) === payment.paymentKey
  );
}

/** The escrow a payment's signature is bound to must be the one this settler sends to. */
export function assertSameEscrow(data: EscrowSettlementData, escrow: Address): void {
  if (!isAddressEqual(data.escrow, escrow)) {
    throw new TypeError(`payment signed for escrow ${data.escrow} sent to escrow ${escrow}`);
  }
}

/**
 * One `settle` transaction: estimate (which is also a last simulation, so a doomed transaction is
 * never broadcast), send (legacy on SKALE chains), wait for one confirmation, and accept only a
 * successful receipt carrying the escrow's `PaymentSettled` for exactly this authorization.
 */
export async function settleEscrow(
  ctx: EscrowSettlerContext,
  payment: VerifiedPayment,
  options: SettleOptions = {},
): Promise<Settlement> {
  const data = escrowSettlementData(payment, ctx.chainId);
  assertSameEscrow(data, ctx.escrow);
  const details = { payer: payment.payer, paymentKey: payment.paymentKey };
  const call = {
    address: ctx.escrow,
    abi: settlementEscrowAbi,
    functionName: "settle",
    args: [data.authorization, data.signature],
  };
  const { transaction, receipt } = await sendAndConfirm(ctx, call, options, (error) => settlementRefused(error, details), details);
  checkSettleReceipt(receipt, ctx.escrow, data.authorization, payment.paymentKey);
  return { transaction, blockNumber: receipt.blockNumber };
}

/**
 * A failed estimate or send. The escrow's verdict keeps its meaning: `nonce_used` (spent, maybe by
 * an earlier attempt of ours: reconcile), `settlement_failed` with the precise code as `reason`
 * (it cannot go through as signed), `chain_unavailable` for a pause (it can once unpaused), for an
 * address that does not answer like the escrow, and for anything that is not the escrow's answer.
 */
export function settlementRefused(error: unknown, details: Readonly<Record<string, unknown>>): PaymentError {
  const failure = classifyCallError(error);
  if (failure.kind === "unavailable") return chainUnavailable("settlement transaction not sent", error, details);
  // No code at the escrow address is our misconfiguration, never the payment's fault: retry once fixed.
  if (failure.kind === "no_data") return chainUnavailable("the escrow does not answer", error, { ...details, reason: "no_data" });
  const revert = classifyEscrowRevert(failure);
  if (revert.kind === "paused") {
    return new PaymentError("chain_unavailable", "the escrow is paused", { ...details, reason: "paused" }, { cause: error });
  }
  if (revert.kind === "unknown") {
    return new PaymentError("settlement_failed", `the escrow refuses the settlement (${revert.reason ?? "reverted"})`, {
      ...details,
      reason: revert.reason ?? "reverted",
    }, { cause: error });
  }
  const code = failureCode(revert.failure);
  return new PaymentError(
    code === "nonce_used" ? "nonce_used" : "settlement_failed",
    `the escrow refuses the settlement (${revert.failure})`,
    { ...details, reason: code },
    { cause: error },
  );
}

/**
 * Success means status 1 AND the escrow's own `PaymentSettled` for exactly this authorization:
 * a receipt from any other contract, or for another payment, does not count as paid.
 */
export function checkSettleReceipt(
  receipt: TransactionReceipt,
  escrow: Address,
  authorization: EscrowAuthorization,
  paymentKey: string,
): void {
  const details = { payer: authorization.payer, paymentKey, transaction: receipt.transactionHash };
  if (receipt.status !== "success") {
    throw new PaymentError("settlement_failed", "the settlement transaction reverted", details);
  }
  const logs = parseEventLogs({ abi: settlementEscrowAbi, eventName: "PaymentSettled", logs: receipt.logs });
  if (!logs.some((log) => isAddressEqual(log.address, escrow) && settledEventMatches(log.args, authorization))) {
    throw new PaymentError("settlement_failed", "the settlement transaction emitted no matching PaymentSettled", details);
  }
}

export interface PaymentSettledArgs {
  readonly payer: Address;
  readonly payee: Address;
  readonly token: Address;
  readonly nonce: bigint;
  readonly amount: bigint;
  readonly fee: bigint;
  readonly challengeHash: Hash;
}

export function settledEventMatches(args: PaymentSettledArgs, authorization: EscrowAuthorization): boolean {
  return (
    isAddressEqual(args.payer, authorization.payer) &&
    isAddressEqual(args.payee, authorization.payee) &&
    isAddressEqual(args.token, authorization.token) &&
    args.nonce === authorization.nonce &&
    args.amount === authorization.amount &&
    args.challengeHash.toLowerCase() === authorization.challengeHash
  );
}
