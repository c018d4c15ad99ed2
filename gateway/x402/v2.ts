import { z } from "zod";
import { caip2NetworkSchema } from "./networks.js";
import {
  addressSchema,
  httpUrlSchema,
  jsonObjectSchema,
  schemeNameSchema,
  textSchema,
  timeoutSecondsSchema,
  uint256StringSchema,
} from "./primitives.js";
import { settlementReasonSchema, settlementResponseSchema } from "./settlement.js";

/**
 * x402 v2: requirements travel in the `PAYMENT-REQUIRED` header (the body may be anything), the
 * payment in `PAYMENT-SIGNATURE`, the receipt in `PAYMENT-RESPONSE`; networks are CAIP-2 ids.
 */

export const paymentRequirementsV2Schema = z.object({
  scheme: schemeNameSchema,
  network: caip2NetworkSchema,
  amount: uint256StringSchema,
  asset: addressSchema,
  payTo: addressSchema,
  maxTimeoutSeconds: timeoutSecondsSchema,
  extra: jsonObjectSchema.optional(),
});

export type PaymentRequirementsV2 = z.output<typeof paymentRequirementsV2Schema>;
export type PaymentRequirementsV2Wire = z.input<typeof paymentRequirementsV2Schema>;

export const resourceInfoSchema = z.object({
  url: httpUrlSchema,
  description: textSchema.optional(),
  mimeType: textSchema.optional(),
});

export type ResourceInfo = z.output<typeof resourceInfoSchema>;

/**
 * The resource as a client echoes it inside a payment. It is informational only (the server knows
 * which resource it serves), so anything string-shaped is accepted rather than failing the payment.
 */
export const echoedResourceSchema = z.object({
  url: textSchema,
  description: textSchema.optional(),
  mimeType: textSchema.optional(),
});

export type EchoedResource = z.output<typeof echoedResourceSchema>;

/** `PAYMENT-REQUIRED`. */
export const paymentRequiredV2Schema = z.object({
  x402Version: z.literal(2),
  error: textSchema.optional(),
  resource: resourceInfoSchema,
  accepts: z.array(paymentRequirementsV2Schema).max(64),
  extensions: jsonObjectSchema.optional(),
});

export type PaymentRequiredV2 = z.output<typeof paymentRequiredV2Schema>;
export type PaymentRequiredV2Wire = z.input<typeof paymentRequiredV2Schema>;

/** `PAYMENT-SIGNATURE`. The scheme module owns `payload`; the envelope only insists on an object. */
export const paymentPayloadV2Schema = z.object({
  x402Version: z.literal(2),
  resource: echoedResourceSchema.optional(),
  accepted: paymentRequirementsV2Schema,
  payload: jsonObjectSchema,
  extensions: jsonObjectSchema.optional(),
});

export type PaymentPayloadV2 = z.output<typeof paymentPayloadV2Schema>;
export type PaymentPayloadV2Wire = z.input<typeof paymentPayloadV2Schema>;

/** `PAYMENT-RESPONSE`. */
export const settlementResponseV2Schema = settlementResponseSchema(caip2NetworkSchema, settlementReasonSchema);

export type SettlementResponseV2 = z.output<typeof settlementResponseV2Schema>;
export type SettlementResponseV2Wire = z.input<typeof settlementResponseV2Schema>;

export type RequirementFieldV2 = "scheme" | "network" | "amount" | "asset" | "payTo" | "maxTimeoutSeconds" | "extra";

/**
 * The first field on which an echoed `accepted` departs from an offered requirement, or undefined
 * when it matches. Clients echo the offer verbatim, so any difference means the payment was made
 * against terms we never offered. Extra keys the client adds to `extra` are tolerated; every key we
 * offered must come back unchanged, because scheme modules read terms such as the EIP-712 domain
 * from there.
 */
export function requirementMismatchV2(
  offered: PaymentRequirementsV2,
  accepted: PaymentRequirementsV2,
): RequirementFieldV2 | undefined {
  if (accepted.scheme !== offered.scheme) return "scheme";
  if (accepted.network !== offered.network) return "network";
  if (accepted.amount !== offered.amount) return "amount";
  if (!sameAddress(accepted.asset, offered.asset)) return "asset";
  if (!sameAddress(accepted.payTo, offered.payTo)) return "payTo";
  if (accepted.maxTimeoutSeconds !== offered.maxTimeoutSeconds) return "maxTimeoutSeconds";
  if (offered.extra !== undefined && !containsJson(accepted.extra, offered.extra)) return "extra";
  return undefined;
}

/** The offered requirement the client accepted, or undefined (→ `requirements_mismatch`). */
export function findAcceptedV2(
  offered: readonly PaymentRequirementsV2[],
  accepted: PaymentRequirementsV2,
): PaymentRequirementsV2 | undefined {
  return offered.find((candidate) => requirementMismatchV2(candidate, accepted) === undefined);
}

// Decoded addresses are already checksummed, but offers built in code may carry any casing.
function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function containsJson(actual: Record<string, unknown> | undefined, required: Record<string, unknown>): boolean {
  return Object.entries(required).every(
    ([key, value]) => actual !== undefined && Object.hasOwn(actual, key) && jsonEqual(actual[key], value),
  );
}

/** Structural equality of JSON values: key order is irrelevant, array order is not. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  const aKeys = Object.keys(a);
  const bRecord = b as Record<string, unknown>;
  return (
    aKeys.length === Object.keys(b).length &&
    aKeys.every((key) => Object.hasOwn(bRecord, key) && jsonEqual((a as Record<string, unknown>)[key], bRecord[key]))
  );
}
