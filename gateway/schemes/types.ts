import type { Account, Address, Chain, Hash, PublicClient, Transport, WalletClient } from "viem";
import type { JsonObject } from "../x402/codec.js";
import { METHOD_EIP3009, METHOD_ERC20, METHOD_PERMIT } from "../chain/token-registry-abi.js";

/**
 * The contract every payment scheme module implements (exact, escrow, transfer-proof). A scheme
 * turns a price into an offer, checks a client's scheme payload against that offer, and settles
 * what it accepted. It knows nothing about HTTP, protocol versions or the database: the HTTP layer
 * maps offers to v1/v2 `accepts` entries and payloads out of the envelopes, the ledger stores
 * `VerifiedPayment`s, and the settlement engine calls `settle` (again, after a restart) with what
 * the ledger kept.
 *
 * A scheme instance serves ONE chain: its clients, its token domains and its escrow address are
 * all per chain, and fixing the chain at construction keeps every offer, payment key and
 * transaction of an instance on that chain by construction. Dispatch is by (name, chainId).
 */

/** Collection-method flags, as `ITokenRegistry.TokenInfo.collectionMethods` stores them. */
export const collectionMethods = {
  eip3009: METHOD_EIP3009,
  permit: METHOD_PERMIT,
  erc20: METHOD_ERC20,
} as const;

/**
 * A token as the registry describes it: the fields schemes read, a structural subset of the token
 * catalog's entries (gateway/chain), so those can be passed as they are. `eip712` is the token's
 * own EIP-712 domain (what its contract hashes signatures with; "" and "" when it has none), the
 * source of truth for signature checks, never what a client echoes back.
 */
export interface TokenInfo {
  readonly address: Address;
  readonly symbol: string;
  readonly decimals: number;
  /** Bit set of `collectionMethods` flags. */
  readonly collectionMethods: number;
  readonly eip712: { readonly name: string; readonly version: string };
}

/** The resource a payment buys; v1 puts it in every `accepts` entry, v2 once per challenge. */
export interface ResourceDescription {
  readonly url: string;
  readonly description: string;
  readonly mimeType: string;
}

export interface OfferInput {
  readonly token: TokenInfo;
  /** Price in the token's atomic units; at least 1. */
  readonly amount: bigint;
  readonly payTo: Address;
  readonly maxTimeoutSeconds: number;
  readonly resource: ResourceDescription;
}

/**
 * One `accepts` entry, independent of the protocol version: v1 `maxAmountRequired` / v2 `amount`
 * is `amount`, `asset` is `token.address`, the network is derived from `chainId`. The gateway
 * rebuilds its offers from configuration when a payment arrives, so everything here is trusted;
 * `token` carries the registry facts a scheme needs beyond what goes on the wire.
 */
export interface Offer {
  readonly scheme: string;
  readonly chainId: number;
  readonly token: TokenInfo;
  readonly amount: bigint;
  readonly payTo: Address;
  readonly maxTimeoutSeconds: number;
  /** The wire `extra` object, sent verbatim (and echoed by v2 clients in `accepted`). */
  readonly extra: JsonObject;
  readonly resource: ResourceDescription;
}

/** JSON as it survives a round trip through JSONB unchanged (no bigint, no undefined). */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * A payment that passed every check of its scheme. Addresses are EIP-55 checksummed; the ledger
 * lower-cases them for storage.
 */
export interface VerifiedPayment {
  readonly scheme: string;
  readonly chainId: number;
  readonly payer: Address;
  readonly payee: Address;
  readonly token: Address;
  readonly amount: bigint;
  /**
   * The replay guard the ledger makes UNIQUE: lower case, prefixed with the scheme, and the same
   * for every spelling of one payment (e.g. "exact:<chainId>:<token>:<payer>:<nonce>"), so one
   * authorization can buy at most one response.
   */
  readonly paymentKey: string;
  /** The scheme's own nonce, for display and queries; null when the scheme has none. */
  readonly nonce: string | null;
  /**
   * Unix seconds after which the payment can no longer be settled; null when it cannot expire
   * (e.g. an already-mined transfer). The raw signed value: it may exceed any date type, so
   * storage has to clamp it.
   */
  readonly validBefore: bigint | null;
  /**
   * Everything `settle` needs, as plain JSON so it survives the ledger and a restart. `settle`
   * re-validates it rather than trusting whatever the database hands back.
   */
  readonly settlementData: { readonly [key: string]: JsonValue };
  /**
   * Set when the payment draws on funds the gateway's ledger also spends (escrow): whether it is
   * accepted, and in which form, depends on what the ledger holds unsettled for the same account
   * at the moment the payment is recorded. The flow records it in the same statement that checks
   * (`reservePaymentAgainstFunds`, gateway/payments/store.ts); `settlementData` above is the first form's.
   */
  readonly funds?: FundsCondition;
}

/** The payer's account with the payee, as the ledger sums it. */
export interface FundsAccount {
  readonly chainId: number;
  readonly scheme: string;
  readonly token: Address;
  readonly payer: Address;
  readonly payee: Address;
}

export interface FundsCondition {
  readonly account: FundsAccount;
  /**
   * How stale the chain state behind the bounds may be, ms (the per-block cache's head age).
   * Payments the ledger recorded as confirmed within about that time may not be reflected in it
   * yet, so they still count as unsettled; without this a settled payment would be counted
   * nowhere (gone from the ledger's sum, still in the cached funds) and the funds overstated.
   */
  readonly stateMaxAgeMs: number;
  /**
   * The forms the payment may take, most preferred first (escrow: async, then sync). It takes the
   * first whose bound is at least the unsettled amount (this payment excluded).
   */
  readonly forms: readonly FundsForm[];
  /** The refusal when the unsettled amount exceeds every bound. */
  refusal(unsettled: bigint): Error;
}

export interface FundsForm {
  readonly maxUnsettled: bigint;
  readonly settlementData: { readonly [key: string]: JsonValue };
}

/**
 * Single-attempt overrides for the settlement engine, which owns transaction nonces, pricing and
 * retries. Omitted fields come from the node.
 */
export interface SettleOptions {
  readonly nonce?: number;
  /**
   * Price per gas. Legacy chains send it as `gasPrice`; EIP-1559 chains as both `maxFeePerGas`
   * and `maxPriorityFeePerGas`, which makes the effective price exactly this, as with legacy.
   */
  readonly gasPrice?: bigint;
}

export interface Settlement {
  readonly transaction: Hash;
  readonly blockNumber: bigint;
}

export interface PaymentScheme {
  readonly name: string;
  readonly chainId: number;
  /** The offer for this price, or undefined when the token cannot be paid with this scheme. */
  offer(input: OfferInput): Offer | undefined;
  /**
   * Which of this scheme's offers on this chain a payload answers. v1 payments name only scheme
   * and network (the token hides in the signature's domain), so with several offers per network
   * only the scheme can tell. Returns the most plausible candidate (even for a payload that will
   * fail, so that `verify` reports the precise reason); undefined only when no candidate is this
   * scheme's on this chain. No RPC.
   */
  selectOffer(payload: unknown, candidates: readonly Offer[]): Promise<Offer | undefined>;
  /**
   * Checks a client's scheme payload (the envelope's `payload` object) against the offer it
   * accepted. `now` is Unix seconds. Throws `PaymentError` with a stable code for every rejection,
   * `chain_unavailable` when the chain cannot answer; never anything else for bad input.
   */
  verify(payload: unknown, offer: Offer, now: bigint): Promise<VerifiedPayment>;
  /**
   * One settlement attempt, waiting for the receipt. Throws `PaymentError` with `nonce_used`
   * (the authorization is spent: possibly by an earlier attempt of ours, so reconcile first),
   * `settlement_failed` (it cannot go through as signed) or `chain_unavailable` (try again;
   * `details.transaction` is set when a transaction was broadcast and may still be mined).
   */
  settle(payment: VerifiedPayment, options?: SettleOptions): Promise<Settlement>;
}

/** Read access to one chain. */
export type ChainReader = PublicClient<Transport, Chain | undefined>;

/** The settlement account on one chain; it pays the gas. */
export type SettlementWallet = WalletClient<Transport, Chain | undefined, Account>;
