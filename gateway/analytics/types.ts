/** One answered API call, as the request observer hands it to the recorder. */
export interface ApiRequestRecord {
  readonly requestedAt: Date;
  readonly method: string;
  /** The route template ("/api/weather"), not the raw path. */
  readonly endpoint: string;
  readonly status: number;
  readonly responseTimeMs: number;
  /** Present once a payment was verified for this request. */
  readonly payment?: ObservedPayment | undefined;
}

/**
 * What the payment flow leaves on `ctx.state.observedPayment` once it has verified a payment, and
 * updates when the payment is charged. Addresses in any case; they are stored lower-cased.
 */
export interface ObservedPayment {
  readonly payer: string;
  readonly scheme: string;
  readonly token: string;
  /** Atomic units of `token` the payment is for. */
  readonly amount: bigint;
  /** The charge in nano-USD at the quoted (discounted) price, when known. */
  readonly priceNanoUsd?: bigint | undefined;
  /** True once the payment is charged: settled, or accepted for asynchronous settlement. */
  readonly charged: boolean;
  /** Settlement (or the client's own transfer) transaction, when known. */
  readonly txHash?: string | undefined;
}
