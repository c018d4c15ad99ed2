import { z } from "zod";
import { type CodecLimits, decodeHeaderJson, encodeHeaderJson, type JsonObject } from "./codec.js";
import { parseWire, readVersion, type X402Version } from "./parse.js";
import {
  type PaymentPayloadV1,
  type PaymentRequiredV1,
  type PaymentRequiredV1Wire,
  type SettlementResponseV1,
  paymentPayloadV1Schema,
  paymentRequiredV1Schema,
  settlementResponseV1Schema,
} from "./v1.js";
import {
  type PaymentPayloadV2,
  type PaymentRequiredV2,
  type SettlementResponseV2,
  paymentPayloadV2Schema,
  paymentRequiredV2Schema,
  settlementResponseV2Schema,
} from "./v2.js";

/**
 * Typed codecs for the x402 header values (base64 JSON) and the v1 402 body. Header names and
 * everything else about HTTP stay with the adapter. Every decoder throws PaymentError: the codec's
 * `malformed_payment`, or `unsupported_version`.
 */

export type PaymentPayload = PaymentPayloadV1 | PaymentPayloadV2;
export type SettlementResponse = SettlementResponseV1 | SettlementResponseV2;

export interface DecodeOptions {
  /** The version implied by the header the value came in; any other version is unsupported. */
  readonly version?: X402Version;
  readonly limits?: Partial<CodecLimits>;
}

/** `X-PAYMENT` (v1) or `PAYMENT-SIGNATURE` (v2) → payment envelope. */
export function decodePaymentPayload(value: string, options: DecodeOptions = {}): PaymentPayload {
  const message = decodeHeaderJson(value, options.limits);
  return readVersion(message, "malformed_payment", options.version) === 1
    ? parseWire(paymentPayloadV1Schema, message, "malformed_payment", "payment")
    : parseWire(paymentPayloadV2Schema, message, "malformed_payment", "payment");
}

export function encodePaymentPayload(payload: PaymentPayload): string {
  return payload.x402Version === 1
    ? encodeHeaderJson(z.encode(paymentPayloadV1Schema, payload))
    : encodeHeaderJson(z.encode(paymentPayloadV2Schema, payload));
}

/** `PAYMENT-REQUIRED` header value. */
export function encodePaymentRequired(required: PaymentRequiredV2): string {
  return encodeHeaderJson(z.encode(paymentRequiredV2Schema, required));
}

export function decodePaymentRequired(value: string, limits?: Partial<CodecLimits>): PaymentRequiredV2 {
  const message = decodeHeaderJson(value, limits);
  readVersion(message, "malformed_payment", 2);
  return parseWire(paymentRequiredV2Schema, message, "malformed_payment", "payment requirements");
}

/** The v1 402 response body, as the JSON object to serialize. */
export function paymentRequiredV1Body(required: PaymentRequiredV1): PaymentRequiredV1Wire {
  return z.encode(paymentRequiredV1Schema, required);
}

export function parsePaymentRequiredV1Body(body: JsonObject): PaymentRequiredV1 {
  readVersion(body, "malformed_payment", 1);
  return parseWire(paymentRequiredV1Schema, body, "malformed_payment", "payment requirements");
}

/** `X-PAYMENT-RESPONSE` / `PAYMENT-RESPONSE` value; the version decides how `network` is spelled. */
export function encodeSettlementResponse(response: SettlementResponseV1, version: 1): string;
export function encodeSettlementResponse(response: SettlementResponseV2, version: 2): string;
export function encodeSettlementResponse(response: SettlementResponse, version: X402Version): string {
  return version === 1
    ? encodeHeaderJson(z.encode(settlementResponseV1Schema, response))
    : encodeHeaderJson(z.encode(settlementResponseV2Schema, response as SettlementResponseV2));
}

export function decodeSettlementResponse(
  value: string,
  version: 1,
  limits?: Partial<CodecLimits>,
): SettlementResponseV1;
export function decodeSettlementResponse(
  value: string,
  version: 2,
  limits?: Partial<CodecLimits>,
): SettlementResponseV2;
export function decodeSettlementResponse(
  value: string,
  version: X402Version,
  limits?: Partial<CodecLimits>,
): SettlementResponse {
  const message = decodeHeaderJson(value, limits);
  return version === 1
    ? parseWire(settlementResponseV1Schema, message, "malformed_payment", "settlement response")
    : parseWire(settlementResponseV2Schema, message, "malformed_payment", "settlement response");
}
