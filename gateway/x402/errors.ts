import type { z } from "zod";

/** HTTP statuses the gateway's error codes map to. */
export type ErrorStatus = 400 | 401 | 402 | 403 | 404 | 409 | 422 | 429 | 502 | 503;

export interface ErrorCodeInfo {
  readonly status: ErrorStatus;
  readonly description: string;
}

/**
 * The gateway's stable, machine-readable error codes. Clients branch on these strings, so a code is
 * never renamed or reused for a different meaning; add new ones instead.
 */
export const errorCodes = {
  // Payment problems (402): the request can succeed with a different or corrected payment.
  malformed_payment: { status: 402, description: "The payment header is not a well-formed x402 payment." },
  unsupported_version: { status: 402, description: "The x402 protocol version is not supported." },
  unsupported_scheme: { status: 402, description: "The payment scheme is not supported." },
  wrong_network: { status: 402, description: "The payment is for a network this resource is not offered on." },
  unsupported_token: { status: 402, description: "The token is unknown, deprecated or removed." },
  amount_mismatch: { status: 402, description: "The paid amount does not equal the price." },
  wrong_recipient: { status: 402, description: "The payment is not addressed to the required recipient." },
  invalid_signature: { status: 402, description: "The payment signature does not verify." },
  expired: { status: 402, description: "The payment authorization has expired." },
  not_yet_valid: { status: 402, description: "The payment authorization is not valid yet." },
  nonce_used: { status: 402, description: "The authorization nonce has already been used." },
  insufficient_funds: { status: 402, description: "The payer's balance does not cover the payment." },
  requirements_mismatch: { status: 402, description: "The accepted requirements match none that were offered." },
  transfer_not_found: { status: 402, description: "No transfer was found for the given transaction." },
  transfer_failed: { status: 402, description: "The referenced transaction failed on chain." },
  transfer_already_used: { status: 402, description: "The transfer has already paid for another request." },
  insufficient_confirmations: { status: 402, description: "The transfer does not have enough confirmations yet." },
  wrong_token: { status: 402, description: "The transfer moved a different token than required." },
  settlement_failed: { status: 402, description: "Settlement did not go through; nothing was charged." },
  payment_required: { status: 402, description: "This resource requires payment." },
  // 409 rather than 402: a 402 would prompt x402 clients to sign and send a second payment while
  // the first may still be charged.
  payment_in_flight: { status: 409, description: "The same payment is already being processed." },
  // Bad input.
  invalid_request: { status: 400, description: "The request query or body is invalid." },
  not_found: { status: 404, description: "The resource does not exist." },
  rate_limited: { status: 429, description: "Too many requests; retry later." },
  batch_path_not_allowed: { status: 400, description: "A batch call names a path that is not a catalogue route." },
  // The upstream refused the request's input: relayed, never charged.
  upstream_rejected: { status: 422, description: "The upstream refused the request's input (e.g. unknown city); nothing was charged." },
  batch_call_rejected: { status: 422, description: "An upstream refused one of the batch's calls; the batch was not charged." },
  // Access to the facilitator API and the admin endpoints.
  unauthorized: { status: 401, description: "The facilitator API needs a valid bearer token (or a local caller when none is configured)." },
  admin_unauthorized: { status: 401, description: "The admin endpoint needs Authorization: Bearer <ADMIN_TOKEN>." },
  admin_forbidden: { status: 403, description: "The admin token is not valid." },
  admin_disabled: { status: 403, description: "The admin endpoints are disabled: no ADMIN_TOKEN is configured." },
  // Our side or our dependencies.
  upstream_failed: { status: 502, description: "The upstream service failed to respond correctly." },
  chain_unavailable: { status: 503, description: "The chain cannot be reached right now." },
  database_unavailable: { status: 503, description: "The database cannot be reached right now." },
  price_unavailable: { status: 503, description: "No fresh price is available for this token right now." },
  route_disabled: { status: 503, description: "The route is disabled (its upstream is not configured, e.g. a missing API key)." },
  upstream_unavailable: { status: 503, description: "The upstream is failing and its circuit breaker is open; retry after Retry-After seconds." },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof errorCodes;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(errorCodes, value);
}

export function errorStatus(code: ErrorCode): ErrorStatus {
  return errorCodes[code].status;
}

/** Per-field messages keyed by dotted path ("accepted.amount"); "" is the value itself. */
export type FieldErrors = Record<string, string[]>;

export type ErrorDetails = Readonly<Record<string, unknown>>;

export class PaymentError extends Error {
  override readonly name = "PaymentError";
  readonly code: ErrorCode;
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, message?: string, details?: ErrorDetails, options?: { cause?: unknown }) {
    super(message ?? errorCodes[code].description, options);
    this.code = code;
    this.details = details;
  }

  get status(): ErrorStatus {
    return errorCodes[this.code].status;
  }
}

export function isPaymentError(value: unknown): value is PaymentError {
  return value instanceof PaymentError;
}

export function fieldErrors(error: z.ZodError): FieldErrors {
  const fields: FieldErrors = {};
  for (const issue of error.issues) {
    const key = issue.path.map(String).join(".");
    (fields[key] ??= []).push(issue.message);
  }
  return fields;
}

/** Wraps a schema failure as `code`, keeping the per-field messages for the response body. */
export function paymentErrorFromZod(code: ErrorCode, message: string, error: z.ZodError): PaymentError {
  return new PaymentError(code, message, { fields: fieldErrors(error) });
}

/**
 * Reason strings of the x402 facilitator API (`invalidReason` / `errorReason`). v1 clients parse
 * them with a closed enum, so we only ever emit names from the spec registries.
 */
export const facilitatorReasons = [
  "insufficient_funds",
  "invalid_exact_evm_payload_authorization_valid_after",
  "invalid_exact_evm_payload_authorization_valid_before",
  "invalid_exact_evm_payload_authorization_value",
  "invalid_exact_evm_payload_signature",
  "invalid_exact_evm_payload_recipient_mismatch",
  "invalid_network",
  "invalid_payload",
  "invalid_payment_requirements",
  "invalid_scheme",
  "unsupported_scheme",
  "invalid_x402_version",
  "invalid_transaction_state",
  "unexpected_verify_error",
  "unexpected_settle_error",
] as const;

export type FacilitatorReason = (typeof facilitatorReasons)[number];

const reasonByCode: Partial<Record<ErrorCode, FacilitatorReason>> = {
  malformed_payment: "invalid_payload",
  invalid_request: "invalid_payload",
  unsupported_version: "invalid_x402_version",
  unsupported_scheme: "unsupported_scheme",
  wrong_network: "invalid_network",
  unsupported_token: "invalid_payment_requirements",
  requirements_mismatch: "invalid_payment_requirements",
  wrong_recipient: "invalid_exact_evm_payload_recipient_mismatch",
  invalid_signature: "invalid_exact_evm_payload_signature",
  expired: "invalid_exact_evm_payload_authorization_valid_before",
  not_yet_valid: "invalid_exact_evm_payload_authorization_valid_after",
  nonce_used: "invalid_transaction_state",
  transfer_already_used: "invalid_transaction_state",
  insufficient_funds: "insufficient_funds",
  amount_mismatch: "invalid_exact_evm_payload_authorization_value",
};

/** The facilitator-API reason for one of our codes; codes without a spec name become "unexpected_*". */
export function facilitatorReason(code: ErrorCode, phase: "verify" | "settle"): FacilitatorReason {
  return reasonByCode[code] ?? (phase === "verify" ? "unexpected_verify_error" : "unexpected_settle_error");
}
