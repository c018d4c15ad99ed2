import { z } from "zod";
import { addressSchema, bytes32Schema, textSchema } from "./primitives.js";

/** Free-text failure reason of the resource-server receipt headers. */
export const settlementReasonSchema = textSchema.max(256);

/**
 * The settlement response (`X-PAYMENT-RESPONSE` / `PAYMENT-RESPONSE`), identical in both protocol
 * versions except for how `network` is spelled. A success names its payer and its transaction, or ""
 * when the payment was accepted for deferred (batched) settlement and no transaction exists yet;
 * a failure says why and never claims a charge, though it may reference a reverted transaction.
 * `reason` narrows `errorReason` where a closed vocabulary applies (the facilitator API).
 */
export function settlementResponseSchema<N extends z.ZodType<string, string>, R extends z.ZodType<string, string>>(
  network: N,
  reason: R,
) {
  return z.discriminatedUnion("success", [
    z.object({
      success: z.literal(true),
      transaction: z.union([z.literal(""), bytes32Schema]),
      network,
      payer: addressSchema,
    }),
    z.object({
      success: z.literal(false),
      transaction: z.union([z.literal(""), bytes32Schema]),
      network,
      payer: addressSchema.optional(),
      errorReason: reason,
    }),
  ]);
}
