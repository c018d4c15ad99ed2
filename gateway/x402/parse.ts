import type { z } from "zod";
import { type ErrorCode, PaymentError, paymentErrorFromZod } from "./errors.js";
import type { JsonObject } from "./codec.js";

export type X402Version = 1 | 2;

export const x402Versions: readonly X402Version[] = [1, 2];

/** Runs a wire schema, turning a failure into a PaymentError that lists the offending fields. */
export function parseWire<S extends z.ZodType>(schema: S, value: unknown, code: ErrorCode, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw paymentErrorFromZod(code, `${what} is invalid`, result.error);
  return result.data;
}

/**
 * Reads `x402Version` before any schema runs, so that a well-formed message from another protocol
 * version is reported as unsupported rather than as a pile of unrelated field errors.
 */
export function readVersion(message: JsonObject, code: ErrorCode, expected?: X402Version): X402Version {
  const version = message["x402Version"];
  if (typeof version !== "number" || !Number.isSafeInteger(version)) {
    throw new PaymentError(code, "x402Version must be an integer", { fields: { x402Version: ["must be an integer"] } });
  }
  if (version !== 1 && version !== 2) {
    throw new PaymentError("unsupported_version", `x402Version ${version} is not supported`, { x402Version: version });
  }
  if (expected !== undefined && version !== expected) {
    throw new PaymentError("unsupported_version", `expected x402Version ${expected}, got ${version}`, {
      x402Version: version,
    });
  }
  return version;
}
