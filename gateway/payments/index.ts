import type { ResourceDescription } from "../schemes/types.js";
import { acceptPayment } from "./accept.js";
import { completePayment, earlierOutcome, releasePayment } from "./complete.js";
import { buildChallenge, quoteOffers } from "./offers.js";
import type {
  AcceptResult,
  Challenge,
  PaidRoute,
  PaymentFlowDeps,
  PaymentHeaders,
  QuoteOptions,
  QuotedOffer,
  Receipt,
  ReservedPayment,
  StoredResponse,
} from "./types.js";

export * from "./types.js";
export { DEFAULT_MAX_TIMEOUT_SECONDS, buildChallenge, offerV2, quoteOffers } from "./offers.js";
export { DEFAULT_SERVE_LEASE_SECONDS, acceptPayment } from "./accept.js";
export { completePayment, deferredReceipt, earlierOutcome, failureReceipt, releasePayment } from "./complete.js";
export { defaultSchemeRules, exactReplayIdentity } from "./scheme-rules.js";
export { type PaymentRow, rowPayment } from "./store.js";

/**
 * The payment flow between an HTTP adapter and the schemes/ledger (docs/gateway-design.md, steps
 * 1–7), framework-free: it takes header values and a request fingerprint, and hands back offers,
 * challenges, receipts and stored responses.
 */
export interface PaymentFlow {
  /** The offers for one request; `options.payer` asks for that payer's reputation discount. */
  quote(route: PaidRoute, resource: ResourceDescription, options?: QuoteOptions): Promise<QuotedOffer[]>;
  challenge(offers: readonly QuotedOffer[], resource: ResourceDescription, error?: string): Challenge;
  acceptPayment(headers: PaymentHeaders, offers: readonly QuotedOffer[], fingerprint: string): Promise<AcceptResult>;
  completePayment(reserved: ReservedPayment, respond: (receipt: Receipt) => StoredResponse): Promise<StoredResponse>;
  releasePayment(reserved: ReservedPayment, reason: string): Promise<Receipt>;
  /** Before failing a payment served first: the stored response if an earlier request recorded it (see complete.ts). */
  earlierOutcome(reserved: ReservedPayment): Promise<StoredResponse | undefined>;
}

export function createPaymentFlow(deps: PaymentFlowDeps): PaymentFlow {
  return {
    quote: (route, resource, options) => quoteOffers(deps, route, resource, options),
    challenge: (offers, resource, error) => buildChallenge(offers, resource, error),
    acceptPayment: (headers, offers, fingerprint) => acceptPayment(deps, headers, offers, fingerprint),
    completePayment: (reserved, respond) => completePayment(deps, reserved, respond),
    releasePayment: (reserved, reason) => releasePayment(deps, reserved, reason),
    earlierOutcome: (reserved) => earlierOutcome(deps, reserved),
  };
}
