import { setTimeout as sleep } from "node:timers/promises";
import { getAddress } from "viem";
import type { JsonValue, VerifiedPayment } from "../schemes/types.js";
import type { JsonObject } from "../x402/codec.js";
import { PaymentError } from "../x402/errors.js";
import { asPaymentError, isSettleBody, settleFailure, settleFailureBody, settledAnswer } from "./answers.js";
import { paymentIdentity, sameSignedPayment } from "./identity.js";
import { type ResolvedRequest, parseRequest, requestNetwork, resolveRequest } from "./request.js";
import { recordPayment } from "../payments/store.js";
import { type FacilitatorRow, confirmRow, failRow, findRow, storedAnswer } from "./store.js";
import type { FacilitatorAnswer, FacilitatorDeps, SettleBody } from "./types.js";
import { nowSeconds } from "./verify.js";

const DEFAULT_IN_FLIGHT_WAIT_MS = 30_000;
const DEFAULT_IN_FLIGHT_POLL_MS = 250;

/**
 * POST /settle: verify again, claim the payment's row, settle once, store the answer.
 *
 * The row is the replay guard. Its UNIQUE key is claimed (INSERT … ON CONFLICT DO NOTHING)
 * before any transaction is sent, so of two settles of one payment (concurrent, or on two
 * instances sharing PostgreSQL) exactly one sends a transaction. The other one waits for that
 * answer and returns it; a retry with the same terms later gets the stored answer, the same
 * payment under other terms is refused as used.
 */
export async function settleRequest(deps: FacilitatorDeps, body: JsonObject): Promise<FacilitatorAnswer<SettleBody>> {
  const request = parseRequest(body);
  const network = requestNetwork(request);
  try {
    return await settleResolved(deps, resolveRequest(deps, request));
  } catch (error) {
    const refusal = asPaymentError(error);
    if (refusal === undefined) throw error;
    return settleFailure(refusal, network);
  }
}

async function settleResolved(deps: FacilitatorDeps, resolved: ResolvedRequest): Promise<FacilitatorAnswer<SettleBody>> {
  // A retry must be recognised before verifying: by now its authorization is spent on chain.
  const identity = paymentIdentity(resolved.offer, resolved.payload);
  if (identity !== undefined) {
    const row = await findRow(deps.db, identity.paymentKey);
    if (row !== undefined) return answerFromRow(deps, resolved, identity.paymentKey, identity.signed, row);
  }

  const verified = await resolved.scheme.verify(resolved.payload, resolved.offer, nowSeconds(deps));
  // The same row the gateway's own routes write: one UNIQUE key guards both doors.
  const { id, payment } = await recordPayment(deps.db, verified, resolved.fingerprint);
  if (id === undefined) {
    // Lost the race for the key to a concurrent settle (or it was used in between).
    const row = await findRow(deps.db, payment.paymentKey);
    if (row === undefined) throw new Error(`payment ${payment.paymentKey} conflicted but has no row`);
    return answerFromRow(deps, resolved, payment.paymentKey, payment.settlementData, row);
  }
  return settleReserved(deps, resolved, payment, id);
}

async function settleReserved(
  deps: FacilitatorDeps,
  resolved: ResolvedRequest,
  payment: VerifiedPayment,
  id: string,
): Promise<FacilitatorAnswer<SettleBody>> {
  const context = { paymentId: id, paymentKey: payment.paymentKey, scheme: payment.scheme, payer: payment.payer };
  let transaction: string;
  try {
    ({ transaction } = await resolved.scheme.settle(payment));
  } catch (error) {
    const refusal = asPaymentError(error);
    // chain_unavailable (and anything unexpected) leaves the outcome open: a transaction may be on
    // its way. Such a row keeps no answer, so a retry cannot be told "nothing was charged".
    const final = refusal !== undefined && refusal.code !== "chain_unavailable";
    const failure = refusal ?? new PaymentError("settlement_failed", "settlement failed unexpectedly", undefined, { cause: error });
    const broadcast = failure.details?.["transaction"];
    const body = settleFailureBody(failure, resolved.network, payment.payer);
    try {
      await failRow(
        deps.db,
        id,
        `${failure.code}: ${failure.message}`,
        typeof broadcast === "string" ? broadcast : undefined,
        final ? body : undefined,
      );
    } catch (dbError) {
      // Left `reserved`: reconciliation finds the authorization unused (or spent) on chain.
      deps.log?.error({ ...context, err: dbError }, "failed facilitator settlement could not be recorded");
    }
    if (refusal === undefined) {
      deps.log?.error({ ...context, err: error }, "facilitator settlement failed unexpectedly");
      throw error;
    }
    deps.log?.warn({ ...context, code: refusal.code, message: refusal.message }, "facilitator settlement failed");
    return settleFailure(refusal, resolved.network, payment.payer);
  }

  const body = settledAnswer(transaction, resolved.network, payment.payer);
  try {
    await confirmRow(deps.db, id, transaction, body);
  } catch (error) {
    // The payer has been charged: the answer is owed whatever the database says. The row stays
    // `reserved`, which reconciliation resolves from the chain (the authorization is spent).
    deps.log?.error({ ...context, transaction, err: error }, "facilitator settlement could not be recorded");
  }
  deps.log?.info({ ...context, transaction, amount: payment.amount.toString() }, "facilitator settled a payment");
  return { body };
}

/**
 * What an existing row means for this settle request. The same payment under the same terms is
 * served the stored answer (only while the authorization is valid: afterwards anyone could have
 * rebuilt the request from the chain), waits while it is being settled, and hears that the
 * outcome is unknown when a settlement may be in flight; anything else is a used payment.
 */
async function answerFromRow(
  deps: FacilitatorDeps,
  resolved: ResolvedRequest,
  paymentKey: string,
  signed: { readonly [key: string]: JsonValue },
  row: FacilitatorRow,
  waited = false,
): Promise<FacilitatorAnswer<SettleBody>> {
  const payer = getAddress(row.payer);
  const same = row.request_fingerprint === resolved.fingerprint && sameSignedPayment(row.scheme, row.payload, signed);
  if (same) {
    const stored = storedAnswer(row);
    const now = nowSeconds(deps);
    const replayable = row.valid_before === null || BigInt(Math.floor(row.valid_before.getTime() / 1000)) > now;
    if (stored !== undefined && isSettleBody(stored) && replayable) return { body: stored };
    // Confirmed by reconciliation after an outcome this facilitator could not see (no answer stored).
    if (row.state === "confirmed" && stored === undefined && row.tx_hash !== null && replayable) {
      return { body: settledAnswer(row.tx_hash, resolved.network, payer) };
    }
    if (row.state === "reserved") {
      if (!waited) {
        const settled = await waitWhileReserved(deps, paymentKey);
        if (settled !== undefined) return answerFromRow(deps, resolved, paymentKey, signed, settled, true);
      }
      return settleFailure(new PaymentError("payment_in_flight", "this payment is being settled; ask again later"), resolved.network, payer);
    }
    // Unknown outcome, until reconciliation decides; once the authorization expired, it is used up either way.
    if (row.state === "failed" && stored === undefined && replayable) {
      return settleFailure(
        new PaymentError("chain_unavailable", "the outcome of this payment's settlement is not known yet; ask again later", {
          reason: row.failure_reason,
          ...(row.tx_hash === null ? {} : { transaction: row.tx_hash }),
        }),
        resolved.network,
        payer,
      );
    }
  }
  return settleFailure(
    new PaymentError(row.scheme === "transfer" ? "transfer_already_used" : "nonce_used", "this payment has already been used"),
    resolved.network,
    payer,
  );
}

/** Re-reads the row until it leaves `reserved` or the wait is over; undefined if it never did. */
async function waitWhileReserved(deps: FacilitatorDeps, paymentKey: string): Promise<FacilitatorRow | undefined> {
  const deadline = Date.now() + (deps.inFlightWaitMs ?? DEFAULT_IN_FLIGHT_WAIT_MS);
  const poll = deps.inFlightPollMs ?? DEFAULT_IN_FLIGHT_POLL_MS;
  while (Date.now() < deadline) {
    await sleep(Math.min(poll, Math.max(1, deadline - Date.now())));
    const row = await findRow(deps.db, paymentKey);
    if (row !== undefined && row.state !== "reserved") return row;
  }
  return undefined;
}
