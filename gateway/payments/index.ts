import type { Offer, ResourceDescription } from "../schemes/types.js";
import { acceptPayment } from "./accept.js";
import { completePayment, releasePayment } from "./complete.js";
import { buildChallenge, quoteOffers } from "./offers.js";
import type {
  AcceptResult,
  Challenge,
  PaidRoute,
  PaymentFlowDeps,
  PaymentHeaders,
  Receipt,
  ReservedPayment,
  StoredResponse,
} from "./types.js";

export * from "./types.js";
export { DEFAULT_MAX_TIMEOUT_SECONDS, buildChallenge, offerV2, quoteOffers } from "./offers.js";
export { acceptPayment, exactReplayIdentity } from "./accept.js";
export { completePayment, failureReceipt, releasePayment } from "./complete.js";

/**
 * The payment flow between an HTTP adapter and the schemes/ledger (docs/gateway-design.md, steps
 * 1–7), framework-free: it takes header values and a request fingerprint, and hands back offers,
 * challenges, receipts and stored responses.
 */
export interface PaymentFlow {
  quote(route: PaidRoute, resource: ResourceDescription): Promise<Offer[]>;
  challenge(offers: readonly Offer[], resource: ResourceDescription, error?: string): Challenge;
  acceptPayment(headers: PaymentHeaders, offers: readonly Offer[], fingerprint: string): Promise<AcceptResult>;
  completePayment(reserved: ReservedPayment, respond: (receipt: Receipt) => StoredResponse): Promise<StoredResponse>;
  releasePayment(reserved: ReservedPayment, reason: string): Promise<Receipt>;
}

export function createPaymentFlow(deps: PaymentFlowDeps): PaymentFlow {
  return {
    quote: (route, resource) => quoteOffers(deps, route, resource),
    challenge: (offers, resource, error) => buildChallenge(offers, resource, error),
    acceptPayment: (headers, offers, fingerprint) => acceptPayment(deps, headers, offers, fingerprint),
    completePayment: (reserved, respond) => completePayment(deps, reserved, respond),
    releasePayment: (reserved, reason) => releasePayment(deps, reserved, reason),
  };
}
