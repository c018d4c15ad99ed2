import type { Address } from "viem";
import { DEFAULT_HEAD_MAX_AGE_MS, type HeadTracker, createHeadTracker } from "../../chain/head.js";
import type { ChainReader, PaymentScheme, SettlementWallet } from "../types.js";
import { MIN_WITHDRAWAL_DELAY_SECONDS, checkSettlementHorizon } from "./config.js";
import { createEscrowChainView } from "./chain-view.js";
import { ESCROW_SCHEME, escrowOffer } from "./offer.js";
import { selectEscrowOffer } from "./select.js";
import { settleEscrow } from "./settle.js";
import { DEFAULT_ESCROW_VALIDITY_MARGIN_SECONDS, verifyEscrow } from "./verify.js";

export * from "./abi.js";
export * from "./batch.js";
export * from "./challenge.js";
export { type EscrowAccountState, type EscrowChainView, createEscrowChainView } from "./chain-view.js";
export * from "./config.js";
export * from "./failures.js";
export * from "./funds.js";
export * from "./offer.js";
export * from "./payload.js";
export { selectEscrowOffer } from "./select.js";
export * from "./settle.js";
export { isPayerEcdsaSignature, recoverPaymentSigner } from "./signature.js";
export {
  DEFAULT_ESCROW_VALIDITY_MARGIN_SECONDS,
  type PaymentState,
  checkEscrowTerms,
  checkEscrowValidity,
  localFailure,
  verifyEscrow,
} from "./verify.js";

export interface EscrowSchemeConfig {
  readonly chainId: number;
  /** The SettlementEscrow on this chain: the payers' signing domain and the settlement target. */
  readonly escrow: Address;
  readonly publicClient: ChainReader;
  /** Sends synchronous settlements and pays their gas. */
  readonly walletClient: SettlementWallet;
  /**
   * The chain's head as last seen; verification caches reads per block (chain-view.ts). Default: a
   * tracker of its own on `publicClient`, re-reading the head at most every 250 ms.
   */
  readonly head?: HeadTracker;
  /** How long the head tracker trusts the last head it saw, ms; default 250. Pass the same value as `head` was made with. */
  readonly headMaxAgeMs?: number;
  /**
   * Longest time, in seconds, between verifying an async payment and its settlement being mined:
   * the settlement engine's promise. Payments are only served on credit when the authorization and
   * the payer's commitment both outlast it; `horizon + margin` must stay below the escrow's
   * minimum withdrawal delay (one hour).
   */
  readonly settlementHorizonSeconds: bigint;
  /**
   * Clock skew plus the time a synchronous settlement needs, in seconds. Default
   * {@link DEFAULT_ESCROW_VALIDITY_MARGIN_SECONDS}.
   */
  readonly validityMarginSeconds?: bigint;
  /** Default 60 s. */
  readonly receiptTimeoutMs?: number;
}

/**
 * The `escrow` scheme (docs/escrow-scheme.md): the payer signs an EIP-712 PaymentAuthorization
 * against the SettlementEscrow, paying from funds it deposited there. Payments covered by a
 * commitment to the payee are served at once and settled later in batches (`settleEscrowBatch`);
 * the rest are settled before the response.
 *
 * Throws RangeError when the horizon relation cannot hold; `checkEscrowDeployment` confirms it
 * against the deployed contract at start-up.
 */
export function createEscrowScheme(config: EscrowSchemeConfig): PaymentScheme {
  const { chainId, escrow, publicClient: reader, walletClient: wallet, settlementHorizonSeconds } = config;
  const validityMarginSeconds = config.validityMarginSeconds ?? DEFAULT_ESCROW_VALIDITY_MARGIN_SECONDS;
  const receiptTimeoutMs = config.receiptTimeoutMs ?? 60_000;
  checkSettlementHorizon({ settlementHorizonSeconds, validityMarginSeconds }, MIN_WITHDRAWAL_DELAY_SECONDS);
  const terms = { chainId, escrow, settlementHorizonSeconds, validityMarginSeconds };
  const headMaxAgeMs = config.headMaxAgeMs ?? DEFAULT_HEAD_MAX_AGE_MS;
  const head = config.head ?? createHeadTracker({ reader, maxAgeMs: headMaxAgeMs });
  const view = createEscrowChainView({ reader, escrow, head });

  return {
    name: ESCROW_SCHEME,
    chainId,
    offer: (input) => escrowOffer(terms, input),
    selectOffer: (payload, candidates) => selectEscrowOffer(chainId, payload, candidates),
    verify: (payload, offer, now) => verifyEscrow({ ...terms, reader, view, headMaxAgeMs }, payload, offer, now),
    settle: (payment, options) => settleEscrow({ chainId, escrow, reader, wallet, receiptTimeoutMs }, payment, options),
  };
}
