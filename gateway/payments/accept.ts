import { isAddressEqual } from "viem";
import { exactPaymentKey, exactPayloadSchema, encodeExactPayload } from "../schemes/exact/index.js";
import type { Offer, PaymentScheme } from "../schemes/types.js";
import {
  type PaymentPayload,
  PaymentError,
  decodePaymentPayload,
  findAcceptedV2,
  jsonEqual,
  parseCaip2,
  v1NetworkChainId,
} from "../x402/index.js";
import { offerV2 } from "./offers.js";
import { type PaymentRow, findPayment, reservePayment } from "./store.js";
import type { AcceptResult, PaymentFlowDeps, PaymentHeaders, ReplayIdentity, StoredResponse } from "./types.js";

/** States in which a payment is still being processed by someone. */
const IN_FLIGHT = new Set(["reserved", "verified", "submitted"]);

export const exactReplayIdentity: ReplayIdentity = (payload, offer) => {
  const parsed = exactPayloadSchema.safeParse(payload);
  if (!parsed.success || !isAddressEqual(parsed.data.authorization.to, offer.payTo)) return undefined;
  return {
    paymentKey: exactPaymentKey(offer.chainId, offer.token.address, parsed.data.authorization),
    settlementData: encodeExactPayload(parsed.data),
  };
};

const defaultReplayIdentities: Readonly<Record<string, ReplayIdentity>> = { exact: exactReplayIdentity };

/**
 * Steps 3–4: decode the payment header, pick the offer it answers, and either find it already
 * served (replay) or verify it and reserve its row. Throws `PaymentError` for every rejection;
 * nothing is written unless the payment verified.
 */
export async function acceptPayment(
  deps: PaymentFlowDeps,
  headers: PaymentHeaders,
  offers: readonly Offer[],
  fingerprint: string,
): Promise<AcceptResult> {
  const envelope = decodeHeaders(headers);
  const { offer, scheme } = await chooseOffer(deps, envelope, offers);

  // A retry carries an authorization that verification would now refuse as spent, so look for its
  // row first. Only the key is trusted from the unverified payload; a replay also needs the same
  // request and the same signed data as the stored row.
  const now = deps.now?.() ?? BigInt(Math.floor(Date.now() / 1000));
  const identity = (deps.replayIdentities ?? defaultReplayIdentities)[scheme.name]?.(envelope.payload, offer);
  if (identity !== undefined) {
    const row = await findPayment(deps.db, identity.paymentKey);
    if (row !== undefined) return conflict(row, fingerprint, identity.settlementData, now);
  }

  const payment = await scheme.verify(envelope.payload, offer, now);
  const id = await reservePayment(deps.db, payment, fingerprint);
  if (id === undefined) {
    // Lost a race with a concurrent request carrying the same payment.
    const row = await findPayment(deps.db, payment.paymentKey);
    if (row === undefined) throw new Error(`payment ${payment.paymentKey} conflicted but has no row`);
    return conflict(row, fingerprint, payment.settlementData, now);
  }
  return { kind: "reserved", reserved: { id, version: envelope.x402Version, offer, payment, fingerprint } };
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
  offers: readonly Offer[],
): Promise<{ offer: Offer; scheme: PaymentScheme }> {
  if (envelope.x402Version === 2) {
    const offered = offers.map(offerV2);
    const match = findAcceptedV2(offered, envelope.accepted);
    const offer = match === undefined ? undefined : offers[offered.indexOf(match)];
    if (offer === undefined) {
      throw new PaymentError("requirements_mismatch", "the accepted requirements match none that were offered");
    }
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
  const offer = await scheme.selectOffer(envelope.payload, candidates);
  if (offer === undefined) throw new PaymentError("requirements_mismatch", "the payment answers none of the offers");
  return { offer, scheme };
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
 * authorization is still valid, the window in which its own client may legitimately retry.
 */
function conflict(row: PaymentRow, fingerprint: string, settlementData: unknown, now: bigint): AcceptResult {
  const sameRequest = row.request_fingerprint === fingerprint && jsonEqual(row.payload, settlementData);
  const replayable = row.valid_before === null || BigInt(Math.floor(row.valid_before.getTime() / 1000)) > now;
  if (sameRequest && replayable && row.response_status !== null) {
    return { kind: "replay", response: storedResponse(row) };
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
