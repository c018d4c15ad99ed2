import type { Database, Queryable } from "../db/index.js";
import { ESCROW_SCHEME } from "../schemes/escrow/offer.js";
import { type PaymentRow, paymentColumns } from "./rows.js";

/**
 * The `payments` table as the engine's work queue (001_payments.sql). Every transition names the
 * states it starts from, so a row another worker (or the request path) has moved on is left alone:
 * the WHERE clause, not an earlier read, decides.
 */

export interface Lease {
  readonly worker: string;
  readonly now: Date;
  readonly leaseMs: number;
}

export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
}

/**
 * Claims up to `limit` escrow payments of one chain that are due. SKIP LOCKED lets concurrent
 * engines claim disjoint rows without waiting on each other; the lease (not the row lock, which
 * ends with this statement) then keeps them away until it passes, so a worker that dies simply
 * lets its rows fall back into the pool. Oldest due first.
 */
export async function claimDue(db: Database, chainId: number, limit: number, lease: Lease): Promise<PaymentRow[]> {
  const { rows } = await db.query<PaymentRow>(
    `WITH due AS (
       SELECT id FROM payments
        WHERE state = 'verified' AND scheme = $1 AND chain_id = $2
          AND next_attempt_at <= $3
          AND (locked_until IS NULL OR locked_until <= $3 OR locked_by = $5)
        ORDER BY next_attempt_at, id
        LIMIT $4
        FOR UPDATE SKIP LOCKED)
     UPDATE payments p
        SET locked_by = $5, locked_until = $3::timestamptz + $6::float8 * interval '1 millisecond'
       FROM due
      WHERE p.id = due.id
     RETURNING ${paymentColumns("p")}`,
    [ESCROW_SCHEME, chainId, lease.now, limit, lease.worker, lease.leaseMs],
  );
  return rows.sort((a, b) => Number(BigInt(a.id) - BigInt(b.id)));
}

/**
 * Back to `verified`, due again after an exponential delay (base · 2^attempts, capped), with the
 * reason kept for operators. Also undoes a batch that can never be mined (its link to the batch
 * and hash go; the batch row keeps the history).
 */
export async function requeue(
  db: Queryable,
  ids: readonly string[],
  reason: string,
  now: Date,
  backoff: Backoff,
  from: readonly string[] = ["verified", "submitted"],
): Promise<number> {
  if (ids.length === 0) return 0;
  const { rowCount } = await db.query(
    `UPDATE payments
        SET state = 'verified', batch_id = NULL, tx_hash = NULL, failure_reason = $2,
            next_attempt_at = $3::timestamptz
                              + LEAST($5::float8, $4::float8 * power(2, LEAST(attempts, 30))) * interval '1 millisecond',
            attempts = attempts + 1, locked_by = NULL, locked_until = NULL
      WHERE id = ANY($1::bigint[]) AND state = ANY($6::text[])`,
    [ids, reason.slice(0, 1000), now, backoff.baseMs, backoff.maxMs, from],
  );
  return rowCount;
}

/** Back to `verified` at once: the transaction it was in can never be mined, and that was not its fault. */
export async function requeueNow(db: Queryable, ids: readonly string[], reason: string, now: Date): Promise<number> {
  if (ids.length === 0) return 0;
  const { rowCount } = await db.query(
    `UPDATE payments
        SET state = 'verified', batch_id = NULL, tx_hash = NULL, failure_reason = $2, next_attempt_at = $3,
            locked_by = NULL, locked_until = NULL
      WHERE id = ANY($1::bigint[]) AND state = 'submitted'`,
    [ids, reason.slice(0, 1000), now],
  );
  return rowCount;
}

/**
 * Locks the running totals (`unsettled_totals`, migration 007) of the accounts of `ids`, in key
 * order. A transaction that changes payments' states in more than one statement must call this
 * first: each statement's trigger locks its own accounts in key order, but a second statement
 * would lock more after the first's, out of order, and a concurrent batch of recordings (which
 * locks accounts in that order too) could then wait on it while it waits on the batch.
 */
export async function lockAccountTotals(db: Queryable, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.query(
    `SELECT 1 FROM unsettled_totals t
      WHERE (t.token, t.payer, t.payee, t.chain_id, t.scheme) IN
            (SELECT p.token, p.payer, p.payee, p.chain_id, p.scheme FROM payments p WHERE p.id = ANY($1::bigint[]))
      ORDER BY t.token, t.payer, t.payee, t.chain_id, t.scheme
        FOR UPDATE OF t`,
    [ids],
  );
}

/**
 * Settled on chain by `txHash`. `from` lists the states this caller may resolve: `submitted` for
 * the engine's own batches, plus `reserved` / `failed` / `verified` for reconciliation.
 */
export async function confirm(
  db: Queryable,
  ids: readonly string[],
  txHash: string,
  from: readonly string[] = ["submitted"],
): Promise<number> {
  if (ids.length === 0) return 0;
  const { rowCount } = await db.query(
    `UPDATE payments
        SET state = 'confirmed', tx_hash = $2, failure_reason = NULL, locked_by = NULL, locked_until = NULL
      WHERE id = ANY($1::bigint[]) AND state = ANY($3::text[])`,
    [ids, txHash.toLowerCase(), from],
  );
  return rowCount;
}

/**
 * Given up: the authorization cannot settle as signed. Not final — reconciliation keeps watching
 * the nonce until the authorization expires, in case it is spent after all. `recheckAt` is when it
 * looks next.
 */
export async function fail(
  db: Queryable,
  ids: readonly string[],
  reason: string,
  recheckAt: Date,
  from: readonly string[] = ["verified", "submitted"],
): Promise<number> {
  if (ids.length === 0) return 0;
  const { rowCount } = await db.query(
    `UPDATE payments
        SET state = 'failed', failure_reason = $2, attempts = attempts + 1, next_attempt_at = $3,
            locked_by = NULL, locked_until = NULL
      WHERE id = ANY($1::bigint[]) AND state = ANY($4::text[])`,
    [ids, reason.slice(0, 1000), recheckAt, from],
  );
  return rowCount;
}

/** Given up without charging: the authorization can no longer be used, or its payer cancelled it. Final. */
export async function release(db: Queryable, ids: readonly string[], reason: string, from: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const { rowCount } = await db.query(
    `UPDATE payments SET state = 'released', failure_reason = $2, locked_by = NULL, locked_until = NULL
      WHERE id = ANY($1::bigint[]) AND state = ANY($3::text[])`,
    [ids, reason.slice(0, 1000), from],
  );
  return rowCount;
}

/** Undecided for now: look again at `at`. */
export async function recheckAt(db: Queryable, id: string, at: Date, worker: string): Promise<void> {
  await db.query(
    `UPDATE payments SET next_attempt_at = $2, locked_by = NULL, locked_until = NULL
      WHERE id = $1 AND locked_by = $3 AND state IN ('reserved', 'failed')`,
    [id, at, worker],
  );
}

/**
 * Rows reconciliation must resolve from the chain, leased like {@link claimDue}:
 *   - `reserved` for longer than `graceMs`: the request that reserved it died between reserving
 *     and recording its settlement (or its release);
 *   - `failed` while its authorization may still be spent (its last check came before
 *     `valid_before + marginMs`): a transaction of unknown outcome may still be mined, or the
 *     payer may submit the authorization itself.
 */
export async function claimAbandoned(
  db: Database,
  chainId: number,
  limit: number,
  lease: Lease,
  graceMs: number,
  marginMs: number,
): Promise<PaymentRow[]> {
  const { rows } = await db.query<PaymentRow>(
    `WITH due AS (
       SELECT id FROM payments
        WHERE chain_id = $1 AND scheme IN ('exact', 'escrow') AND next_attempt_at <= $2
          AND (locked_until IS NULL OR locked_until <= $2 OR locked_by = $4)
          AND ((state = 'reserved' AND created_at <= $2::timestamptz - $6::float8 * interval '1 millisecond')
               OR (state = 'failed' AND valid_before IS NOT NULL
                   AND next_attempt_at <= valid_before + $7::float8 * interval '1 millisecond'))
        ORDER BY id
        LIMIT $3
        FOR UPDATE SKIP LOCKED)
     UPDATE payments p
        SET locked_by = $4, locked_until = $2::timestamptz + $5::float8 * interval '1 millisecond'
       FROM due
      WHERE p.id = due.id
     RETURNING ${paymentColumns("p")}`,
    [chainId, lease.now, limit, lease.worker, lease.leaseMs, graceMs, marginMs],
  );
  return rows;
}
