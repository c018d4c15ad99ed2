import type { Hash } from "viem";
import { describeError } from "../db/index.js";
import { recordForFlow, servedFirstDone } from "./record.js";
import { defaultSchemeRules, settlementModeOf } from "./scheme-rules.js";
import {
  PaymentError,
  caip2,
  encodeSettlementResponse,
  isPaymentError,
  v1NetworkName,
} from "../x402/index.js";
import { type RecordedPayment, confirmPayment, findPayment, failPayment, keepUnserved, markVerified, recordServed, releaseRow } from "./store.js";
import type { PaymentFlowDeps, Receipt, RecordWhenServed, ReservedPayment, StoredResponse } from "./types.js";

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
  if (reserved.id === undefined) return completeServedFirst(deps, reserved, respond);
  if (reserved.chargedIn !== undefined) return completeCharged(deps, reserved, reserved.chargedIn, respond);
  if (reserved.settlement === "async") return completeOnCredit(deps, reserved, respond);
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
 * Async settlement (escrow on credit): the response is served now and the row becomes the
 * settlement engine's work (`verified`) in the same update that stores the response. Nothing is
 * on chain yet, so the receipt names no transaction (see `deferredReceipt`). If the row cannot be
 * updated, the response is withheld and the payment released (best effort): serving it would
 * leave a payment nobody settles, and withholding it charges nobody.
 */
async function completeOnCredit(
  deps: PaymentFlowDeps,
  reserved: ReservedPayment & { readonly id: string },
  respond: (receipt: Receipt) => StoredResponse,
): Promise<StoredResponse> {
  const response = respond(deferredReceipt(reserved));
  let recorded: boolean;
  try {
    recorded = await markVerified(deps.db, reserved.id, response);
  } catch (error) {
    await releaseRow(deps.db, reserved.id, "the response could not be recorded").catch((releaseError: unknown) =>
      deps.log?.error({ err: releaseError, paymentId: reserved.id }, "unrecorded async payment could not be released"),
    );
    const receipt = failureReceipt(reserved, "the payment could not be recorded; nothing was charged");
    throw new PaymentError("database_unavailable", "the payment could not be recorded; nothing was charged", { receipt }, { cause: error });
  }
  // Only this request moves its own row out of `reserved`; anything else is a bug to surface.
  if (!recorded) throw new Error(`payment ${reserved.id} was no longer reserved when its response was recorded`);
  return response;
}

/**
 * A payment served before it was recorded (accept.ts, `servesBeforeRecording`): the funds check
 * and the row happen now, in one statement that records the response with it when the funds
 * allow credit. Until that statement has committed nothing is sent, so the payer gets the
 * response only for a payment the engine will settle. Refused, or the database failing, the
 * response is withheld and nothing was charged (nothing was written). A form that must settle
 * first continues as a synchronous payment; a twin that recorded the same payment first decides
 * as a replay would.
 */
async function completeServedFirst(
  deps: PaymentFlowDeps,
  reserved: ReservedPayment & { readonly id?: undefined; readonly recordWhenServed: RecordWhenServed },
  respond: (receipt: Receipt) => StoredResponse,
): Promise<StoredResponse> {
  const rules = (deps.schemeRules ?? defaultSchemeRules)[reserved.payment.scheme];
  let recorded: RecordedPayment;
  let response: StoredResponse;
  try {
    response = respond(deferredReceipt(reserved));
    try {
      recorded = await recordForFlow(deps, rules, reserved.payment, reserved.fingerprint, undefined, response);
    } catch (error) {
      const receipt = failureReceipt(reserved, "the payment was not accepted; nothing was charged");
      if (isPaymentError(error)) throw new PaymentError(error.code, error.message, { ...error.details, receipt }, { cause: error });
      throw new PaymentError("database_unavailable", "the payment could not be recorded; nothing was charged", { receipt }, { cause: error });
    }
  } finally {
    // However it ended, this request is no longer serving the payment: a retry may try again.
    servedFirstDone(deps, reserved.payment);
  }
  if (recorded.id === undefined) {
    const outcome = await reserved.recordWhenServed.conflict(await findPayment(deps.db, reserved.payment.paymentKey));
    return outcome.kind === "replay" ? outcome.response : completePayment(deps, outcome.reserved, respond);
  }
  if (recorded.served) return response;
  const settlement = settlementModeOf(rules, recorded.payment);
  return completePayment(deps, { ...reserved, id: recorded.id, recordWhenServed: undefined, payment: recorded.payment, settlement }, respond);
}

/**
 * For a payment served first (no row of its own yet) whose request is about to fail (rate limit,
 * upstream failure): whether an earlier request recorded it already, which this process did not
 * know (another instance served it, or this one restarted). Then the failure must not say
 * "nothing was charged": the request gets what a replay gets, the stored response when it is the
 * same request, else the refusal (thrown: `nonce_used`, `payment_in_flight`). Undefined when the
 * payment was never recorded, or has no row of its own to look for.
 */
export async function earlierOutcome(deps: PaymentFlowDeps, reserved: ReservedPayment): Promise<StoredResponse | undefined> {
  if (reserved.id !== undefined) return undefined;
  const row = await findPayment(deps.db, reserved.payment.paymentKey);
  if (row === undefined) return undefined;
  servedFirstDone(deps, reserved.payment);
  const outcome = await reserved.recordWhenServed.conflict(row);
  return outcome.kind === "replay" ? outcome.response : undefined;
}

/**
 * A resumed payment that was already charged (a transfer whose first attempt found the upstream
 * down): nothing to settle, only the response to store, with the transaction that paid.
 */
async function completeCharged(
  deps: PaymentFlowDeps,
  reserved: ReservedPayment & { readonly id: string },
  transaction: Hash,
  respond: (receipt: Receipt) => StoredResponse,
): Promise<StoredResponse> {
  const response = respond(successReceipt(reserved, transaction));
  try {
    await recordServed(deps.db, reserved.id, response);
  } catch (error) {
    // Paid and now served: the response is owed whatever the database says.
    deps.log?.error({ err: error, paymentId: reserved.id }, "served payment could not be recorded");
  }
  return response;
}

/**
 * Step 5's failure path: the upstream could not serve. A payment that is not on chain yet is given
 * up without charging (the signed authorization is never submitted; the escrow amount stops
 * counting against the payer); its key stays used, so the client signs a new payment to try
 * again. A payment that moved the money before the request (transfer) cannot be un-charged: it is
 * recorded as settled but unserved, and the same request with the same proof is served once the
 * upstream works (the receipt says it was charged).
 */
export async function releasePayment(deps: PaymentFlowDeps, reserved: ReservedPayment, reason: string): Promise<Receipt> {
  // Not recorded yet: there is nothing to give up.
  if (reserved.id === undefined) {
    servedFirstDone(deps, reserved.payment);
    return failureReceipt(reserved, "upstream failed; nothing was charged");
  }
  const rules = (deps.schemeRules ?? defaultSchemeRules)[reserved.payment.scheme];
  if (reserved.chargedIn !== undefined || rules?.chargedBeforeServing === true) {
    const transaction = reserved.chargedIn ?? rules?.onChainTransaction?.(reserved.payment);
    if (transaction !== undefined) {
      await keepUnserved(deps.db, reserved.id, transaction, reason);
      return successReceipt(reserved, transaction);
    }
  }
  await releaseRow(deps.db, reserved.id, reason);
  return failureReceipt(reserved, "upstream failed; nothing was charged");
}

/**
 * The receipt of a payment accepted on credit. x402 defines `transaction` as the settlement's
 * transaction hash, "" when there is none; there is none yet, and a placeholder hash would be a
 * lie a client might look up. So: `success: true` (the payment is accepted and will be settled:
 * the signed authorization is stored and covered by the payer's commitment), `transaction: ""`.
 * The payment appears on chain within the settlement horizon as the escrow's `PaymentSettled`
 * for (payer, nonce).
 */
export function deferredReceipt(reserved: Pick<ReservedPayment, "version" | "payment">): Receipt {
  return { version: reserved.version, value: encodeReceipt(reserved, { success: true, transaction: "" }), success: true };
}

function successReceipt(reserved: Pick<ReservedPayment, "version" | "payment">, transaction: Hash): Receipt {
  return { version: reserved.version, value: encodeReceipt(reserved, { success: true, transaction }), success: true, transaction };
}

export function failureReceipt(reserved: ReservedPayment, errorReason: string): Receipt {
  const value = encodeReceipt(reserved, { success: false, transaction: "", errorReason });
  return { version: reserved.version, value, success: false };
}

/** The settlement-response header value, with the network spelled as the payment's version spells it. */
function encodeReceipt(
  { version, payment }: Pick<ReservedPayment, "version" | "payment">,
  outcome: { success: true; transaction: Hash | "" } | { success: false; transaction: ""; errorReason: string },
): string {
  const body = { ...outcome, payer: payment.payer };
  return version === 1
    ? encodeSettlementResponse({ ...body, network: v1Network(payment.chainId) }, 1)
    : encodeSettlementResponse({ ...body, network: caip2(payment.chainId) }, 2);
}

// A v1 payment was matched by its v1 network name, so the chain always has one.
function v1Network(chainId: number): string {
  return v1NetworkName(chainId) ?? caip2(chainId);
}
