import { isAddressEqual } from "viem";
import type { Offer } from "../types.js";
import { offerChallengeHash } from "./challenge.js";
import { transferPayloadSchema } from "./payload.js";
import { recoverTransferProofSigner } from "./signature.js";
import { TRANSFER_SCHEME } from "./verify.js";

/**
 * Picks the transfer offer a payload answers, locally. The payload names neither token nor price,
 * but the signature is over one offer's challenge, so the offer whose challenge recovers the payer
 * is the one (certain, for EOAs). Otherwise (a contract wallet, a bad signature, junk) the first of
 * ours, and `verify` says what is wrong. Candidates of other schemes or chains are never returned.
 */
export async function selectTransferOffer(
  chainId: number,
  payloadValue: unknown,
  candidates: readonly Offer[],
): Promise<Offer | undefined> {
  const ours = candidates.filter((offer) => offer.scheme === TRANSFER_SCHEME && offer.chainId === chainId);
  const parsed = transferPayloadSchema.safeParse(payloadValue);
  if (!parsed.success) return ours[0];
  const { transaction, payer, signature } = parsed.data;
  for (const offer of ours) {
    const signer = await recoverTransferProofSigner(chainId, { transaction, challengeHash: offerChallengeHash(offer) }, signature);
    if (signer !== undefined && isAddressEqual(signer, payer)) return offer;
  }
  return ours[0];
}
