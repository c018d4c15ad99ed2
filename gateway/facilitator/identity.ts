import { z } from "zod";
import { escrowExtraSchema } from "../schemes/escrow/offer.js";
import { escrowPaymentKey, escrowPayloadSchema } from "../schemes/escrow/payload.js";
import { encodeExactPayload, exactPaymentKey, exactPayloadSchema } from "../schemes/exact/payload.js";
import { transferPaymentKey, transferPayloadSchema } from "../schemes/transfer/payload.js";
import type { JsonValue, Offer } from "../schemes/types.js";
import { jsonEqual } from "../x402/v2.js";

/**
 * Which payment a payload is, without any RPC: its replay key (the `payments` row it owns) and
 * the part of it the payer signed. A settle retry must be recognised before verification, which
 * would refuse it by then (the authorization is spent), and told apart from a different payment
 * reusing the same nonce.
 */

export interface PaymentIdentity {
  readonly paymentKey: string;
  /** The signed part in the canonical form the scheme stores as settlement data. */
  readonly signed: { readonly [key: string]: JsonValue };
}

/**
 * Settlement-data fields that are the payer's signed statement, per scheme. The rest is what
 * verification added (escrow's settlement mode, a transfer's block), which a retry may see
 * differently without being a different payment.
 */
const SIGNED_FIELDS: Readonly<Record<string, readonly string[]>> = {
  exact: ["authorization", "signature"],
  escrow: ["authorization", "signature"],
  transfer: ["transaction", "logIndex", "signature"],
};

/** The identity of a payload answering `offer`, or undefined when it cannot be told without RPC. */
export function paymentIdentity(offer: Offer, payload: unknown): PaymentIdentity | undefined {
  switch (offer.scheme) {
    case "exact": {
      const parsed = exactPayloadSchema.safeParse(payload);
      if (!parsed.success) return undefined;
      return {
        paymentKey: exactPaymentKey(offer.chainId, offer.token.address, parsed.data.authorization),
        signed: encodeExactPayload(parsed.data),
      };
    }
    case "escrow": {
      const parsed = escrowPayloadSchema.safeParse(payload);
      const escrow = escrowExtraSchema.safeParse(offer.extra).data?.escrow;
      if (!parsed.success || escrow === undefined) return undefined;
      const { payer, nonce } = parsed.data.authorization;
      return { paymentKey: escrowPaymentKey(offer.chainId, escrow, payer, nonce), signed: z.encode(escrowPayloadSchema, parsed.data) };
    }
    case "transfer": {
      const parsed = transferPayloadSchema.safeParse(payload);
      // Without logIndex the key depends on which log of the receipt pays: only verification knows.
      if (!parsed.success || parsed.data.logIndex === undefined) return undefined;
      return {
        paymentKey: transferPaymentKey(offer.chainId, parsed.data.transaction, parsed.data.logIndex),
        signed: z.encode(transferPayloadSchema, parsed.data),
      };
    }
    default:
      return undefined;
  }
}

/** Whether two settlement-data objects (stored, or from a payload) carry the same signed payment. */
export function sameSignedPayment(scheme: string, stored: unknown, current: { readonly [key: string]: JsonValue }): boolean {
  const fields = SIGNED_FIELDS[scheme];
  if (fields === undefined) return jsonEqual(stored, current);
  if (typeof stored !== "object" || stored === null || Array.isArray(stored)) return false;
  const record = stored as Record<string, unknown>;
  return fields.every((field) => jsonEqual(record[field], current[field]));
}
