import { isAddressEqual } from "viem";
import type { Offer } from "../types.js";
import { exactPayloadSchema } from "./payload.js";
import { recoverAuthorizationSigner } from "./signature.js";
import { EXACT_SCHEME, tokenDomain } from "./verify.js";

/**
 * Picks the exact offer a payload answers, locally. The authorization names payee and amount but
 * not the token, so: first an offer whose terms match and whose token domain recovers the payer
 * (an EOA payment, certain), then one whose terms match (a contract wallet, or a bad signature
 * `verify` will name), then any of ours. Junk gets the first, so `verify` explains what is wrong.
 * Candidates of other schemes or chains are never returned.
 */
export async function selectExactOffer(
  chainId: number,
  payloadValue: unknown,
  candidates: readonly Offer[],
): Promise<Offer | undefined> {
  const ours = candidates.filter((offer) => offer.scheme === EXACT_SCHEME && offer.chainId === chainId);
  const parsed = exactPayloadSchema.safeParse(payloadValue);
  if (!parsed.success) return ours[0];
  const { authorization, signature } = parsed.data;
  const terms = ours.filter((offer) => isAddressEqual(offer.payTo, authorization.to) && offer.amount === authorization.value);
  for (const offer of terms) {
    const signer = await recoverAuthorizationSigner(tokenDomain(chainId, offer), authorization, signature);
    if (signer !== undefined && isAddressEqual(signer, authorization.from)) return offer;
  }
  return terms[0] ?? ours[0];
}
