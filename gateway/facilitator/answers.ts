import type { z } from "zod";
import { isAddress } from "viem";
import { isDatabaseUnavailable } from "../db/database.js";
import { type ErrorCode, PaymentError, facilitatorReason, isPaymentError } from "../x402/errors.js";
import { settleResponseSchema, verifyResponseSchema } from "../x402/facilitator.js";
import type { FacilitatorAnswer, SettleBody, VerifyBody } from "./types.js";

/**
 * The facilitator's answers in x402 wire form. Every body is checked against the wire schema
 * before it leaves, so a reason outside the spec's closed vocabulary (which v1 clients reject)
 * is caught here as our bug rather than by a client.
 */

/** Codes that say nothing about the payment: the same request may succeed later. */
const TRANSIENT: ReadonlySet<ErrorCode> = new Set(["chain_unavailable", "database_unavailable", "payment_in_flight"]);

/** The error as a `PaymentError`: a database that cannot be reached becomes `database_unavailable`. */
export function asPaymentError(error: unknown): PaymentError | undefined {
  if (isPaymentError(error)) return error;
  if (isDatabaseUnavailable(error)) {
    return new PaymentError("database_unavailable", "the database cannot be reached right now", undefined, { cause: error });
  }
  return undefined;
}

function payerOf(error: PaymentError): string | undefined {
  const payer = error.details?.["payer"];
  return typeof payer === "string" && isAddress(payer, { strict: false }) ? payer : undefined;
}

function checked<S extends z.ZodType, T>(schema: S, body: T): T {
  const result = schema.safeParse(body);
  if (!result.success) throw new TypeError(`facilitator answer does not match the x402 wire format: ${result.error.message}`);
  return body;
}

function unavailable(error: PaymentError): FacilitatorAnswer<never>["unavailable"] {
  return TRANSIENT.has(error.code) ? { code: error.code, message: error.message } : undefined;
}

function withUnavailable<T>(body: T, error: PaymentError): FacilitatorAnswer<T> {
  const transient = unavailable(error);
  return transient === undefined ? { body } : { body, unavailable: transient };
}

export function validAnswer(payer: string): FacilitatorAnswer<VerifyBody> {
  return { body: checked(verifyResponseSchema, { isValid: true, payer }) };
}

export function invalidAnswer(error: PaymentError, payer = payerOf(error)): FacilitatorAnswer<VerifyBody> {
  const body: VerifyBody = {
    isValid: false,
    invalidReason: facilitatorReason(error.code, "verify"),
    invalidMessage: error.message,
    ...(payer === undefined ? {} : { payer }),
    extra: { code: error.code },
  };
  return withUnavailable(checked(verifyResponseSchema, body), error);
}

export function settledAnswer(transaction: string, network: string, payer: string): SettleBody {
  return checked(settleResponseSchema, { success: true, transaction, network, payer });
}

export function settleFailureBody(error: PaymentError, network: string, payer = payerOf(error)): SettleBody {
  const body: SettleBody = {
    success: false,
    errorReason: facilitatorReason(error.code, "settle"),
    errorMessage: error.message,
    transaction: "",
    network,
    ...(payer === undefined ? {} : { payer }),
    extra: { code: error.code },
  };
  return checked(settleResponseSchema, body);
}

export function settleFailure(error: PaymentError, network: string, payer?: string): FacilitatorAnswer<SettleBody> {
  return withUnavailable(settleFailureBody(error, network, payer), error);
}

/** Whether bytes read back from a row are a settle answer: a damaged row must not be replayed. */
export function isSettleBody(value: unknown): value is SettleBody {
  return settleResponseSchema.safeParse(value).success;
}
