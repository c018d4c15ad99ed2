import { z } from "zod";
import {
  addressSchema,
  httpUrlSchema,
  jsonObjectSchema,
  schemeNameSchema,
  textSchema,
  timeoutSecondsSchema,
  uint256StringSchema,
  v1NetworkSchema,
} from "./primitives.js";
import { settlementReasonSchema, settlementResponseSchema } from "./settlement.js";

/**
 * x402 v1: requirements travel in the 402 JSON body, the payment in `X-PAYMENT`, the receipt in
 * `X-PAYMENT-RESPONSE`. Every field the v1 client (`x402-fetch` 1.x) requires is required here too,
 * so whatever we encode passes its parser.
 */

export const paymentRequirementsV1Schema = z.object({
  scheme: schemeNameSchema,
  network: v1NetworkSchema,
  maxAmountRequired: uint256StringSchema,
  resource: httpUrlSchema,
  description: textSchema,
  mimeType: textSchema,
  payTo: addressSchema,
  maxTimeoutSeconds: timeoutSecondsSchema,
  asset: addressSchema,
  extra: jsonObjectSchema.optional(),
  outputSchema: jsonObjectSchema.optional(),
});

export type PaymentRequirementsV1 = z.output<typeof paymentRequirementsV1Schema>;
export type PaymentRequirementsV1Wire = z.input<typeof paymentRequirementsV1Schema>;

/** The 402 response body. */
export const paymentRequiredV1Schema = z.object({
  x402Version: z.literal(1),
  error: textSchema,
  accepts: z.array(paymentRequirementsV1Schema).max(64),
});

export type PaymentRequiredV1 = z.output<typeof paymentRequiredV1Schema>;
export type PaymentRequiredV1Wire = z.input<typeof paymentRequiredV1Schema>;

/** `X-PAYMENT`. The scheme module owns `payload`; the envelope only insists that it is an object. */
export const paymentPayloadV1Schema = z.object({
  x402Version: z.literal(1),
  scheme: schemeNameSchema,
  network: v1NetworkSchema,
  payload: jsonObjectSchema,
});

export type PaymentPayloadV1 = z.output<typeof paymentPayloadV1Schema>;
export type PaymentPayloadV1Wire = z.input<typeof paymentPayloadV1Schema>;

/** `X-PAYMENT-RESPONSE`. */
export const settlementResponseV1Schema = settlementResponseSchema(v1NetworkSchema, settlementReasonSchema);

export type SettlementResponseV1 = z.output<typeof settlementResponseV1Schema>;
export type SettlementResponseV1Wire = z.input<typeof settlementResponseV1Schema>;
