import { type Hash, isAddressEqual } from "viem";
import { z } from "zod";
import {
  ESCROW_SCHEME,
  EXACT_SCHEME,
  TRANSFER_SCHEME,
  encodeExactPayload,
  escrowExtraSchema,
  escrowPaymentKey,
  escrowPayloadSchema,
  escrowSettlementDataSchema,
  escrowSettlementMode,
  exactPaymentKey,
  exactPayloadSchema,
  offerChallengeHash,
  transferPaymentKey,
  transferPayloadSchema,
  transferSettlementData,
  transferSettlementSchema,
} from "../schemes/index.js";
import type { JsonValue, Offer, VerifiedPayment } from "../schemes/types.js";
import { jsonEqual } from "../x402/index.js";
import type { PaymentIdentity, SchemeRules, SettlementMode } from "./types.js";

/**
 * What the flow must know about each scheme beyond the `PaymentScheme` interface: how to recognise
 * a retry before verifying it, which payments draw on the same funds, and how a payment is
 * charged. All of it is computed from the raw payload and the gateway's own offer, without RPC.
 */

const exactRules: SchemeRules = {
  identify(payload, offer) {
    const parsed = exactPayloadSchema.safeParse(payload);
    if (!parsed.success || !isAddressEqual(parsed.data.authorization.to, offer.payTo)) return undefined;
    const canonical = encodeExactPayload(parsed.data);
    return {
      paymentKey: exactPaymentKey(offer.chainId, offer.token.address, parsed.data.authorization),
      sameSignedPayment: (stored) => jsonEqual(stored, canonical),
    };
  },
  settlementMode: () => "sync",
};

/**
 * Escrow: the key names the escrow the offer was made for; the stored data adds the mode chosen at
 * verification, which a retry cannot know, so only the signed part is compared. (What a payment
 * draws on is the verified payment's own `funds` condition, applied by the ledger.)
 */
const escrowRules: SchemeRules = {
  identify(payload, offer) {
    const parsed = escrowPayloadSchema.safeParse(payload);
    const extra = escrowExtraSchema.safeParse(offer.extra);
    if (!parsed.success || !extra.success) return undefined;
    const { authorization } = parsed.data;
    const signed = z.encode(escrowPayloadSchema, parsed.data);
    return {
      paymentKey: escrowPaymentKey(offer.chainId, extra.data.escrow, authorization.payer, authorization.nonce),
      sameSignedPayment(stored) {
        const row = escrowSettlementDataSchema.safeParse(stored);
        if (!row.success || !isAddressEqual(row.data.escrow, extra.data.escrow)) return false;
        return jsonEqual(z.encode(escrowPayloadSchema, { signature: row.data.signature, authorization: row.data.authorization }), signed);
      },
    };
  },
  settlementMode: (payment) => escrowSettlementMode(payment),
  // A route settled synchronously must not advertise (or verify as) async credit.
  asSync(offer) {
    return offer.extra["settlement"] === "sync" ? offer : { ...offer, extra: { ...offer.extra, settlement: "sync" } };
  },
};

/**
 * Transfer: the payment is the payer's own mined transaction. Without a `logIndex` the payload
 * does not determine the key (the first matching log is found during verification), so the row
 * is found by the transaction it records instead. A proof is the same payment when it names the
 * same transaction (and log, if given) and carries the same signature over this offer's challenge.
 */
const transferRules: SchemeRules = {
  identify(payload, offer) {
    const parsed = transferPayloadSchema.safeParse(payload);
    if (!parsed.success) return undefined;
    const { transaction, signature, logIndex } = parsed.data;
    const challengeHash = offerChallengeHash(offer);
    const sameSignedPayment = (stored: JsonValue): boolean => {
      const row = transferSettlementSchema.safeParse(stored);
      return (
        row.success &&
        row.data.transaction.toLowerCase() === transaction.toLowerCase() &&
        row.data.challengeHash.toLowerCase() === challengeHash.toLowerCase() &&
        row.data.signature.toLowerCase() === signature.toLowerCase() &&
        (logIndex === undefined || row.data.logIndex === logIndex)
      );
    };
    return logIndex === undefined
      ? { transaction, sameSignedPayment }
      : { paymentKey: transferPaymentKey(offer.chainId, transaction, logIndex), sameSignedPayment };
  },
  settlementMode: () => "sync",
  onChainTransaction: (payment) => transferSettlementData(payment).transaction as Hash,
  chargedBeforeServing: true,
};

export const defaultSchemeRules: Readonly<Record<string, SchemeRules>> = {
  [EXACT_SCHEME]: exactRules,
  [ESCROW_SCHEME]: escrowRules,
  [TRANSFER_SCHEME]: transferRules,
};

/** Kept for callers that only need the exact scheme's retry identity. */
export const exactReplayIdentity = (payload: unknown, offer: Offer): PaymentIdentity | undefined => exactRules.identify(payload, offer);

export function settlementModeOf(rules: SchemeRules | undefined, payment: VerifiedPayment): SettlementMode {
  return rules?.settlementMode?.(payment) ?? "sync";
}
