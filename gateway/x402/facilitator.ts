import { z } from "zod";
import { type JsonObject } from "./codec.js";
import { facilitatorReasons } from "./errors.js";
import { caip2NetworkSchema } from "./networks.js";
import { parseWire, readVersion } from "./parse.js";
import { addressSchema, jsonObjectSchema, schemeNameSchema, v1NetworkSchema } from "./primitives.js";
import { settlementResponseSchema } from "./settlement.js";
import { paymentPayloadV1Schema, paymentRequirementsV1Schema } from "./v1.js";
import { paymentPayloadV2Schema, paymentRequirementsV2Schema } from "./v2.js";

/**
 * The facilitator API (POST /verify, POST /settle, GET /supported) as JSON bodies. Request problems
 * are `invalid_request` (400) rather than `malformed_payment`: here the payment is the request body.
 */

/** Body of POST /verify and POST /settle; the payload's version must equal the request's. */
export const facilitatorRequestSchema = z.discriminatedUnion("x402Version", [
  z.object({
    x402Version: z.literal(1),
    paymentPayload: paymentPayloadV1Schema,
    paymentRequirements: paymentRequirementsV1Schema,
  }),
  z.object({
    x402Version: z.literal(2),
    paymentPayload: paymentPayloadV2Schema,
    paymentRequirements: paymentRequirementsV2Schema,
  }),
]);

export type FacilitatorRequest = z.output<typeof facilitatorRequestSchema>;
export type FacilitatorRequestWire = z.input<typeof facilitatorRequestSchema>;

export function parseFacilitatorRequest(body: JsonObject): FacilitatorRequest {
  readVersion(body, "invalid_request");
  return parseWire(facilitatorRequestSchema, body, "invalid_request", "facilitator request");
}

export const facilitatorReasonSchema = z.enum(facilitatorReasons);

/** Either version's spelling: v1 requests are answered with v1 names, v2 with CAIP-2 ids. */
const anyNetwork = z.union([caip2NetworkSchema, v1NetworkSchema]);

export const verifyResponseSchema = z.discriminatedUnion("isValid", [
  z.object({ isValid: z.literal(true), payer: addressSchema }),
  z.object({ isValid: z.literal(false), invalidReason: facilitatorReasonSchema, payer: addressSchema.optional() }),
]);

export type VerifyResponse = z.output<typeof verifyResponseSchema>;
export type VerifyResponseWire = z.input<typeof verifyResponseSchema>;

export const settleResponseSchema = settlementResponseSchema(anyNetwork, facilitatorReasonSchema);

export type SettleResponse = z.output<typeof settleResponseSchema>;
export type SettleResponseWire = z.input<typeof settleResponseSchema>;

export const supportedKindSchema = z.discriminatedUnion("x402Version", [
  z.object({
    x402Version: z.literal(1),
    scheme: schemeNameSchema,
    network: v1NetworkSchema,
    extra: jsonObjectSchema.optional(),
  }),
  z.object({
    x402Version: z.literal(2),
    scheme: schemeNameSchema,
    network: caip2NetworkSchema,
    extra: jsonObjectSchema.optional(),
  }),
]);

export type SupportedKind = z.output<typeof supportedKindSchema>;

/** Signer keys are CAIP-2 ids or namespace wildcards ("eip155:*"). */
const signerScope = z.string().regex(/^[-a-z0-9]{3,8}:(\*|[-_a-zA-Z0-9]{1,32})$/, "must be a CAIP-2 id or wildcard");

export const supportedResponseSchema = z.object({
  kinds: z.array(supportedKindSchema),
  extensions: z.array(z.string().max(64)),
  signers: z.record(signerScope, z.array(addressSchema)),
});

export type SupportedResponse = z.output<typeof supportedResponseSchema>;
export type SupportedResponseWire = z.input<typeof supportedResponseSchema>;
