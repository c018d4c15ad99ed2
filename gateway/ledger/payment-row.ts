import { getAddress } from "viem";
import { toBigInt } from "../db/database.js";
import type { JsonValue, VerifiedPayment } from "../schemes/types.js";

/** The `payments` columns a verified payment is stored in (001_payments.sql). */
export interface StoredPaymentColumns {
  readonly payment_key: string;
  readonly scheme: string;
  readonly chain_id: string | number;
  readonly token: string;
  readonly payer: string;
  readonly payee: string;
  readonly amount: unknown;
  readonly nonce: string | null;
  readonly valid_before: Date | null;
  readonly payload: unknown;
}

/**
 * The payment a row holds, as verification produced it. Whoever settles it (the flow after a
 * restart, the settlement engine) hands it to the scheme, whose settlement code re-validates
 * `payload` against these columns and the key, so a corrupted row cannot become a transaction.
 */
export function paymentFromRow(row: StoredPaymentColumns): VerifiedPayment {
  return {
    scheme: row.scheme,
    chainId: Number(row.chain_id),
    payer: getAddress(row.payer),
    payee: getAddress(row.payee),
    token: getAddress(row.token),
    amount: toBigInt(row.amount),
    paymentKey: row.payment_key,
    nonce: row.nonce,
    validBefore: row.valid_before === null ? null : BigInt(Math.floor(row.valid_before.getTime() / 1000)),
    settlementData: row.payload as { readonly [key: string]: JsonValue },
  };
}
