import {
  type ChainReader,
  type Offer,
  type OfferInput,
  type PaymentScheme,
  type SettlementWallet,
  collectionMethods,
} from "../types.js";
import { selectExactOffer } from "./select.js";
import { settleExact } from "./settle.js";
import { DEFAULT_VALIDITY_MARGIN_SECONDS, EXACT_SCHEME, verifyExact } from "./verify.js";

export { eip3009Abi, erc1271Abi, transferWithAuthorizationTypes } from "./abi.js";
export * from "./payload.js";
export { revertCode } from "./reverts.js";
export { selectExactOffer } from "./select.js";
export { checkReceipt, settleExact, settlementPayload } from "./settle.js";
export { isCanonicalEcdsaSignature, recoverAuthorizationSigner, verifyAuthorizationSignature } from "./signature.js";
export { DEFAULT_VALIDITY_MARGIN_SECONDS, EXACT_SCHEME, checkTerms, tokenDomain, verifyExact } from "./verify.js";

export interface ExactSchemeConfig {
  readonly chainId: number;
  readonly publicClient: ChainReader;
  /** Sends settlements and pays their gas; also the sender of verification's simulation. */
  readonly walletClient: SettlementWallet;
  /**
   * Seconds an authorization must outlive `now` to be accepted: clock skew plus the time a
   * synchronous settlement needs. Default {@link DEFAULT_VALIDITY_MARGIN_SECONDS}.
   */
  readonly validityMarginSeconds?: bigint;
  /** Default 60 s. */
  readonly receiptTimeoutMs?: number;
}

/**
 * The `exact` scheme: the client signs an EIP-3009 `TransferWithAuthorization` for the exact price
 * to `payTo`, and the gateway submits it with `transferWithAuthorization`. What both official
 * clients (x402-fetch 1.x, @x402/evm 2.x) pay with by default.
 */
export function createExactScheme(config: ExactSchemeConfig): PaymentScheme {
  const { chainId, publicClient: reader, walletClient: wallet } = config;
  const validityMarginSeconds = config.validityMarginSeconds ?? DEFAULT_VALIDITY_MARGIN_SECONDS;
  const receiptTimeoutMs = config.receiptTimeoutMs ?? 60_000;
  if (validityMarginSeconds < 0n) throw new RangeError("validityMarginSeconds must not be negative");

  return {
    name: EXACT_SCHEME,
    chainId,
    offer: (input) => exactOffer(chainId, validityMarginSeconds, input),
    selectOffer: (payload, candidates) => selectExactOffer(chainId, payload, candidates),
    verify: (payload, offer, now) =>
      verifyExact({ chainId, reader, validityMarginSeconds, simulationSender: wallet.account.address }, payload, offer, now),
    settle: (payment, options) => settleExact({ chainId, reader, wallet, receiptTimeoutMs }, payment, options),
  };
}

/**
 * The exact offer for a token, or undefined when the token cannot take EIP-3009 payments. `extra`
 * carries the token's EIP-712 name and version: clients build the signing domain from them plus
 * the network's chain id and `asset`, and cannot read them anywhere else.
 */
export function exactOffer(chainId: number, validityMarginSeconds: bigint, input: OfferInput): Offer | undefined {
  const { token, amount, maxTimeoutSeconds } = input;
  if (amount < 1n) throw new RangeError(`price must be at least 1 atomic unit, got ${amount}`);
  // Clients sign validBefore = now + maxTimeoutSeconds; a timeout inside the margin could never verify.
  if (BigInt(maxTimeoutSeconds) <= validityMarginSeconds) {
    throw new RangeError(`maxTimeoutSeconds ${maxTimeoutSeconds} must exceed the ${validityMarginSeconds}s validity margin`);
  }
  if ((token.collectionMethods & collectionMethods.eip3009) === 0) return undefined;
  if (token.eip712.name === "" || token.eip712.version === "") return undefined;
  return {
    scheme: EXACT_SCHEME,
    chainId,
    token,
    amount,
    payTo: input.payTo,
    maxTimeoutSeconds,
    extra: { name: token.eip712.name, version: token.eip712.version },
    resource: input.resource,
  };
}
