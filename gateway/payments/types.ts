import type { Database } from "../db/index.js";
import type { NanoUsd, PriceSource } from "../pricing/index.js";
import type { JsonValue, Offer, PaymentScheme, TokenInfo, VerifiedPayment } from "../schemes/types.js";
import type { X402Version } from "../x402/index.js";

/**
 * The payment flow's vocabulary. Nothing here knows about HTTP: the adapter turns requests into
 * `PaidRequest`s and header values, and `StoredResponse`s back into responses.
 */

/** What a route charges, as configured. */
export interface PaidRoute {
  /** List price per call. */
  readonly priceUsd: NanoUsd;
  readonly description: string;
  /** MIME type of the paid response. */
  readonly mimeType: string;
  /** How long a signed payment stays valid; default 300 s. */
  readonly maxTimeoutSeconds?: number;
  /** Restrict to these scheme names; default every configured scheme. */
  readonly schemes?: readonly string[];
}

/** A token the gateway accepts, with where its USD price comes from. */
export interface PricedToken {
  readonly token: TokenInfo;
  readonly price: PriceSource;
}

/** The response bought by a payment, kept on the payment row and replayed to identical retries. */
export interface StoredResponse {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

/** The encoded settlement response (`X-PAYMENT-RESPONSE` for v1, `PAYMENT-RESPONSE` for v2). */
export interface Receipt {
  readonly version: X402Version;
  readonly value: string;
  /** Whether anything was charged. */
  readonly success: boolean;
}

/** The payment header as received: at most one of them is normally set. */
export interface PaymentHeaders {
  /** v1 `X-PAYMENT`. */
  readonly v1?: string | undefined;
  /** v2 `PAYMENT-SIGNATURE`. */
  readonly v2?: string | undefined;
}

/**
 * Recomputes a payment's replay key and settlement data from the raw scheme payload without any
 * RPC, so a retry can be matched against its row before verification (which would refuse it: the
 * authorization is spent by then). Undefined when the payload is not this scheme's.
 */
export type ReplayIdentity = (
  payload: unknown,
  offer: Offer,
) => { readonly paymentKey: string; readonly settlementData: { readonly [key: string]: JsonValue } } | undefined;

export interface PaymentFlowDeps {
  readonly db: Database;
  /** Every scheme instance, all on chains this gateway serves. */
  readonly schemes: readonly PaymentScheme[];
  /** Tokens offered right now (e.g. the token catalog's accepted ones, with their price sources). */
  readonly tokens: () => readonly PricedToken[];
  /** Receives every payment. */
  readonly payTo: `0x${string}`;
  /** Unix seconds; default the wall clock. */
  readonly now?: () => bigint;
  /** Where problems that must not fail the request go (e.g. a receipt that could not be stored). */
  readonly log?: { error(details: object, message: string): void };
  /** Per scheme name; default covers `exact`. */
  readonly replayIdentities?: Readonly<Record<string, ReplayIdentity>>;
}

/** A verified payment whose row is reserved; the caller must complete or release it. */
export interface ReservedPayment {
  readonly id: string;
  readonly version: X402Version;
  readonly offer: Offer;
  readonly payment: VerifiedPayment;
  readonly fingerprint: string;
}

export type AcceptResult =
  | { readonly kind: "reserved"; readonly reserved: ReservedPayment }
  /** An identical retry of a request that was already served: send this again, charge nothing. */
  | { readonly kind: "replay"; readonly response: StoredResponse };

export interface Challenge {
  /** The v1 402 JSON body (only offers on networks v1 clients know). */
  readonly v1Body: Record<string, unknown>;
  /** The v2 `PAYMENT-REQUIRED` header value. */
  readonly v2Header: string;
}
