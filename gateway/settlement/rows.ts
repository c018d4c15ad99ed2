import { paymentFromRow } from "../ledger/payment-row.js";
import type { JsonValue, VerifiedPayment } from "../schemes/types.js";

/** The `payments` columns the engine reads. */
export interface PaymentRow {
  readonly id: string;
  readonly payment_key: string;
  readonly scheme: string;
  readonly state: string;
  readonly chain_id: string;
  readonly token: string;
  readonly payer: string;
  readonly payee: string;
  readonly amount: string;
  readonly nonce: string | null;
  readonly valid_before: Date | null;
  readonly payload: { readonly [key: string]: JsonValue };
  readonly attempts: number;
  /** Why the last attempt failed; tells the engine a batch this payment was in reverted. */
  readonly failure_reason: string | null;
  readonly tx_hash: string | null;
  readonly batch_id: string | null;
  readonly created_at: Date;
}

export const PAYMENT_COLUMNS =
  "id, payment_key, scheme, state, chain_id, token, payer, payee, amount, nonce, valid_before, payload, attempts, failure_reason, tx_hash, batch_id, created_at";

/** The same columns qualified with a table alias, for joins and UPDATE … RETURNING. */
export function paymentColumns(alias: string): string {
  return PAYMENT_COLUMNS.split(", ")
    .map((column) => `${alias}.${column}`)
    .join(", ");
}

/** The row as the scheme verified it (see `paymentFromRow`). */
export const toVerifiedPayment: (row: PaymentRow) => VerifiedPayment = paymentFromRow;

/** The settlement batch columns the engine reads. */
export interface BatchRow {
  readonly id: string;
  readonly chain_id: string;
  readonly token: string;
  readonly payee: string;
  readonly signer: string;
  readonly tx_nonce: string;
  readonly tx_hash: string;
  readonly raw_tx: Uint8Array;
  readonly state: "sending" | "submitted" | "confirmed" | "failed";
}

export const BATCH_COLUMNS = "id, chain_id, token, payee, signer, tx_nonce, tx_hash, raw_tx, state";
