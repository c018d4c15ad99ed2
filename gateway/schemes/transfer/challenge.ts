import { type Address, type Hash, encodeAbiParameters, keccak256, parseAbiParameters } from "viem";
import type { Offer } from "../types.js";

/** Version tag of the challenge encoding; a new encoding gets a new tag, never a reused one. */
export const TRANSFER_CHALLENGE_TAG = "x402-transfer-v1";

/** Everything a challenge binds a payment to. */
export interface TransferChallengeTerms {
  readonly chainId: number;
  /** The offer's `resource.url`, byte for byte as the gateway rebuilds it. */
  readonly resourceUrl: string;
  readonly token: Address;
  readonly amount: bigint;
  readonly payTo: Address;
}

const challengeParameters = parseAbiParameters("string tag, uint256 chainId, string resourceUrl, address token, uint256 amount, address payTo");

/**
 * `keccak256(abi.encode("x402-transfer-v1", chainId, resourceUrl, token, amount, payTo))`.
 * Deterministic and stateless, so the gateway recomputes it from the offer it rebuilds instead of
 * remembering what it handed out. `abi.encode` (not `encodePacked`) length-prefixes the strings, so
 * no two term sets share an encoding. Clients sign `extra.challengeHash` as given; they never need
 * to compute this.
 */
export function transferChallengeHash(terms: TransferChallengeTerms): Hash {
  return keccak256(
    encodeAbiParameters(challengeParameters, [
      TRANSFER_CHALLENGE_TAG,
      BigInt(terms.chainId),
      terms.resourceUrl,
      terms.token,
      terms.amount,
      terms.payTo,
    ]),
  );
}

/** The challenge of a (trusted, gateway-built) offer. */
export function offerChallengeHash(offer: Offer): Hash {
  return transferChallengeHash({
    chainId: offer.chainId,
    resourceUrl: offer.resource.url,
    token: offer.token.address,
    amount: offer.amount,
    payTo: offer.payTo,
  });
}
