import { isAddressEqual } from "viem";
import type { Offer } from "../types.js";
import { ESCROW_SCHEME, escrowExtraSchema } from "./offer.js";
import { type EscrowAuthorization, escrowPayloadSchema } from "./payload.js";

/**
 * Picks the escrow offer a payload answers, locally. Unlike EIP-3009, the authorization names
 * everything an offer is told apart by (token, payee, amount, and the challenge hash that binds
 * the resource), so a well-formed payment for one of our offers matches it exactly. Otherwise the
 * closest one (same token, then any of ours), so that `verify` names what is wrong. Candidates of
 * other schemes or chains are never returned.
 */
export async function selectEscrowOffer(
  chainId: number,
  payloadValue: unknown,
  candidates: readonly Offer[],
): Promise<Offer | undefined> {
  const ours = candidates.filter((offer) => offer.scheme === ESCROW_SCHEME && offer.chainId === chainId);
  const parsed = escrowPayloadSchema.safeParse(payloadValue);
  if (!parsed.success) return ours[0];
  const a = parsed.data.authorization;
  return (
    ours.find((offer) => termsMatch(offer, a) && offerChallenge(offer) === a.challengeHash) ??
    ours.find((offer) => termsMatch(offer, a)) ??
    ours.find((offer) => isAddressEqual(offer.token.address, a.token)) ??
    ours[0]
  );
}

function termsMatch(offer: Offer, a: EscrowAuthorization): boolean {
  return isAddressEqual(offer.token.address, a.token) && isAddressEqual(offer.payTo, a.payee) && offer.amount === a.amount;
}

function offerChallenge(offer: Offer): string | undefined {
  return escrowExtraSchema.safeParse(offer.extra).data?.challengeHash;
}
