import { LRUCache } from "lru-cache";
import type { Address } from "viem";
import { type NanoUsd, applyDiscountBps, isPriceUnavailableError, quoteTokenAmount } from "../pricing/index.js";
import type { Offer, PaymentScheme, ResourceDescription } from "../schemes/types.js";
import {
  type PaymentRequiredV1,
  type PaymentRequiredV2,
  PaymentError,
  caip2,
  encodePaymentRequired,
  paymentRequiredV1Body,
  v1NetworkName,
} from "../x402/index.js";
import { defaultSchemeRules } from "./scheme-rules.js";
import type { Challenge, PaidRoute, PaymentFlowDeps, QuoteOptions, QuotedOffer } from "./types.js";

/**
 * How long a signed payment stays valid unless the route says otherwise. An escrow payment can be
 * served before settlement only when its validity outlasts the settlement horizon plus the clock
 * margin (default 300 + 36 s), so the default leaves that with room for client clock lag.
 */
export const DEFAULT_MAX_TIMEOUT_SECONDS = 600;

/**
 * Step 1: one offer per (scheme, accepted token) at the route's price. A token whose price source
 * has no fresh price is left out rather than failing the route; only when nothing at all can be
 * offered is the answer `price_unavailable`.
 *
 * When the request names a payer with a reputation discount, the listed offers carry the
 * discounted amount, reserved to that payer (`discount`), and their list-price twins are accepted
 * too but not listed (`unlisted`).
 */
export async function quoteOffers(
  deps: PaymentFlowDeps,
  route: PaidRoute,
  resource: ResourceDescription,
  options: QuoteOptions = {},
): Promise<QuotedOffer[]> {
  const schemes = deps.schemes.filter((s) => route.schemes === undefined || route.schemes.includes(s.name));
  const bps = options.payer === undefined ? 0 : await discountBps(deps, options.payer);
  const discountedUsd: NanoUsd = bps === 0 ? route.priceUsd : applyDiscountBps(route.priceUsd, bps);
  const offers: QuotedOffer[] = [];
  let unpriced = 0;
  for (const { token, price } of deps.tokens()) {
    let listAmount: bigint;
    let amount: bigint;
    try {
      const quote = await price.getPrice();
      const terms = { priceUsd: route.priceUsd, tokenUsdPrice: quote.price, decimals: token.decimals };
      listAmount = atLeastOne(quoteTokenAmount(terms));
      amount = bps === 0 ? listAmount : atLeastOne(quoteTokenAmount({ ...terms, discountsBps: [bps] }));
    } catch (error) {
      if (!isPriceUnavailableError(error)) throw error;
      unpriced += 1;
      continue;
    }
    for (const scheme of schemes) {
      const offer = (at: bigint) => makeOffer(deps, scheme, route, resource, token, at);
      const listed = offer(amount);
      if (listed === undefined) continue;
      if (amount === listAmount) {
        offers.push({ ...listed, priceUsd: route.priceUsd });
        continue;
      }
      offers.push({ ...listed, priceUsd: discountedUsd, discount: { payer: options.payer as Address, bps, listAmount } });
      const twin = offer(listAmount);
      if (twin !== undefined) offers.push({ ...twin, priceUsd: route.priceUsd, unlisted: true });
    }
  }
  if (offers.length === 0) {
    throw unpriced > 0
      ? new PaymentError("price_unavailable", "no token has a fresh price right now")
      : new PaymentError("unsupported_token", "no accepted token can pay for this resource");
  }
  return offers;
}

// A free call has no business behind the payment layer, and 0 is no valid authorization amount.
function atLeastOne(amount: bigint): bigint {
  return amount < 1n ? 1n : amount;
}

function makeOffer(
  deps: PaymentFlowDeps,
  scheme: PaymentScheme,
  route: PaidRoute,
  resource: ResourceDescription,
  token: Offer["token"],
  amount: bigint,
): Offer | undefined {
  const maxTimeoutSeconds = route.maxTimeoutSeconds ?? DEFAULT_MAX_TIMEOUT_SECONDS;
  const cache = offerCacheOf(deps);
  const key = [
    deps.schemes.indexOf(scheme),
    objectId(token),
    amount,
    maxTimeoutSeconds,
    route.settlement ?? "",
    resource.url,
    resource.description,
    resource.mimeType,
  ].join("\u0000");
  const cached = cache.get(key);
  if (cached !== undefined) return cached.offer;
  const made = scheme.offer({ token, amount, payTo: deps.payTo, maxTimeoutSeconds, resource });
  const asSync = route.settlement === "sync" ? (deps.schemeRules ?? defaultSchemeRules)[scheme.name]?.asSync : undefined;
  const offer = made === undefined || asSync === undefined ? made : asSync(made);
  cache.set(key, { offer });
  return offer;
}

/**
 * An offer is a pure function of its inputs, and building one hashes its challenge (escrow and
 * transfer: a Keccak each): done once per (scheme, token, amount, resource), not on every
 * request — it was a tenth of a paid request's CPU. Per flow (its payee and scheme rules), and
 * per token object, so a token catalog refresh starts afresh. Bounded: resources with query
 * strings are unbounded in number.
 */
const offerCaches = new WeakMap<PaymentFlowDeps, LRUCache<string, { readonly offer: Offer | undefined }>>();

function offerCacheOf(deps: PaymentFlowDeps): LRUCache<string, { readonly offer: Offer | undefined }> {
  let cache = offerCaches.get(deps);
  if (cache === undefined) {
    cache = new LRUCache({ max: 10_000 });
    offerCaches.set(deps, cache);
  }
  return cache;
}

const objectIds = new WeakMap<object, number>();
let nextObjectId = 0;

function objectId(value: object): number {
  let id = objectIds.get(value);
  if (id === undefined) {
    id = nextObjectId++;
    objectIds.set(value, id);
  }
  return id;
}

/**
 * The payer's discount. A failed lookup quotes the list price: anyone may always pay that, while
 * refusing to quote at all would turn a reputation-table hiccup into an outage.
 */
async function discountBps(deps: PaymentFlowDeps, payer: Address): Promise<number> {
  if (deps.discountFor === undefined) return 0;
  try {
    return (await deps.discountFor(payer)).discountBps;
  } catch (error) {
    deps.log?.warn?.({ err: error, payer }, "could not read the payer's discount; quoting the list price");
    return 0;
  }
}

/** Step 2: the same offers as a v1 body and a v2 header. */
export function buildChallenge(quoted: readonly QuotedOffer[], resource: ResourceDescription, error = "payment required"): Challenge {
  const offers = quoted.filter((offer) => offer.unlisted !== true);
  const v1: PaymentRequiredV1 = {
    x402Version: 1,
    error,
    accepts: offers.flatMap((offer) => {
      // v1 clients validate every entry and reject the whole 402 over one they cannot read: x402-fetch
      // 1.x knows only the scheme "exact", and only the networks it lists. Escrow and transfer-proof
      // offers are announced in the v2 header, which every client that can pay them reads.
      if (offer.scheme !== "exact") return [];
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
