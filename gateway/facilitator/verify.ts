import { applyFundsCondition, createUnsettledLedger } from "../ledger/index.js";
import type { VerifiedPayment } from "../schemes/types.js";
import type { JsonObject } from "../x402/codec.js";
import { PaymentError } from "../x402/errors.js";
import { asPaymentError, invalidAnswer, validAnswer } from "./answers.js";
import { type ResolvedRequest, parseRequest, resolveRequest } from "./request.js";
import { findRow } from "./store.js";
import type { FacilitatorAnswer, FacilitatorDeps, VerifyBody } from "./types.js";

export function nowSeconds(deps: FacilitatorDeps): bigint {
  return deps.now?.() ?? BigInt(Math.floor(Date.now() / 1000));
}

/**
 * The scheme's verdict plus the replay guard: a payment whose key already has a row (settled,
 * being settled, or given up, through the facilitator or the gateway) is used, whatever the chain
 * says. For transfer proofs the database is the only thing that knows.
 */
export async function verifyResolved(deps: FacilitatorDeps, resolved: ResolvedRequest): Promise<VerifiedPayment> {
  const payment = await applyFundsCondition(
    createUnsettledLedger(deps.db),
    await resolved.scheme.verify(resolved.payload, resolved.offer, nowSeconds(deps)),
  );
  if ((await findRow(deps.db, payment.paymentKey)) !== undefined) {
    throw new PaymentError(
      payment.scheme === "transfer" ? "transfer_already_used" : "nonce_used",
      "this payment has already been settled or is being settled",
      { payer: payment.payer },
    );
  }
  return payment;
}

/**
 * POST /verify: would /settle go through right now? A well-formed request always gets an answer
 * in the x402 shape; only a body that is not a facilitator request throws (`invalid_request`).
 */
export async function verifyRequest(deps: FacilitatorDeps, body: JsonObject): Promise<FacilitatorAnswer<VerifyBody>> {
  const request = parseRequest(body);
  try {
    const payment = await verifyResolved(deps, resolveRequest(deps, request));
    return validAnswer(payment.payer);
  } catch (error) {
    const refusal = asPaymentError(error);
    if (refusal === undefined) throw error;
    return invalidAnswer(refusal);
  }
}
