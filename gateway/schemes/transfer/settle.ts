import { PaymentError } from "../../x402/errors.js";
import type { Settlement, VerifiedPayment } from "../types.js";
import { type TransferSettlementData, transferPaymentKey, transferSettlementSchema } from "./payload.js";
import { TRANSFER_SCHEME } from "./verify.js";

/**
 * The settlement data as the ledger returned it, re-validated: it must parse and must name the very
 * log the payment key was made from, so a corrupted or hand-edited row cannot report a settlement
 * for a transfer that was never verified.
 */
export function transferSettlementData(payment: VerifiedPayment): TransferSettlementData {
  const parsed = transferSettlementSchema.safeParse(payment.settlementData);
  if (!parsed.success || transferPaymentKey(payment.chainId, parsed.data.transaction, parsed.data.logIndex) !== payment.paymentKey) {
    throw new PaymentError("settlement_failed", "the stored settlement data does not match the payment", {
      paymentKey: payment.paymentKey,
    });
  }
  return parsed.data;
}

/**
 * Settling a transfer sends nothing: the payer's own transaction already moved the money to payTo,
 * and verification saw it mined with the required confirmations (final, on SKALE). So settlement
 * reports that transaction and its block, with no RPC, and cannot fail for chain reasons; the
 * settlement engine can mark the payment settled at once.
 */
export async function settleTransfer(chainId: number, payment: VerifiedPayment): Promise<Settlement> {
  if (payment.scheme !== TRANSFER_SCHEME || payment.chainId !== chainId) {
    throw new TypeError(`payment for ${payment.scheme} on chain ${payment.chainId} sent to transfer on chain ${chainId}`);
  }
  const data = transferSettlementData(payment);
  return { transaction: data.transaction, blockNumber: data.blockNumber };
}
