import type { Address } from "viem";
import type { Database } from "../db/index.js";
import type { PaymentScheme, TokenInfo } from "../schemes/types.js";
import type { JsonObject } from "../x402/codec.js";
import type { ErrorCode, FacilitatorReason } from "../x402/errors.js";

/**
 * The facilitator's vocabulary. Nothing here knows about HTTP: the adapter hands over parsed JSON
 * bodies and turns `FacilitatorAnswer`s into responses.
 */

/** One chain the facilitator settles on. */
export interface FacilitatorChain {
  readonly chainId: number;
  /**
   * Tokens that may be paid with right now: the token catalog's `accepted()` (registry-Active,
   * EIP-712 domain checked). Catalog entries carry the registry's per-payment limits, which are
   * enforced too.
   */
  readonly tokens: () => readonly TokenInfo[];
  /** Accounts that send settlement transactions (and pay their gas) here; `/supported` lists them. */
  readonly signers?: readonly Address[];
  /**
   * `extra` advertised per scheme name in `/supported`, e.g. `{ escrow: { escrow: "0x…" } }` so a
   * resource server can build escrow offers for this facilitator's escrow.
   */
  readonly kindExtra?: Readonly<Record<string, JsonObject>>;
}

export interface FacilitatorLog {
  error(details: object, message: string): void;
  warn(details: object, message: string): void;
  info(details: object, message: string): void;
}

export interface FacilitatorDeps {
  /** Shared with the gateway's own payment flow: one `payments` table, one replay guard. */
  readonly db: Database;
  /** Scheme instances; only those on a chain listed in `chains` are served. */
  readonly schemes: readonly PaymentScheme[];
  readonly chains: readonly FacilitatorChain[];
  /** Unix seconds; default the wall clock. */
  readonly now?: () => bigint;
  readonly log?: FacilitatorLog;
  /**
   * How long a settle request waits for a concurrent settle of the same payment (another request,
   * or another instance) to finish before answering `payment_in_flight`. Default 30 000 ms.
   */
  readonly inFlightWaitMs?: number;
  /** How often that wait re-reads the payment row. Default 250 ms. */
  readonly inFlightPollMs?: number;
}

/** POST /verify's answer body (x402 `VerifyResponse`, both versions). */
export type VerifyBody =
  | { readonly isValid: true; readonly payer: string }
  | {
      readonly isValid: false;
      readonly invalidReason: FacilitatorReason;
      /** Human-readable detail; clients must branch on `invalidReason` or `extra.code` instead. */
      readonly invalidMessage: string;
      readonly payer?: string;
      /** The gateway's own stable code (docs/error-codes.md), finer than `invalidReason`. */
      readonly extra: { readonly code: ErrorCode };
    };

/** POST /settle's answer body (x402 `SettleResponse`, both versions). */
export type SettleBody =
  | { readonly success: true; readonly transaction: string; readonly network: string; readonly payer: string }
  | {
      readonly success: false;
      readonly errorReason: FacilitatorReason;
      readonly errorMessage: string;
      readonly transaction: "";
      readonly network: string;
      readonly payer?: string;
      readonly extra: { readonly code: ErrorCode };
    };

/**
 * An answer to a well-formed request. `unavailable` is set when the outcome is not the payment's
 * fault and asking again later may give another one (chain or database down, the same payment
 * still being settled): the adapter then answers with that code's status (503, 409) instead of
 * 200, and the body still carries the x402 fields so x402 clients read a reason.
 */
export interface FacilitatorAnswer<T> {
  readonly body: T;
  readonly unavailable?: { readonly code: ErrorCode; readonly message: string };
}

/** `GET /supported`'s body. */
export interface SupportedBody {
  readonly kinds: readonly { x402Version: 1 | 2; scheme: string; network: string; extra?: JsonObject }[];
  readonly extensions: readonly string[];
  readonly signers: Readonly<Record<string, readonly string[]>>;
}

export interface Facilitator {
  supported(): SupportedBody;
  /** Throws `PaymentError("invalid_request")` for a body that is not a facilitator request. */
  verify(body: JsonObject): Promise<FacilitatorAnswer<VerifyBody>>;
  /** Throws `PaymentError("invalid_request")` for a body that is not a facilitator request. */
  settle(body: JsonObject): Promise<FacilitatorAnswer<SettleBody>>;
}
