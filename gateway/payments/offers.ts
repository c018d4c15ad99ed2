import { isPriceUnavailableError, quoteTokenAmount } from "../pricing/index.js";
import type { Offer, ResourceDescription } from "../schemes/types.js";
import {
  type PaymentRequiredV1,
  type PaymentRequiredV2,
  PaymentError,
  caip2,
  encodePaymentRequired,
  paymentRequiredV1Body,
  v1NetworkName,
} from "../x402/index.js";
import type { Challenge, PaidRoute, PaymentFlowDeps } from "./types.js";

export const DEFAULT_MAX_TIMEOUT_SECONDS = 300;

/**
 * Step 1: one offer per (scheme, accepted token) at the route's price. A token whose price source
 * has no fresh price is left out rather than failing the route; only when nothing at all can be
 * offered is the answer `price_unavailable`.
 */
export async function quoteOffers(deps: PaymentFlowDeps, route: PaidRoute, resource: ResourceDescription): Promise<Offer[]> {
  const schemes = deps.schemes.filter((s) => route.schemes === undefined || route.schemes.includes(s.name));
  const offers: Offer[] = [];
  let unpriced = 0;
  for (const { token, price } of deps.tokens()) {
    let amount: bigint;
    try {
      const quote = await price.getPrice();
      amount = quoteTokenAmount({ priceUsd: route.priceUsd, tokenUsdPrice: quote.price, decimals: token.decimals });
    } catch (error) {
      if (!isPriceUnavailableError(error)) throw error;
      unpriced += 1;
      continue;
    }
    // A free call has no business behind the payment layer, and 0 is no valid authorization amount.
    if (amount < 1n) amount = 1n;
    for (const scheme of schemes) {
      const offer = scheme.offer({
        token,
        amount,
        payTo: deps.payTo,
        maxTimeoutSeconds: route.maxTimeoutSeconds ?? DEFAULT_MAX_TIMEOUT_SECONDS,
        resource,
      });
      if (offer !== undefined) offers.push(offer);
    }
  }
  if (offers.length === 0) {
    throw unpriced > 0
      ? new PaymentError("price_unavailable", "no token has a fresh price right now")
      : new PaymentError("unsupported_token", "no accepted token can pay for this resource");
  }
  return offers;
}

/** Step 2: the same offers as a v1 body and a v2 header. */
export function buildChallenge(offers: readonly Offer[], resource: ResourceDescription, error = "payment required"): Challenge {
  const v1: PaymentRequiredV1 = {
    x402Version: 1,
    error,
    accepts: offers.flatMap((offer) => {
      // v1 clients reject a whole 402 over one network they do not know: leave such offers out.
      const network = v1NetworkName(offer.chainId);
      if (network === undefined) return [];
      return [
        {
          scheme: offer.scheme,
          network,
          maxAmountRequired: offer.amount,
          resource: resource.url,
          description: resource.description,
          mimeType: resource.mimeType,
          payTo: offer.payTo,
          maxTimeoutSeconds: offer.maxTimeoutSeconds,
          asset: offer.token.address,
          extra: offer.extra,
        },
      ];
    }),
  };
  const v2: PaymentRequiredV2 = {
    x402Version: 2,
    error,
    resource: { url: resource.url, description: resource.description, mimeType: resource.mimeType },
    accepts: offers.map(offerV2),
  };
  return { v1Body: paymentRequiredV1Body(v1), v2Header: encodePaymentRequired(v2) };
}

export function offerV2(offer: Offer): PaymentRequiredV2["accepts"][number] {
  return {
    scheme: offer.scheme,
    network: caip2(offer.chainId),
    amount: offer.amount,
    asset: offer.token.address,
    payTo: offer.payTo,
    maxTimeoutSeconds: offer.maxTimeoutSeconds,
    extra: offer.extra,
  };
}
