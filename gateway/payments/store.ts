import type { Queryable } from "../db/index.js";
import type { JsonValue, VerifiedPayment } from "../schemes/types.js";
import { caip2 } from "../x402/index.js";
import type { StoredResponse } from "./types.js";

/**
 * The flow's SQL against the `payments` table (migrations/001_payments.sql). The UNIQUE
 * `payment_key` is the replay guard; everything here relies on it rather than on reads.
 */

export interface PaymentRow {
  readonly id: string;
  readonly scheme: string;
  readonly state: string;
  readonly request_fingerprint: string;
  readonly payload: JsonValue;
  readonly valid_before: Date | null;
  readonly response_status: number | null;
  readonly response_headers: Record<string, string> | null;
  readonly response_body: Uint8Array | null;
}

const ROW_COLUMNS = "id, scheme, state, request_fingerprint, payload, valid_before, response_status, response_headers, response_body";

/** Latest instant TIMESTAMPTZ callers can rely on; a signed validBefore may be any uint256. */
const MAX_VALID_BEFORE_SECONDS = 253_402_300_799n; // 9999-12-31T23:59:59Z

export async function findPayment(db: Queryable, paymentKey: string): Promise<PaymentRow | undefined> {
  const { rows } = await db.query<PaymentRow>(`SELECT ${ROW_COLUMNS} FROM payments WHERE payment_key = $1`, [paymentKey]);
  return rows[0];
}

/** Inserts the row in state `reserved`; undefined when the key is already taken. */
export async function reservePayment(db: Queryable, payment: VerifiedPayment, fingerprint: string): Promise<string | undefined> {
  const validBefore =
    payment.validBefore === null
      ? null
      : new Date(Number(payment.validBefore > MAX_VALID_BEFORE_SECONDS ? MAX_VALID_BEFORE_SECONDS : payment.validBefore) * 1000);
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO payments (payment_key, scheme, network, chain_id, token, payer, payee, amount, nonce, valid_before,
                           request_fingerprint, state, payload)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'reserved', $12)
     ON CONFLICT (payment_key) DO NOTHING
     RETURNING id`,
    [
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
      payment.settlementData,
    ],
  );
  return rows[0]?.id;
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
