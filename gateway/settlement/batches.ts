import type { Address } from "viem";
import type { Database, Queryable } from "../db/index.js";
import type { SignedEscrowBatch } from "../schemes/escrow/batch.js";
import type { Lease } from "./queue.js";
import { BATCH_COLUMNS, type BatchRow, PAYMENT_COLUMNS, type PaymentRow } from "./rows.js";

/**
 * `settlement_batches` and `signer_nonces`: the transactions the engine signed, stored before
 * they leave the process, and the nonce counter that orders them.
 */

/** Raised inside the storing transaction when a claimed row was taken over meanwhile; rolls it back. */
export class LeaseLostError extends Error {
  constructor(batchSize: number, stored: number) {
    super(`lease lost: only ${stored} of ${batchSize} claimed payments are still ours`);
    this.name = "LeaseLostError";
  }
}

export interface StoreBatchInput {
  readonly chainId: number;
  readonly token: Address;
  readonly payee: Address;
  readonly signer: Address;
  /** The signer's pending transaction count on chain, read just before. */
  readonly chainNonce: number;
  readonly paymentIds: readonly string[];
  /** Signs the prepared transaction with the nonce allocated here; no network I/O (local key). */
  readonly sign: (nonce: number) => Promise<SignedEscrowBatch>;
  readonly lease: Lease;
  /**
   * Awaited with everything written, before the commit. The engine holds the commit until the
   * node has answered the previous batch's broadcast, so writing one batch overlaps sending the
   * one before, and still at most one stored batch is ever waiting for its broadcast.
   */
  readonly beforeCommit?: () => Promise<void>;
}

export interface StoredBatch {
  readonly id: string;
  readonly nonce: number;
  readonly signed: SignedEscrowBatch;
}

/**
 * One database transaction: take the next signer nonce, sign with it, store the raw transaction
 * (`sending`) and move its payments to `submitted`. Only after this commits may the bytes be
 * broadcast, so no transaction ever exists on chain that the database does not know, and a
 * rollback (lease lost, database error) returns the nonce with nothing sent.
 *
 * The nonce is max(stored counter, chain's pending count): the row lock serialises concurrent
 * engines, and the chain's count resyncs a counter that fell behind (first use, a transaction sent
 * with this key from elsewhere, a restored database).
 */
export async function storeBatch(db: Database, input: StoreBatchInput): Promise<StoredBatch> {
  const signer = input.signer.toLowerCase();
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ nonce: string }>(
      `INSERT INTO signer_nonces (chain_id, address, next_nonce) VALUES ($1, $2, $3::bigint + 1)
       ON CONFLICT (chain_id, address)
         DO UPDATE SET next_nonce = GREATEST(signer_nonces.next_nonce, $3::bigint) + 1
       RETURNING next_nonce - 1 AS nonce`,
      [input.chainId, signer, input.chainNonce],
    );
    const nonce = Number(rows[0]?.nonce);
    if (!Number.isSafeInteger(nonce)) throw new Error(`no nonce allocated for ${signer} on chain ${input.chainId}`);
    const signed = await input.sign(nonce);
    const inserted = await tx.query<{ id: string }>(
      `INSERT INTO settlement_batches (chain_id, token, payee, signer, tx_nonce, tx_hash, raw_tx, state)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'sending') RETURNING id`,
      [
        input.chainId,
        input.token.toLowerCase(),
        input.payee.toLowerCase(),
        signer,
        nonce,
        signed.hash.toLowerCase(),
        Buffer.from(signed.serialized.slice(2), "hex"),
      ],
    );
    const id = inserted.rows[0]?.id;
    if (id === undefined) throw new Error("settlement batch insert returned no id");
    const { rowCount } = await tx.query(
      `UPDATE payments
          SET state = 'submitted', batch_id = $2, tx_hash = $3,
              locked_by = $4, locked_until = $5::timestamptz + $6::float8 * interval '1 millisecond'
        WHERE id = ANY($1::bigint[]) AND state = 'verified' AND locked_by = $4`,
      [input.paymentIds, id, signed.hash.toLowerCase(), input.lease.worker, input.lease.now, input.lease.leaseMs],
    );
    if (rowCount !== input.paymentIds.length) throw new LeaseLostError(input.paymentIds.length, rowCount);
    await input.beforeCommit?.();
    return { id, nonce, signed };
  });
}

/** A node accepted the bytes. */
export async function markBroadcast(db: Queryable, batchId: string, now: Date): Promise<void> {
  await db.query(
    `UPDATE settlement_batches SET state = 'submitted', last_broadcast_at = $2 WHERE id = $1 AND state IN ('sending', 'submitted')`,
    [batchId, now],
  );
}

export async function confirmBatch(db: Queryable, batchId: string, blockNumber: bigint): Promise<void> {
  await db.query(
    `UPDATE settlement_batches SET state = 'confirmed', block_number = $2, error = NULL
      WHERE id = $1 AND state IN ('sending', 'submitted')`,
    [batchId, blockNumber],
  );
}

/** Reverted, or its nonce went to another transaction: it settled nothing. */
export async function failBatch(db: Queryable, batchId: string, error: string, blockNumber?: bigint): Promise<void> {
  await db.query(
    `UPDATE settlement_batches SET state = 'failed', error = $2, block_number = $3
      WHERE id = $1 AND state IN ('sending', 'submitted')`,
    [batchId, error.slice(0, 1000), blockNumber ?? null],
  );
}

/** The payments still waiting on a batch, oldest first. */
export async function batchPayments(db: Queryable, batchId: string): Promise<PaymentRow[]> {
  const { rows } = await db.query<PaymentRow>(
    `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE batch_id = $1 AND state = 'submitted' ORDER BY id`,
    [batchId],
  );
  return rows;
}

/**
 * Keeps (or hands back, with `until` in the past) the lease on an in-flight batch. The lease of a
 * batch is its payments' lease: they are `submitted`, so no claim of `verified` rows touches them,
 * and only {@link claimInFlight} reads it.
 */
export async function leaseBatch(db: Queryable, batchId: string, worker: string, until: Date): Promise<void> {
  await db.query(
    `UPDATE payments SET locked_by = $2, locked_until = $3 WHERE batch_id = $1 AND state = 'submitted'`,
    [batchId, worker, until],
  );
}

/**
 * In-flight batches (stored, maybe broadcast, outcome not recorded) whose worker's lease has
 * passed, leased to this worker in the same transaction. `ownToo` also takes batches leased to
 * this worker id: a previous process with the same id is gone (used once, at start).
 */
export async function claimInFlight(
  db: Database,
  chainIds: readonly number[],
  limit: number,
  lease: Lease,
  ownToo: boolean,
): Promise<BatchRow[]> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<BatchRow>(
      `SELECT ${BATCH_COLUMNS} FROM settlement_batches b
        WHERE b.state IN ('sending', 'submitted') AND b.chain_id = ANY($1::bigint[])
          AND NOT EXISTS (
                SELECT 1 FROM payments p
                 WHERE p.batch_id = b.id AND p.state = 'submitted'
                   AND p.locked_until > $2 AND NOT ($4::boolean AND p.locked_by = $5))
        ORDER BY b.id
        LIMIT $3
        FOR UPDATE SKIP LOCKED`,
      [chainIds, lease.now, limit, ownToo, lease.worker],
    );
    if (rows.length > 0) {
      await tx.query(
        `UPDATE payments SET locked_by = $2, locked_until = $3::timestamptz + $4::float8 * interval '1 millisecond'
          WHERE batch_id = ANY($1::bigint[]) AND state = 'submitted'`,
        [rows.map((row) => row.id), lease.worker, lease.now, lease.leaseMs],
      );
    }
    return rows;
  });
}
