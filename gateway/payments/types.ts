import type { Address, Hash } from "viem";
import type { Database } from "../db/index.js";
import type { NanoUsd, PriceSource } from "../pricing/index.js";
import type { JsonValue, Offer, PaymentScheme, TokenInfo, VerifiedPayment } from "../schemes/types.js";
import type { X402Version } from "../x402/index.js";
import type { PaymentRow } from "./store.js";

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
  /**
   * `async` (default): an escrow payment covered by the payer's commitment is served at once and
   * settled by the engine in a later batch. `sync`: every payment is settled before the response.
   * `exact` is always sync; a `transfer` is on chain before it is even presented.
   */
  readonly settlement?: SettlementMode;
}

export type SettlementMode = "sync" | "async";

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
  /** The transaction that charged the payment, when there is one already (not for async escrow). */
  readonly transaction?: Hash;
}

/**
 * An offer as quoted for one request: the scheme's offer plus what the flow needs to honour it.
 * Plain `Offer`s are valid quoted offers (list price, anyone may pay, listed in the challenge).
 */
export interface QuotedOffer extends Offer {
  /** The USD price this offer charges: the route's list price, less the discount if any. */
  readonly priceUsd?: NanoUsd;
  /**
   * Set when the amount is discounted for the payer the request named (`X-Payer-Address`): only a
   * payment whose verified payer is `payer` may pay it; anyone else gets `amount_mismatch`.
   */
  readonly discount?: { readonly payer: Address; readonly bps: number; readonly listAmount: bigint };
  /**
   * Accepted but not listed in the challenge: the list-price twin of a discounted offer, so a
   * payment signed before the payer's tier changed (or one that simply pays the list price) still
   * goes through.
   */
  readonly unlisted?: boolean;
}

/** Who the request says it is paying as, for its reputation discount. */
export interface QuoteOptions {
  /** A claim (the `X-Payer-Address` header), not a proof: see `QuotedOffer.discount`. */
  readonly payer?: Address;
}

/** The payment header as received: at most one of them is normally set. */
export interface PaymentHeaders {
  /** v1 `X-PAYMENT`. */
  readonly v1?: string | undefined;
  /** v2 `PAYMENT-SIGNATURE`. */
  readonly v2?: string | undefined;
}

/**
 * A payment as recognisable before verification, from the raw scheme payload alone (no RPC): a
 * retry must be matched against its row first, because verification would refuse it (the
 * authorization is spent by then).
 */
export interface PaymentIdentity {
  /** The row's key, when the payload determines it. */
  readonly paymentKey?: string;
  /** Otherwise the on-chain transaction the row records (`transfer` without a `logIndex`). */
  readonly transaction?: `0x${string}`;
  /**
   * Whether a stored row's settlement data is this very signed payment, not merely one with the
   * same key: only then may a stored response be replayed to it.
   */
  sameSignedPayment(stored: JsonValue): boolean;
}

/** What the flow needs to know about a scheme beyond `PaymentScheme`; see scheme-rules.ts. */
export interface SchemeRules {
  /** Undefined when the payload is not this scheme's. */
  identify(payload: unknown, offer: Offer): PaymentIdentity | undefined;
  /** How a verified payment is charged; default `sync`. */
  settlementMode?(payment: VerifiedPayment): SettlementMode;
  /** The offer as a `sync` route makes it; default unchanged. */
  asSync?(offer: Offer): Offer;
  /** The transaction that already moved the money (transfer), recorded on the row at once. */
  onChainTransaction?(payment: VerifiedPayment): `0x${string}`;
  /**
   * The money moved before the request reached us (transfer): an upstream failure cannot
   * un-charge it, so the payment is kept, unserved, for a retry of the same request.
   */
  readonly chargedBeforeServing?: boolean;
}

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
  readonly log?: { error(details: object, message: string): void; warn?(details: object, message: string): void };
  /** Per scheme name; default covers `exact`, `escrow` and `transfer` (scheme-rules.ts). */
  readonly schemeRules?: Readonly<Record<string, SchemeRules>>;
  /**
   * How long a request may take to serve a kept transfer payment before another retry may take
   * it over (a crashed instance's claim expires). Seconds; default 120.
   */
  readonly serveLeaseSeconds?: number;
  /** Names this process in serve claims; default host:pid. */
  readonly workerId?: string;
  /**
   * The discount a payer has earned (reputation tiers, gateway/analytics): quoted to requests that
   * name that payer. Without it every quote is at the list price.
   */
  readonly discountFor?: (payer: Address) => Promise<{ readonly discountBps: number }>;
  /**
   * Whether a payment on credit may be served first and recorded once, with its response
   * (serve-first.ts says which payers); default true. False reserves every payment before its
   * upstream is called.
   */
  readonly serveBeforeRecording?: boolean;
}

/**
 * A verified payment the caller must complete or release. Usually its row is `reserved`; a
 * payment to be served on credit may instead be recorded only once it is served, with its
 * response (`recordWhenServed`), and has no row until then.
 */
export type ReservedPayment = PaymentInHand &
  (
    | { readonly id: string; readonly recordWhenServed?: undefined }
    | { readonly id?: undefined; readonly recordWhenServed: RecordWhenServed }
  );

interface PaymentInHand {
  readonly version: X402Version;
  readonly offer: QuotedOffer;
  readonly payment: VerifiedPayment;
  readonly fingerprint: string;
  /** `async`: served now, settled by the engine (escrow on credit); `sync`: settled first. */
  readonly settlement: SettlementMode;
  /**
   * Set when this request resumes a payment that was already charged and recorded but never
   * served (a transfer whose upstream failed): only the response is left to store.
   */
  readonly chargedIn?: `0x${string}`;
}

/** What completing a payment that has no row yet needs beyond the payment. */
export interface RecordWhenServed {
  /**
   * What this request gets when another one recorded the same payment first (a concurrent twin,
   * or a retry), given that row: the stored response if it is the same request, else the refusal
   * (thrown).
   */
  readonly conflict: (row: PaymentRow | undefined) => Promise<AcceptResult>;
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
