import type { Hash } from "viem";
import { describeError } from "../db/index.js";
import {
  PaymentError,
  caip2,
  encodeSettlementResponse,
  isPaymentError,
  v1NetworkName,
} from "../x402/index.js";
import { confirmPayment, failPayment, releaseRow } from "./store.js";
import type { PaymentFlowDeps, Receipt, ReservedPayment, StoredResponse } from "./types.js";

/**
 * Steps 6–7 for synchronous settlement: settle, then record the receipt and the response on the
 * row in one update, so an identical retry gets exactly what this request got.
 * `respond` builds the final response around the receipt (the adapter adds its header).
 * A failed settlement marks the row `failed` (reconciliation may still find a broadcast
 * transaction mined) and rethrows the scheme's `PaymentError` with the failure receipt in
 * `details.receipt`.
 */
export async function completePayment(
  deps: PaymentFlowDeps,
  reserved: ReservedPayment,
  respond: (receipt: Receipt) => StoredResponse,
): Promise<StoredResponse> {
  const scheme = deps.schemes.find((s) => s.name === reserved.payment.scheme && s.chainId === reserved.payment.chainId);
  if (scheme === undefined) throw new Error(`no scheme ${reserved.payment.scheme} on chain ${reserved.payment.chainId}`);
  let transaction: Hash;
  try {
    ({ transaction } = await scheme.settle(reserved.payment));
  } catch (error) {
    const code = isPaymentError(error) ? error.code : "settlement_failed";
    const broadcast = isPaymentError(error) && typeof error.details?.["transaction"] === "string" ? (error.details["transaction"] as string) : undefined;
    try {
      await failPayment(deps.db, reserved.id, `${code}: ${describeError(error).message}`, broadcast);
    } catch (dbError) {
      // Left `reserved`: reconciliation will find the authorization unused (or spent) on chain.
      deps.log?.error({ err: dbError, paymentId: reserved.id }, "failed settlement could not be recorded");
    }
    const receipt = failureReceipt(reserved, code === "chain_unavailable" ? "settlement outcome unknown" : "settlement failed; nothing was charged");
    if (isPaymentError(error)) throw new PaymentError(error.code, error.message, { ...error.details, receipt }, { cause: error });
    throw new PaymentError("settlement_failed", "settlement failed", { receipt }, { cause: error });
  }
  const receipt = successReceipt(reserved, transaction);
  const response = respond(receipt);
  try {
    await confirmPayment(deps.db, reserved.id, transaction, response);
  } catch (error) {
    // The payer has been charged: the response is owed whatever the database says. The row stays
    // `reserved`, which reconciliation resolves from the chain (the authorization is spent).
    deps.log?.error({ err: error, paymentId: reserved.id, transaction }, "settled payment could not be recorded");
  }
  return response;
}

/**
 * Step 5's failure path: the upstream could not serve, so the payment is given up without
 * charging (the signed authorization is never submitted). The key stays used: the client signs a
 * new payment to try again.
 */
export async function releasePayment(deps: PaymentFlowDeps, reserved: ReservedPayment, reason: string): Promise<Receipt> {
  await releaseRow(deps.db, reserved.id, reason);
  return failureReceipt(reserved, "upstream failed; nothing was charged");
}

function successReceipt({ version, payment }: ReservedPayment, transaction: Hash): Receipt {
  const base = { success: true as const, transaction, payer: payment.payer };
  const value =
    version === 1
      ? encodeSettlementResponse({ ...base, network: v1Network(payment.chainId) }, 1)
      : encodeSettlementResponse({ ...base, network: caip2(payment.chainId) }, 2);
  return { version, value, success: true };
}

export function failureReceipt({ version, payment }: ReservedPayment, errorReason: string): Receipt {
  const base = { success: false as const, transaction: "" as const, payer: payment.payer, errorReason };
  const value =
    version === 1
      ? encodeSettlementResponse({ ...base, network: v1Network(payment.chainId) }, 1)
      : encodeSettlementResponse({ ...base, network: caip2(payment.chainId) }, 2);
  return { version, value, success: false };
}

// A v1 payment was matched by its v1 network name, so the chain always has one.
function v1Network(chainId: number): string {
  return v1NetworkName(chainId) ?? caip2(chainId);
}
