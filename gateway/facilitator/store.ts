import type { Queryable } from "../db/index.js";
import type { JsonValue } from "../schemes/types.js";

/**
 * The facilitator's SQL against the shared `payments` table (db/migrations/001_payments.sql).
 * Facilitator settlements live next to the gateway's own payments so one UNIQUE `payment_key`
 * guards both: a payment settled through the facilitator cannot also buy a gateway response, and
 * the reverse. Their `request_fingerprint` starts with `facilitator:settle:`.
 *
 * Lifecycle here: `reserved` (key claimed, settlement under way) → `confirmed` with the stored
 * answer, or `failed` (with the stored answer when the failure is final, without one when the
 * outcome is unknown and reconciliation has to find out).
 */

export interface FacilitatorRow {
  readonly id: string;
  readonly scheme: string;
  readonly state: string;
  /** Lower case. */
  readonly payer: string;
  readonly request_fingerprint: string;
  readonly payload: JsonValue;
  readonly valid_before: Date | null;
  readonly failure_reason: string | null;
  readonly tx_hash: string | null;
  readonly response_body: Uint8Array | null;
}

const COLUMNS = "id, scheme, state, payer, request_fingerprint, payload, valid_before, failure_reason, tx_hash, response_body";


export async function findRow(db: Queryable, paymentKey: string): Promise<FacilitatorRow | undefined> {
  const { rows } = await db.query<FacilitatorRow>(`SELECT ${COLUMNS} FROM payments WHERE payment_key = $1`, [paymentKey]);
  return rows[0];
}

/** The answer a retry is served, as JSON bytes on the row (written once; the table enforces it). */
function answerColumns(answer: object): [number, Record<string, string>, Uint8Array] {
  return [200, { "content-type": "application/json" }, new TextEncoder().encode(JSON.stringify(answer))];
}

export async function confirmRow(db: Queryable, id: string, transaction: string, answer: object): Promise<void> {
  await db.query(
    `UPDATE payments SET state = 'confirmed', tx_hash = $2, attempts = attempts + 1,
            response_status = $3, response_headers = $4, response_body = $5
     WHERE id = $1 AND state = 'reserved'`,
    [id, transaction.toLowerCase(), ...answerColumns(answer)],
  );
}

/**
 * Settlement did not go through. `answer` is stored when the failure is final (the authorization
 * can never settle as signed); without it the outcome is unknown (a transaction may have been
 * broadcast), and the row waits for reconciliation.
 */
export async function failRow(
  db: Queryable,
  id: string,
  reason: string,
  transaction: string | undefined,
  answer: object | undefined,
): Promise<void> {
  const [status, headers, body] = answer === undefined ? [null, null, null] : answerColumns(answer);
  await db.query(
    `UPDATE payments SET state = 'failed', failure_reason = $2, attempts = attempts + 1, tx_hash = COALESCE($3, tx_hash),
            response_status = $4, response_headers = $5, response_body = $6
     WHERE id = $1 AND state = 'reserved'`,
    [id, reason.slice(0, 1000), transaction?.toLowerCase() ?? null, status, headers, body],
  );
}

/** The stored answer, or undefined when there is none or it does not parse. */
export function storedAnswer(row: FacilitatorRow): unknown {
  if (row.response_body === null) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(row.response_body)) as unknown;
  } catch {
    return undefined;
  }
}
