import { type ChainReader, type Offer, type OfferInput, type PaymentScheme, collectionMethods } from "../types.js";
import { TRANSFER_PROOF_NAME, TRANSFER_PROOF_VERSION } from "./abi.js";
import { transferChallengeHash } from "./challenge.js";
import { selectTransferOffer } from "./select.js";
import { settleTransfer } from "./settle.js";
import {
  DEFAULT_MAX_AGE_SECONDS,
  DEFAULT_MIN_CONFIRMATIONS,
  TRANSFER_SCHEME,
  type TransferPolicy,
  verifyTransfer,
} from "./verify.js";

export { TRANSFER_PROOF_NAME, TRANSFER_PROOF_VERSION, transferEventsAbi, transferProofTypes } from "./abi.js";
export { TRANSFER_CHALLENGE_TAG, type TransferChallengeTerms, offerChallengeHash, transferChallengeHash } from "./challenge.js";
export { type TransferLog, type TransferTerms, matchTransfer, transferLogs } from "./logs.js";
export * from "./payload.js";
export { type Inclusion, fetchInclusion, fetchTransferReceipt } from "./receipt.js";
export { selectTransferOffer } from "./select.js";
export { settleTransfer, transferSettlementData } from "./settle.js";
export { recoverTransferProofSigner, verifyTransferProofSignature } from "./signature.js";
export {
  DEFAULT_MAX_AGE_SECONDS,
  DEFAULT_MIN_CONFIRMATIONS,
  TRANSFER_SCHEME,
  type TransferPolicy,
  type TransferVerifierContext,
  checkInclusion,
  verifyTransfer,
} from "./verify.js";

export interface TransferSchemeConfig {
  readonly chainId: number;
  readonly publicClient: ChainReader;
  /** Default {@link DEFAULT_MIN_CONFIRMATIONS}. */
  readonly minConfirmations?: number;
  /** Default {@link DEFAULT_MAX_AGE_SECONDS}. */
  readonly maxAgeSeconds?: number;
}

/**
 * The `transfer` scheme ("on-chain transfer proof"): the agent pays with a plain ERC-20 `transfer`
 * to `payTo`, then sends the transaction hash with its EIP-712 signature binding that transaction
 * to this offer. Works with every ERC-20, including those without EIP-3009 or permit (USDT, SKL,
 * WETH); the gateway never sends a transaction. Spec: docs/transfer-scheme.md.
 */
export function createTransferScheme(config: TransferSchemeConfig): PaymentScheme {
  const { chainId, publicClient: reader } = config;
  const policy: TransferPolicy = {
    minConfirmations: config.minConfirmations ?? DEFAULT_MIN_CONFIRMATIONS,
    maxAgeSeconds: config.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS,
  };
  if (!Number.isSafeInteger(policy.minConfirmations) || policy.minConfirmations < 1) {
    throw new RangeError(`minConfirmations must be an integer of at least 1, got ${policy.minConfirmations}`);
  }
  if (!Number.isSafeInteger(policy.maxAgeSeconds) || policy.maxAgeSeconds < 1) {
    throw new RangeError(`maxAgeSeconds must be an integer of at least 1, got ${policy.maxAgeSeconds}`);
  }

  return {
    name: TRANSFER_SCHEME,
    chainId,
    offer: (input) => transferOffer(chainId, policy, input),
    selectOffer: (payload, candidates) => selectTransferOffer(chainId, payload, candidates),
    verify: (payload, offer, now) => verifyTransfer({ chainId, reader, policy }, payload, offer, now),
    settle: (payment) => settleTransfer(chainId, payment),
  };
}

/**
 * The transfer offer for a token, or undefined when the registry does not list plain ERC-20
 * transfers among the token's collection methods. `extra` carries what the client signs
 * (`challengeHash`, under the domain `name`/`version` plus the network's chain id) and the rules
 * its transfer must meet (`minConfirmations`, `maxAgeSeconds`).
 */
export function transferOffer(chainId: number, policy: TransferPolicy, input: OfferInput): Offer | undefined {
  const { token, amount, payTo, resource } = input;
  if (amount < 1n) throw new RangeError(`price must be at least 1 atomic unit, got ${amount}`);
  if ((token.collectionMethods & collectionMethods.erc20) === 0) return undefined;
  const challengeHash = transferChallengeHash({ chainId, resourceUrl: resource.url, token: token.address, amount, payTo });
  return {
    scheme: TRANSFER_SCHEME,
    chainId,
    token,
    amount,
    payTo,
    maxTimeoutSeconds: input.maxTimeoutSeconds,
    extra: {
      challengeHash,
      minConfirmations: policy.minConfirmations,
      maxAgeSeconds: policy.maxAgeSeconds,
      name: TRANSFER_PROOF_NAME,
      version: TRANSFER_PROOF_VERSION,
    },
    resource,
  };
}
