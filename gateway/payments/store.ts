import { type Queryable, SQLSTATE, type SqlValue, sqlState, toBigInt } from "../db/index.js";
import type { FundsCondition, FundsForm, JsonValue, VerifiedPayment } from "../schemes/types.js";
import { caip2 } from "../x402/index.js";
import type { StoredResponse } from "./types.js";
import { paymentFromRow } from "../ledger/payment-row.js";
import { recentWindowMs } from "../ledger/unsettled.js";
import { type Coalescer, createCoalescer } from "../lib/coalescer.js";

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
    { prepareAs: "reserve_payment" },
  );
  return rows[0]?.id;
}

/**
 * Records a verified payment in state `reserved`: against its account's unsettled amount when it
 * has a funds condition (`reservePaymentAgainstFunds`; throws the condition's refusal), otherwise
 * with a plain insert. `id` is undefined when the key is already taken (a replay, or a concurrent
 * twin); `payment` is the form recorded. With `served`, a payment the funds allow in a form
 * `served.onCredit` accepts is recorded already served instead (`served: true`, see
 * `ServedResponse`). The payment flow and the facilitator both record here.
 */
export async function recordPayment(
  db: Queryable,
  payment: VerifiedPayment,
  fingerprint: string,
  txHash?: string,
  served?: ServedResponse,
): Promise<RecordedPayment> {
  const { funds } = payment;
  if (funds === undefined) return { id: await reservePayment(db, payment, fingerprint, txHash), payment, served: false };
  const reservation = await reservePaymentAgainstFunds(db, { ...payment, funds }, fingerprint, served);
  if (reservation.kind === "refused") throw funds.refusal(reservation.unsettled);
  if (reservation.kind === "conflict") return { id: undefined, payment, served: false };
  const { id, unsettled } = reservation;
  return { id, payment: reservation.payment, served: reservation.served, unsettled };
}

export interface RecordedPayment {
  /** Undefined when the key was already taken: a replay, or a concurrent twin won it. */
  readonly id: string | undefined;
  /** The form recorded. */
  readonly payment: VerifiedPayment;
  /** Recorded `verified` with its response (see `ServedResponse`), not `reserved`. */
  readonly served: boolean;
  /** For a payment with a funds condition: what else was unsettled on its account when it was recorded. */
  readonly unsettled?: bigint;
}

/**
 * The response a payment bought, for recording it in the statement that checks its funds: if
 * the form the funds allow is one `onCredit` accepts, the row is written `verified` (the
 * settlement engine's work) with this response, one write instead of a reservation and an update.
 */
export interface ServedResponse {
  readonly response: StoredResponse;
  readonly onCredit: (form: FundsForm) => boolean;
}

export type FundsReservation =
  /**
   * Recorded, in the form the funds allowed (`payment.settlementData` is that form's): `verified`
   * with its response when `served`, else `reserved`.
   */
  | { readonly kind: "reserved"; readonly id: string; readonly payment: VerifiedPayment; readonly unsettled: bigint; readonly served: boolean }
  | { readonly kind: "refused"; readonly unsettled: bigint }
  /** The key is taken: a replay, or a concurrent twin. */
  | { readonly kind: "conflict" };

/**
 * Records a payment whose acceptance depends on what is unsettled on its account
 * (`payment.funds`): `record_payment` (migrations/006_funds_reservation.sql and
 * 007_record_on_serve.sql) locks the account for its own short transaction, reads its unsettled total
 * (`unsettled_totals`), picks the first form whose bound allows that sum, and inserts the row in that form,
 * with `served`'s response when that form is served on credit. Nothing is written when it is refused.
 *
 * Concurrent reservations on one database handle go out together, one statement per batch
 * (group commit, gateway/lib/coalescer.ts): under load a paid request shares its round trip and
 * its commit with the others. Within a batch the accounts are locked in one order (sorted), so
 * two instances' batches cannot deadlock on each other; the payments of one batch see each other
 * because they run in one transaction.
 */
export async function reservePaymentAgainstFunds(
  db: Queryable,
  payment: VerifiedPayment & { readonly funds: FundsCondition },
  fingerprint: string,
  served?: ServedResponse,
): Promise<FundsReservation> {
  const { funds } = payment;
  const onCredit = funds.forms.map((form) => served?.onCredit(form) === true);
  const row = await reservations(db).submit({
    fields: rowFields(payment, fingerprint, undefined),
    forms: JSON.stringify(
      funds.forms.map((form, i) => ({
        maxUnsettled: form.maxUnsettled.toString(),
        settlementData: form.settlementData,
        ...(onCredit[i] ? { served: true } : {}),
      })),
    ),
    response: onCredit.includes(true) ? served?.response : undefined,
    recentMs: recentWindowMs(funds.stateMaxAgeMs),
    // Accounts are locked in this order within a batch. The settlement engine locks totals by
    // (token, payer, payee, chain_id, scheme), one chain at a time: the same order, since
    // addresses are stored lower-case and sort alike here and in the database.
    lockKey: `${payment.chainId}:${payment.token}:${payment.payer}:${payment.payee}`.toLowerCase(),
  });
  if (row.form === null) return { kind: "conflict" };
  const unsettled = toBigInt(row.unsettled);
  if (row.payment_id === null) return { kind: "refused", unsettled };
  const form = funds.forms[row.form - 1];
  if (form === undefined) throw new Error(`record_payment chose form ${row.form} of ${funds.forms.length}`);
  const { funds: _recorded, ...rest } = payment;
  const recorded = { ...rest, settlementData: form.settlementData };
  return { kind: "reserved", id: row.payment_id, payment: recorded, unsettled, served: onCredit[row.form - 1] === true };
}

interface ReservationItem {
  readonly fields: SqlValue[];
  readonly forms: string;
  readonly recentMs: number;
  readonly lockKey: string;
  readonly response: StoredResponse | undefined;
}

interface ReservationRow {
  readonly payment_id: string | null;
  readonly form: number | null;
  readonly unsettled: string | null;
}

const RESERVE_BATCH_SQL = `
  SELECT b.ord, r.payment_id, r.form, r.unsettled
    FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::numeric[],
                $9::text[], $10::bigint[], $11::text[], $12::text[], $13::jsonb[], $14::int[], $15::int[], $16::jsonb[], $17::text[])
         WITH ORDINALITY AS b(payment_key, scheme, network, chain_id, token, payer, payee, amount, nonce, valid_before,
                              fingerprint, tx_hash, forms, recent_ms, status, headers, body, ord)
   CROSS JOIN LATERAL record_payment(b.payment_key, b.scheme, b.network, b.chain_id, b.token, b.payer, b.payee, b.amount,
                                     b.nonce, to_timestamp(b.valid_before), b.fingerprint, b.tx_hash, b.forms, b.recent_ms,
                                     b.status, b.headers, decode(b.body, 'hex')) AS r
   ORDER BY b.ord`;

/**
 * The same call for a batch of one, which is every batch at a moderate rate: scalar parameters
 * instead of seventeen one-element arrays to build, send and unnest.
 */
const RESERVE_ONE_SQL = `
  SELECT r.payment_id, r.form, r.unsettled
    FROM record_payment($1::text, $2::text, $3::text, $4::bigint, $5::text, $6::text, $7::text, $8::numeric,
                        $9::text, to_timestamp($10::bigint), $11::text, $12::text, $13::jsonb, $14::int,
                        $15::int, $16::jsonb, decode($17::text, 'hex')) AS r`;

/** One coalescer per database handle, made on first use, for a statement run as `run(db, items)`. */
function coalescerPerDatabase<I, R>(run: (db: Queryable, items: readonly I[]) => Promise<readonly R[]>): (db: Queryable) => Coalescer<I, R> {
  const coalescers = new WeakMap<Queryable, Coalescer<I, R>>();
  return (db) => {
    let coalescer = coalescers.get(db);
    if (coalescer === undefined) {
      coalescer = createCoalescer({ run: (items) => run(db, items) });
      coalescers.set(db, coalescer);
    }
    return coalescer;
  };
}

const reservations = coalescerPerDatabase(reserveBatch);

async function reserveBatch(db: Queryable, items: readonly ReservationItem[]): Promise<ReservationRow[]> {
  if (items.length === 1) return [await reserveOne(db, items[0]!)];
  const order = items.map((_, i) => i).sort((a, b) => compare(items[a]!.lockKey, items[b]!.lockKey));
  // The batch statement takes one array per argument of record_payment, in the sorted order.
  const sorted = order.map((i) => recordPaymentArguments(items[i]!));
  const columns = sorted[0]!.map((_, n) => sorted.map((args) => args[n] ?? null));
  const { rows } = await retryDeadlock(() =>
    db.query<ReservationRow & { ord: string }>(RESERVE_BATCH_SQL, columns, { prepareAs: "record_payment_batch" }),
  );
  if (rows.length !== items.length) throw new Error(`record_payment answered ${rows.length} rows for ${items.length} payments`);
  // `ord` is the position in the sorted batch; answer in submission order.
  const results: ReservationRow[] = new Array(items.length);
  for (const row of rows) results[order[Number(row.ord) - 1]!] = row;
  return results;
}

async function reserveOne(db: Queryable, item: ReservationItem): Promise<ReservationRow> {
  const { rows } = await retryDeadlock(() =>
    db.query<ReservationRow>(RESERVE_ONE_SQL, recordPaymentArguments(item), { prepareAs: "record_payment_one" }),
  );
  const row = rows[0];
  if (row === undefined || rows.length !== 1) throw new Error(`record_payment answered ${rows.length} rows for 1 payment`);
  return row;
}

/** One payment's seventeen arguments of record_payment, as both statements bind them. */
function recordPaymentArguments(item: ReservationItem): SqlValue[] {
  const { fields } = item;
  const validBefore = fields[9] instanceof Date ? Math.floor(fields[9].getTime() / 1000) : null;
  return [
    ...fields.slice(0, 9),
    validBefore,
    fields[10],
    fields[11],
    item.forms,
    item.recentMs,
    item.response?.status ?? null,
    responseHeaders(item.response),
    responseBodyHex(item.response),
  ];
}

/**
 * Batches lock their accounts in sorted order, so two of them cannot wait on each other; should
 * PostgreSQL still report a deadlock (another lock order somewhere), the aborted batch wrote
 * nothing and is simply sent again.
 */
async function retryDeadlock<T>(send: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (attempt >= attempts || sqlState(error) !== SQLSTATE.deadlockDetected) throw error;
    }
  }
}

/** A response's headers for a `jsonb[]` parameter. */
function responseHeaders(response: StoredResponse | undefined): string | null {
  return response === undefined ? null : JSON.stringify(response.headers);
}

/** A response's body for a `text[]` parameter decoded in SQL: both drivers pass a text array the same way, not a bytea[]. */
function responseBodyHex(response: StoredResponse | undefined): string | null {
  return response === undefined ? null : Buffer.from(response.body).toString("hex");
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The first twelve columns of a payment row, in this order: payment_key, scheme, network,
 * chain_id, token, payer, payee, amount, nonce, valid_before, request_fingerprint, tx_hash.
 * What was paid, by whom, for which request; every insert of a payment starts with them.
 */
export function rowFields(payment: VerifiedPayment, fingerprint: string, txHash: string | undefined): SqlValue[] {
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
 * Coalesced like reservations: one UPDATE (and one commit) per batch of concurrent requests.
 */
export async function markVerified(db: Queryable, id: string, response: StoredResponse): Promise<boolean> {
  return verifications(db).submit({ id, response });
}

const MARK_VERIFIED_BATCH_SQL = `
  UPDATE payments p
     SET state = 'verified', response_status = v.status, response_headers = v.headers, response_body = decode(v.body, 'hex')
    FROM unnest($1::bigint[], $2::int[], $3::jsonb[], $4::text[]) AS v(id, status, headers, body)
   WHERE p.id = v.id AND p.state = 'reserved'
  RETURNING p.id`;

const verifications = coalescerPerDatabase(async (db, items: readonly { readonly id: string; readonly response: StoredResponse }[]) => {
  const { rows } = await db.query<{ id: string }>(MARK_VERIFIED_BATCH_SQL, [
    items.map((item) => item.id),
    items.map((item) => item.response.status),
    items.map((item) => responseHeaders(item.response)),
    items.map((item) => responseBodyHex(item.response)),
  ]);
  const updated = new Set(rows.map((row) => String(row.id)));
  return items.map((item) => updated.has(item.id));
});

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
