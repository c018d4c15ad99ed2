import { type Queryable, type SqlValue, toBigInt } from "../db/index.js";
import type { FundsCondition, JsonValue, VerifiedPayment } from "../schemes/types.js";
import { caip2 } from "../x402/index.js";
import type { StoredResponse } from "./types.js";
import { paymentFromRow } from "../ledger/payment-row.js";
import { recentWindowMs } from "../ledger/unsettled.js";

/**
 * The flow's SQL against the `payments` table (migrations/001_payments.sql). The UNIQUE
 * `payment_key` is the replay guard; everything here relies on it rather than on reads.
 */

export interface PaymentRow {
  readonly id: string;
  readonly payment_key: string;
  readonly scheme: string;
  readonly chain_id: string;
  readonly token: string;
  readonly payer: string;
  readonly payee: string;
  readonly amount: string;
  readonly nonce: string | null;
  readonly state: string;
  readonly tx_hash: string | null;
  readonly request_fingerprint: string;
  readonly payload: JsonValue;
  readonly valid_before: Date | null;
  readonly response_status: number | null;
  readonly response_headers: Record<string, string> | null;
  readonly response_body: Uint8Array | null;
}

const ROW_COLUMNS =
  "id, payment_key, scheme, chain_id, token, payer, payee, amount, nonce, state, tx_hash, request_fingerprint, payload, " +
  "valid_before, response_status, response_headers, response_body";

/** Latest instant TIMESTAMPTZ callers can rely on; a signed validBefore may be any uint256. */
const MAX_VALID_BEFORE_SECONDS = 253_402_300_799n; // 9999-12-31T23:59:59Z

export async function findPayment(db: Queryable, paymentKey: string): Promise<PaymentRow | undefined> {
  const { rows } = await db.query<PaymentRow>(`SELECT ${ROW_COLUMNS} FROM payments WHERE payment_key = $1`, [paymentKey]);
  return rows[0];
}

/** The rows recording an on-chain transaction as their payment (transfer proofs), oldest first. */
export async function findPaymentsByTransaction(db: Queryable, scheme: string, chainId: number, txHash: string): Promise<PaymentRow[]> {
  const { rows } = await db.query<PaymentRow>(
    `SELECT ${ROW_COLUMNS} FROM payments WHERE tx_hash = $1 AND scheme = $2 AND chain_id = $3 ORDER BY id`,
    [txHash.toLowerCase(), scheme, chainId],
  );
  return rows;
}

/** The payment a row holds, as verification produced it (the row keeps every field). */
export const rowPayment: (row: PaymentRow) => VerifiedPayment = paymentFromRow;

/**
 * Inserts the row in state `reserved`; undefined when the key is already taken. `txHash` is the
 * transaction that already moved the money (transfer), recorded at once so a retry can find it.
 * For a payment with a funds condition use `reservePaymentAgainstFunds`.
 */
export async function reservePayment(
  db: Queryable,
  payment: VerifiedPayment,
  fingerprint: string,
  txHash?: string,
): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO payments (payment_key, scheme, network, chain_id, token, payer, payee, amount, nonce, valid_before,
                           request_fingerprint, tx_hash, state, payload)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'reserved', $13)
     ON CONFLICT (payment_key) DO NOTHING
     RETURNING id`,
    [...rowFields(payment, fingerprint, txHash), payment.settlementData],
  );
  return rows[0]?.id;
}

export type FundsReservation =
  /** Recorded, in the form the funds allowed (`payment.settlementData` is that form's). */
  | { readonly kind: "reserved"; readonly id: string; readonly payment: VerifiedPayment; readonly unsettled: bigint }
  | { readonly kind: "refused"; readonly unsettled: bigint }
  /** The key is taken: a replay, or a concurrent twin. */
  | { readonly kind: "conflict" };

/**
 * Records a payment whose acceptance depends on what is unsettled on its account
 * (`payment.funds`): one statement (migrations/006_funds_reservation.sql) locks the account for
 * its own short transaction, sums the unsettled payments, picks the first form whose bound
 * allows that sum, and inserts the row in that form. Nothing is written when it is refused.
 */
export async function reservePaymentAgainstFunds(
  db: Queryable,
  payment: VerifiedPayment & { readonly funds: FundsCondition },
  fingerprint: string,
): Promise<FundsReservation> {
  const { funds } = payment;
  const { rows } = await db.query<{ payment_id: string | null; form: number | null; unsettled: string | null }>(
    `SELECT payment_id, form, unsettled FROM reserve_payment($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb[], $14::numeric[], $15)`,
    [
      ...rowFields(payment, fingerprint, undefined),
      funds.forms.map((form) => JSON.stringify(form.settlementData)),
      funds.forms.map((form) => form.maxUnsettled),
      recentWindowMs(funds.stateMaxAgeMs),
    ],
  );
  const row = rows[0];
  if (row === undefined || row.form === null) return { kind: "conflict" };
  const unsettled = toBigInt(row.unsettled);
  if (row.payment_id === null) return { kind: "refused", unsettled };
  const form = funds.forms[row.form - 1];
  if (form === undefined) throw new Error(`reserve_payment chose form ${row.form} of ${funds.forms.length}`);
  const { funds: _recorded, ...rest } = payment;
  return { kind: "reserved", id: row.payment_id, payment: { ...rest, settlementData: form.settlementData }, unsettled };
}

/** $1..$12 of both inserts: what was paid, by whom, for which request. */
function rowFields(payment: VerifiedPayment, fingerprint: string, txHash: string | undefined): SqlValue[] {
  const validBefore =
    payment.validBefore === null
      ? null
      : new Date(Number(payment.validBefore > MAX_VALID_BEFORE_SECONDS ? MAX_VALID_BEFORE_SECONDS : payment.validBefore) * 1000);
  return [
    payment.paymentKey,
    payment.scheme,
    caip2(payment.chainId),
    payment.chainId,
    payment.token.toLowerCase(),
    payment.payer.toLowerCase(),
    payment.payee.toLowerCase(),
    payment.amount,
    payment.nonce,
    validBefore,
    fingerprint,
    txHash?.toLowerCase() ?? null,
  ];
}

export async function confirmPayment(db: Queryable, id: string, txHash: string, response: StoredResponse): Promise<void> {
  await db.query(
    `UPDATE payments SET state = 'confirmed', tx_hash = $2, attempts = attempts + 1,
            response_status = $3, response_headers = $4, response_body = $5
     WHERE id = $1 AND state = 'reserved'`,
    [id, txHash.toLowerCase(), response.status, { ...response.headers }, response.body],
  );
}

/** Settlement did not go through (or its outcome is unknown): reconciliation takes it from here. */
export async function failPayment(db: Queryable, id: string, reason: string, txHash: string | undefined): Promise<void> {
  await db.query(
    `UPDATE payments SET state = 'failed', failure_reason = $2, attempts = attempts + 1, tx_hash = COALESCE($3, tx_hash)
     WHERE id = $1 AND state = 'reserved'`,
    [id, reason.slice(0, 1000), txHash?.toLowerCase() ?? null],
  );
}

export async function releaseRow(db: Queryable, id: string, reason: string): Promise<void> {
  await db.query(`UPDATE payments SET state = 'released', failure_reason = $2 WHERE id = $1 AND state = 'reserved'`, [
    id,
    reason.slice(0, 1000),
  ]);
}

/**
 * Async settlement: the payment is served on credit, so the row becomes the engine's work
 * (`verified`) together with the response it bought. False when the row was not `reserved`.
 */
export async function markVerified(db: Queryable, id: string, response: StoredResponse): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE payments SET state = 'verified', response_status = $2, response_headers = $3, response_body = $4
     WHERE id = $1 AND state = 'reserved'`,
    [id, response.status, { ...response.headers }, response.body],
  );
  return rowCount === 1;
}

/**
 * A payment that was charged before it was served (transfer) whose upstream failed: it is
 * settled (`confirmed`, the money is on chain) but has no stored response, which is what lets a
 * retry of the same request claim it and be served. Also ends a resumed attempt's claim.
 */
export async function keepUnserved(db: Queryable, id: string, txHash: string, reason: string): Promise<void> {
  await db.query(
    `UPDATE payments SET state = 'confirmed', tx_hash = COALESCE(tx_hash, $2), failure_reason = $3,
            locked_by = NULL, locked_until = NULL
     WHERE id = $1 AND state IN ('reserved', 'confirmed') AND response_status IS NULL`,
    [id, txHash.toLowerCase(), `unserved: ${reason}`.slice(0, 1000)],
  );
}

/**
 * Claims a charged, unserved payment for one serve attempt: a kept one nobody is serving (or
 * whose claim expired), or one whose request died mid-serve (still `reserved` after the lease).
 * One UPDATE, so of concurrent retries exactly one wins; the rest see it in flight.
 */
export async function claimUnserved(
  db: Queryable,
  id: string,
  txHash: string,
  workerId: string,
  leaseSeconds: number,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE payments SET state = 'confirmed', tx_hash = COALESCE(tx_hash, $2), locked_by = $3,
            locked_until = now() + make_interval(secs => $4)
     WHERE id = $1 AND response_status IS NULL
       AND ((state = 'confirmed' AND (locked_until IS NULL OR locked_until < now()))
         OR (state = 'reserved' AND updated_at < now() - make_interval(secs => $4)))`,
    [id, txHash.toLowerCase(), workerId.slice(0, 200), leaseSeconds],
  );
  return rowCount === 1;
}

/** The response a resumed (already charged) payment finally bought. */
export async function recordServed(db: Queryable, id: string, response: StoredResponse): Promise<void> {
  await db.query(
    `UPDATE payments SET response_status = $2, response_headers = $3, response_body = $4, failure_reason = NULL,
            locked_by = NULL, locked_until = NULL
     WHERE id = $1 AND state = 'confirmed' AND response_status IS NULL`,
    [id, response.status, { ...response.headers }, response.body],
  );
}
