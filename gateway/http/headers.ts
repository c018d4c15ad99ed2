import type { X402Version } from "../x402/index.js";

/** x402 header names per protocol version: the one place the HTTP spellings live. */
export const PAYMENT_HEADERS = { 1: "x-payment", 2: "payment-signature" } as const satisfies Record<X402Version, string>;
export const PAYMENT_RESPONSE_HEADERS = { 1: "X-PAYMENT-RESPONSE", 2: "PAYMENT-RESPONSE" } as const satisfies Record<X402Version, string>;
export const PAYMENT_REQUIRED_HEADER = "PAYMENT-REQUIRED";
