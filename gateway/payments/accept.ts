import { hostname } from "node:os";
import { type Address, isAddressEqual } from "viem";
import type { PaymentScheme, VerifiedPayment } from "../schemes/types.js";
import {
  type PaymentPayload,
  type PaymentRequirementsV2,
  PaymentError,
  decodePaymentPayload,
  isPaymentError,
  findAcceptedV2,
  parseCaip2,
  v1NetworkChainId,
} from "../x402/index.js";
import { offerV2 } from "./offers.js";
import { defaultSchemeRules, settlementModeOf } from "./scheme-rules.js";
import {
  type PaymentRow,
  claimUnserved,
  findPayment,
  findPaymentsByTransaction,
  rowPayment,
} from "./store.js";
import { recordForFlow, servesBeforeRecording } from "./record.js";
import type { AcceptResult, PaymentFlowDeps, PaymentHeaders, PaymentIdentity, QuotedOffer, SchemeRules, StoredResponse } from "./types.js";

/** States in which a payment is still being processed by someone. */
const IN_FLIGHT = new Set(["reserved", "verified", "submitted"]);

export const DEFAULT_SERVE_LEASE_SECONDS = 120;

const defaultWorkerId = `${hostname()}:${process.pid}`;

/**
 * Steps 3–4: decode the payment header, pick the offer it answers, verify it and reserve its row,
 * or find it already recorded (replay). Throws `PaymentError` for every rejection; nothing is
 * written unless the payment verified and its funds allow it. A payment to be served on credit
 * may come back without a row (`recordWhenServed`): completing it records it.
 */
export async function acceptPayment(
  deps: PaymentFlowDeps,
  headers: PaymentHeaders,
  offers: readonly QuotedOffer[],
  fingerprint: string,
): Promise<AcceptResult> {
  const envelope = decodeHeaders(headers);
  const { offer, scheme } = await chooseOffer(deps, envelope, offers);
  const rules = schemeRules(deps, scheme.name);

  const now = deps.now?.() ?? BigInt(Math.floor(Date.now() / 1000));
  // Only refusals and conflicts need the payload's identity: worked out then, not for every payment.
  let identified: { value: PaymentIdentity | undefined } | undefined;
  const identity = (): PaymentIdentity | undefined => (identified ??= { value: rules?.identify(envelope.payload, offer) }).value;
  const replayOf = async (row: PaymentRow | undefined): Promise<AcceptResult> => {
    if (row === undefined) throw new Error("a payment conflicted but has no row");
    return conflict(deps, rules, envelope.x402Version, offer, row, fingerprint, identity(), now);
  };

  let payment: VerifiedPayment;
  try {
    payment = await scheme.verify(envelope.payload, offer, now);
    checkDiscountedPayer(offer, payment);
  } catch (error) {
    // A retry carries an authorization that verification may now refuse (spent on chain once
    // settled, or the chain is down): its row, if it has one, decides. Only the key is trusted
    // from the unverified payload; a replay also needs the same request and the same signed data
    // as the stored row. A new payment pays nothing for this lookup: it only happens on refusal.
    const known = isPaymentError(error) ? identity() : undefined;
    if (known !== undefined) {
      const row = await findExisting(deps, scheme, known);
      if (row !== undefined) return replayOf(row);
    }
    throw error;
  }

  // Served on credit first, recorded with its response after (one write instead of two): nothing
  // is written yet, and completePayment's recording decides whether the response is given.
  if (servesBeforeRecording(deps, rules, payment)) {
    const reserved = { version: envelope.x402Version, offer, payment, fingerprint, settlement: "async", recordWhenServed: { conflict: replayOf } } as const;
    return { kind: "reserved", reserved };
  }

  // Credit is checked against what else is unsettled on the account in the statement that records
  // the payment, so two payments never both count the same funds, across instances too.
  const recorded = await recordForFlow(deps, rules, payment, fingerprint, rules?.onChainTransaction?.(payment));
  // No id: a replay, or a concurrent request carrying the same payment won the key.
  if (recorded.id === undefined) return replayOf(await findPayment(deps.db, payment.paymentKey));
  const settlement = settlementModeOf(rules, recorded.payment);
  return {
    kind: "reserved",
    reserved: { id: recorded.id, version: envelope.x402Version, offer, payment: recorded.payment, fingerprint, settlement },
  };
}

function schemeRules(deps: PaymentFlowDeps, name: string): SchemeRules | undefined {
  return (deps.schemeRules ?? defaultSchemeRules)[name];
}

async function findExisting(deps: PaymentFlowDeps, scheme: PaymentScheme, identity: PaymentIdentity): Promise<PaymentRow | undefined> {
  if (identity.paymentKey !== undefined) return findPayment(deps.db, identity.paymentKey);
  if (identity.transaction === undefined) return undefined;
  // Several logs of one transaction may each have paid; this proof is the one it signed, if any.
  const rows = await findPaymentsByTransaction(deps.db, scheme.name, scheme.chainId, identity.transaction);
  return rows.find((row) => identity.sameSignedPayment(row.payload));
}

function decodeHeaders(headers: PaymentHeaders): PaymentPayload {
  // PAYMENT-SIGNATURE wins when a client sends both: it is the newer protocol.
  if (headers.v2 !== undefined) return decodePaymentPayload(headers.v2, { version: 2 });
  if (headers.v1 !== undefined) return decodePaymentPayload(headers.v1, { version: 1 });
  throw new PaymentError("payment_required");
}

async function chooseOffer(
  deps: PaymentFlowDeps,
  envelope: PaymentPayload,
  offers: readonly QuotedOffer[],
): Promise<{ offer: QuotedOffer; scheme: PaymentScheme }> {
  if (envelope.x402Version === 2) {
    const offered = offers.map(offerV2);
    const match = findAcceptedV2(offered, envelope.accepted);
    const offer = match === undefined ? undefined : offers[offered.indexOf(match)];
    if (offer === undefined) throw unmatchedV2(offered, envelope.accepted);
    return { offer, scheme: schemeFor(deps, offer.scheme, offer.chainId) };
  }
  const chainId = v1NetworkChainId(envelope.network) ?? parseCaip2(envelope.network);
  const candidates = offers.filter((o) => o.scheme === envelope.scheme && o.chainId === chainId);
  if (candidates.length === 0) {
    const schemeOffered = offers.some((o) => o.scheme === envelope.scheme);
    throw schemeOffered
      ? new PaymentError("wrong_network", `this resource is not offered on ${envelope.network}`)
      : new PaymentError("unsupported_scheme", `scheme ${envelope.scheme} is not offered for this resource`);
  }
  const scheme = schemeFor(deps, envelope.scheme, chainId as number);
  const selected = await scheme.selectOffer(envelope.payload, candidates);
  // Schemes hand back one of the candidates; look it up so the flow's own fields come with it.
  const offer = candidates.find((candidate) => candidate === selected);
  if (offer === undefined) throw new PaymentError("requirements_mismatch", "the payment answers none of the offers");
  return { offer, scheme };
}

/**
 * A discounted amount was quoted to the payer the request named, which anyone can name: it is
 * accepted only from a payment that payer verifiably made. Checked after verification (only then
 * is the payer known) and before anything is reserved.
 */
function checkDiscountedPayer(offer: QuotedOffer, payment: VerifiedPayment): void {
  const { discount } = offer;
  if (discount === undefined || isAddressEqual(payment.payer, discount.payer)) return;
  throw new PaymentError("amount_mismatch", `this discounted price is reserved to ${discount.payer}; pay the list price`, {
    payer: payment.payer,
    expected: discount.listAmount.toString(),
    actual: payment.amount.toString(),
  });
}

/**
 * The most specific reason an echoed `accepted` matches no offer, judged field by field against the
 * offers that agree on everything before it, so a client learns which term it got wrong.
 */
function unmatchedV2(offered: readonly PaymentRequirementsV2[], accepted: PaymentRequirementsV2): PaymentError {
  const sameScheme = offered.filter((o) => o.scheme === accepted.scheme);
  if (sameScheme.length === 0) return new PaymentError("unsupported_scheme", `scheme ${accepted.scheme} is not offered for this resource`);
  const sameNetwork = sameScheme.filter((o) => o.network === accepted.network);
  if (sameNetwork.length === 0) return new PaymentError("wrong_network", `this resource is not offered on ${accepted.network}`);
  const sameAsset = sameNetwork.filter((o) => isAddressEqual(o.asset as Address, accepted.asset as Address));
  if (sameAsset.length === 0) return new PaymentError("unsupported_token", `${accepted.asset} is not accepted for this resource`);
  const samePayee = sameAsset.filter((o) => isAddressEqual(o.payTo as Address, accepted.payTo as Address));
  if (samePayee.length === 0) return new PaymentError("wrong_recipient", "the accepted payTo is not this resource's recipient");
  if (!samePayee.some((o) => o.amount === accepted.amount)) return new PaymentError("amount_mismatch", "the accepted amount is not the price");
  return new PaymentError("requirements_mismatch", "the accepted requirements match none that were offered");
}

function schemeFor(deps: PaymentFlowDeps, name: string, chainId: number): PaymentScheme {
  const scheme = deps.schemes.find((s) => s.name === name && s.chainId === chainId);
  // Offers only come from configured schemes, so this is a wiring bug, not bad input.
  if (scheme === undefined) throw new Error(`no scheme ${name} on chain ${chainId}`);
  return scheme;
}

/**
 * What an already-used payment key means for this request. A settled authorization is public on
 * chain, so anyone could rebuild its header: stored responses are replayed only while the
 * authorization is still valid, the window in which its own client may legitimately retry. A
 * payment charged before it could be served (transfer, upstream failed) is served to a retry of
 * the same request instead: the money is on chain and the response is still owed.
 */
async function conflict(
  deps: PaymentFlowDeps,
  rules: SchemeRules | undefined,
  version: 1 | 2,
  offer: QuotedOffer,
  row: PaymentRow,
  fingerprint: string,
  identity: PaymentIdentity | undefined,
  now: bigint,
): Promise<AcceptResult> {
  const sameRequest = row.request_fingerprint === fingerprint && identity !== undefined && identity.sameSignedPayment(row.payload);
  const replayable = row.valid_before === null || BigInt(Math.floor(row.valid_before.getTime() / 1000)) > now;
  if (sameRequest && replayable && row.response_status !== null) {
    return { kind: "replay", response: storedResponse(row) };
  }
  // Charged but never served: a transfer whose upstream failed, or a settlement whose outcome was
  // unknown when the request ended and that reconciliation later found mined. The same request
  // with the same payment is served now; the payer must never be left charged and unserved.
  const charged = rules?.chargedBeforeServing === true || row.state === "confirmed";
  if (sameRequest && charged && row.response_status === null && row.tx_hash !== null) {
    const lease = deps.serveLeaseSeconds ?? DEFAULT_SERVE_LEASE_SECONDS;
    if (await claimUnserved(deps.db, row.id, row.tx_hash, deps.workerId ?? defaultWorkerId, lease)) {
      const payment = rowPayment(row);
      const chargedIn = row.tx_hash as `0x${string}`;
      return { kind: "reserved", reserved: { id: row.id, version, offer, payment, fingerprint, settlement: "sync", chargedIn } };
    }
    throw new PaymentError("payment_in_flight", "this payment is already being served");
  }
  if (sameRequest && IN_FLIGHT.has(row.state)) {
    throw new PaymentError("payment_in_flight", "this payment is already being processed");
  }
  throw new PaymentError(
    row.scheme === "transfer" ? "transfer_already_used" : "nonce_used",
    "this payment has already been used",
  );
}

function storedResponse(row: PaymentRow): StoredResponse {
  return {
    status: row.response_status ?? 200,
    headers: row.response_headers ?? {},
    body: row.response_body === null ? new Uint8Array() : new Uint8Array(row.response_body),
  };
}
