import { type Hash, type Hex, type TransactionReceipt, TransactionReceiptNotFoundError, getAddress, toHex } from "viem";
import { isPaymentError } from "../x402/errors.js";
import { chainUnavailable } from "../schemes/chain.js";
import { type EscrowBatchEntry, type PreparedEscrowBatch, broadcastEscrowBatch } from "../schemes/escrow/batch.js";
import { ESCROW_SCHEME } from "../schemes/escrow/offer.js";
import { settlementPayload } from "../schemes/exact/settle.js";
import { batchPayments, claimInFlight, failBatch, leaseBatch, markBroadcast } from "./batches.js";
import { type ChainContext, type Tally, later, lease, loggable } from "./context.js";
import { awaitAndRecord, dataOf } from "./cycle.js";
import { escrowNonceUsed, exactAuthorizationUsed, findEscrowSettlement, findExactSpend } from "./lookup.js";
import { claimAbandoned, confirm, fail, recheckAt, release } from "./queue.js";
import { type Resolution, addTally, applyResolutions, recordReceipt } from "./resolve.js";
import { type BatchRow, type PaymentRow, toVerifiedPayment } from "./rows.js";

/**
 * Bringing the ledger in line with the chain after a crash (docs/settlement-engine.md, "Crash
 * windows"). Two kinds of work:
 *
 *  - in-flight batches (`sending` / `submitted`) whose worker's lease passed: find the receipt by
 *    hash; else, if the signer's nonce is still free, send the stored bytes again (same hash, so
 *    the payments can only be settled by that one transaction); else the slot went to another
 *    transaction, and each payment's escrow nonce says whether it was settled anyway;
 *  - payments a request abandoned (`reserved` too long) or gave up on (`failed` while still
 *    spendable): the nonce on chain decides between confirmed, released and failed.
 */

/** How long after `valid_before` (by our clock) the chain is sure to refuse an authorization. */
export const EXPIRY_MARGIN_MS = 120_000;

/** Batches and rows taken per reconciliation pass and chain. */
const RECONCILE_LIMIT = 100;

export interface BatchReconciliation {
  readonly batches: number;
  readonly rebroadcast: number;
}

export async function reconcileInFlight(ctx: ChainContext, ownToo: boolean, tally: Tally): Promise<BatchReconciliation> {
  const batches = await claimInFlight(ctx.db, [ctx.chain.chainId], RECONCILE_LIMIT, lease(ctx), ownToo);
  let rebroadcast = 0;
  // In nonce order: a batch stuck behind a lower, never-sent nonce only mines once that one is sent.
  batches.sort((a, b) => Number(BigInt(a.tx_nonce) - BigInt(b.tx_nonce)));
  for (const batch of batches) {
    try {
      if (await reconcileBatch(ctx, batch, tally)) rebroadcast += 1;
    } catch (error) {
      ctx.log.error({ err: loggable(error), batchId: batch.id }, "batch reconciliation failed; will retry");
      await leaseBatch(ctx.db, batch.id, ctx.worker, later(ctx.now(), ctx.backoff.maxMs)).catch(() => undefined);
    }
  }
  return { batches: batches.length, rebroadcast };
}

/** Returns whether the stored transaction was sent again. */
async function reconcileBatch(ctx: ChainContext, batch: BatchRow, tally: Tally): Promise<boolean> {
  const { chain, log } = ctx;
  const rows = await batchPayments(ctx.db, batch.id);
  const prepared = preparedFromRows(ctx, rows);
  const hash = batch.tx_hash as Hash;
  const txNonce = Number(batch.tx_nonce);

  let minedNonce: number;
  let receipt: TransactionReceipt | undefined;
  try {
    // Nonce first, receipt second: a transaction mined between the two reads is then seen by the
    // receipt read, so "nonce consumed and no receipt" really means another transaction took it.
    minedNonce = await chain.publicClient.getTransactionCount({ address: getAddress(batch.signer), blockTag: "latest" });
    receipt = await receiptOf(ctx, hash);
  } catch (error) {
    log.warn({ batchId: batch.id, err: loggable(error) }, "cannot reconcile batch now");
    tally.undecided += rows.length;
    await leaseBatch(ctx.db, batch.id, ctx.worker, later(ctx.now(), ctx.backoff.baseMs));
    return false;
  }

  if (receipt !== undefined) {
    addTally(tally, await recordReceipt(ctx, batch.id, prepared, rows, receipt));
    log.info({ batchId: batch.id, txHash: hash, status: receipt.status }, "reconciled batch from its receipt");
    return false;
  }

  if (minedNonce > txNonce) {
    const resolutions = await spentElsewhere(ctx, rows);
    if (resolutions === undefined) {
      tally.undecided += rows.length;
      await leaseBatch(ctx.db, batch.id, ctx.worker, later(ctx.now(), ctx.backoff.baseMs));
      return false;
    }
    addTally(
      tally,
      await ctx.db.transaction(async (tx) => {
        await failBatch(tx, batch.id, `nonce ${txNonce} was consumed by another transaction`);
        return applyResolutions(ctx, tx, resolutions, ["submitted"]);
      }),
    );
    log.warn({ batchId: batch.id, txHash: hash, nonce: txNonce }, "batch replaced on chain; payments resolved from escrow nonces");
    return false;
  }

  const serialized = toHex(batch.raw_tx) as Hex;
  try {
    await broadcastEscrowBatch(chain.publicClient, { serialized, hash });
  } catch (error) {
    log.warn({ batchId: batch.id, txHash: hash, err: loggable(error) }, "rebroadcast failed; will retry");
    tally.undecided += rows.length;
    await leaseBatch(ctx.db, batch.id, ctx.worker, later(ctx.now(), ctx.backoff.baseMs));
    return false;
  }
  await markBroadcast(ctx.db, batch.id, ctx.now());
  log.info({ batchId: batch.id, txHash: hash, nonce: txNonce }, "stored batch rebroadcast");
  await awaitAndRecord(ctx, { batchId: batch.id, hash, prepared, rows }, tally);
  return true;
}

async function receiptOf(ctx: ChainContext, hash: Hash): Promise<TransactionReceipt | undefined> {
  try {
    return await ctx.chain.publicClient.getTransactionReceipt({ hash });
  } catch (error) {
    if (error instanceof TransactionReceiptNotFoundError) return undefined;
    throw chainUnavailable("eth_getTransactionReceipt failed", error);
  }
}

/** The batch as the engine prepared it, rebuilt from its rows: what `batchOutcomes` reads a receipt against. */
function preparedFromRows(ctx: ChainContext, rows: readonly PaymentRow[]): PreparedEscrowBatch {
  const entries: EscrowBatchEntry[] = [];
  for (const row of rows) {
    const data = dataOf(row);
    if (data !== undefined) entries.push({ payment: toVerifiedPayment(row), data });
  }
  return { chainId: ctx.chain.chainId, escrow: ctx.chain.escrow, entries, rejected: [] };
}

/**
 * The batch's transaction can never be mined. A payment whose escrow nonce is unused was not
 * settled by anything: back to the queue at once. A used one was settled by some transaction
 * (ours, if an earlier record was lost): `confirmed` with it when the escrow's event is found,
 * `failed` when the nonce went to something else. Undefined when the chain cannot answer.
 */
async function spentElsewhere(ctx: ChainContext, rows: readonly PaymentRow[]): Promise<Resolution[] | undefined> {
  const reader = ctx.chain.publicClient;
  const resolutions: Resolution[] = [];
  try {
    for (const row of rows) {
      const data = dataOf(row);
      if (data === undefined) {
        resolutions.push({ kind: "fail", row, reason: "settlement_failed: invalid_settlement_data" });
        continue;
      }
      const a = data.authorization;
      if (!(await escrowNonceUsed(reader, data.escrow, a.payer, a.nonce))) {
        resolutions.push({ kind: "requeue", row, reason: "batch transaction replaced before it was mined" });
        continue;
      }
      const found = await findEscrowSettlement(reader, data.escrow, a, ctx.lookbackBlocks);
      resolutions.push(
        found === undefined
          ? { kind: "fail", row, reason: "nonce_used: spent by a transaction that did not settle this payment" }
          : { kind: "confirm", row, transaction: found.transaction },
      );
    }
  } catch (error) {
    if (isPaymentError(error) && error.code === "chain_unavailable") return undefined;
    throw error;
  }
  return resolutions;
}

/**
 * Abandoned `reserved` rows and `failed` rows that may still be spent, decided by the chain:
 *
 * | nonce on chain | what spent it | → |
 * | --- | --- | --- |
 * | used | this payment's own settlement (event found) | `confirmed` with that transaction |
 * | used | exact: the payer's `cancelAuthorization` | `released` |
 * | used | anything else, or nothing found in the lookback | `failed` (`nonce_used`) |
 * | unused | authorization expired (+ margin) | `released` (reserved) / left `failed`, checked for the last time |
 * | unused | still valid | unchanged; looked at again later |
 */
export async function reconcileAbandoned(ctx: ChainContext, tally: Tally): Promise<void> {
  const rows = await claimAbandoned(ctx.db, ctx.chain.chainId, RECONCILE_LIMIT, lease(ctx), ctx.reservedGraceMs, EXPIRY_MARGIN_MS);
  for (const row of rows) {
    try {
      await reconcileRow(ctx, row, tally);
    } catch (error) {
      const transient = isPaymentError(error) && error.code === "chain_unavailable";
      if (!transient) ctx.log.error({ err: loggable(error), paymentId: row.id }, "payment reconciliation failed");
      tally.undecided += 1;
      await recheckAt(ctx.db, row.id, later(ctx.now(), ctx.backoff.maxMs), ctx.worker);
    }
  }
}

type Spend = { kind: "settled"; transaction: Hash } | { kind: "canceled" } | { kind: "unknown" } | { kind: "unused" };

async function reconcileRow(ctx: ChainContext, row: PaymentRow, tally: Tally): Promise<void> {
  const now = ctx.now();
  const from = [row.state];
  const spend = await spendOf(ctx, row);
  if (spend === undefined) {
    // Not decidable from this configuration (corrupt row, another escrow): an operator must look.
    ctx.log.error({ paymentId: row.id, scheme: row.scheme }, "cannot check this payment on chain");
    tally.undecided += 1;
    await recheckAt(ctx.db, row.id, later(now, ctx.reservedGraceMs), ctx.worker);
    return;
  }
  switch (spend.kind) {
    case "settled":
      tally.confirmed += await confirm(ctx.db, [row.id], spend.transaction, from);
      ctx.log.info({ paymentId: row.id, txHash: spend.transaction, was: row.state }, "payment found settled on chain");
      return;
    case "canceled":
      tally.released += await release(ctx.db, [row.id], "authorization canceled by the payer", from);
      return;
    case "unknown":
      if (row.state === "failed") await recheckAt(ctx.db, row.id, later(now, ctx.backoff.maxMs), ctx.worker);
      else tally.failed += await fail(ctx.db, [row.id], "nonce_used: spent on chain by a transaction that did not settle this payment", now, from);
      return;
    case "unused": {
      const expiry = row.valid_before === null ? undefined : row.valid_before.getTime() + EXPIRY_MARGIN_MS;
      if (expiry !== undefined && now.getTime() > expiry) {
        if (row.state === "reserved") {
          tally.released += await release(ctx.db, [row.id], "abandoned before settlement; the authorization expired unused", from);
        } else {
          // Checked after expiry: final for this row (the claim only takes checks due before expiry).
          await recheckAt(ctx.db, row.id, now, ctx.worker);
        }
        return;
      }
      tally.undecided += 1;
      const next = Math.min(now.getTime() + ctx.backoff.maxMs, expiry ?? Number.POSITIVE_INFINITY);
      await recheckAt(ctx.db, row.id, new Date(next), ctx.worker);
      return;
    }
  }
}

/** Whether and how the payment's authorization was spent; undefined when this engine cannot tell. */
async function spendOf(ctx: ChainContext, row: PaymentRow): Promise<Spend | undefined> {
  const reader = ctx.chain.publicClient;
  if (row.scheme === ESCROW_SCHEME) {
    const data = dataOf(row);
    if (data === undefined || data.escrow.toLowerCase() !== ctx.chain.escrow.toLowerCase()) return undefined;
    const a = data.authorization;
    if (!(await escrowNonceUsed(reader, data.escrow, a.payer, a.nonce))) return { kind: "unused" };
    const found = await findEscrowSettlement(reader, data.escrow, a, ctx.lookbackBlocks);
    return found === undefined ? { kind: "unknown" } : { kind: "settled", transaction: found.transaction };
  }
  const payment = toVerifiedPayment(row);
  let nonce: Hex;
  try {
    nonce = settlementPayload(payment).authorization.nonce;
  } catch {
    return undefined;
  }
  if (!(await exactAuthorizationUsed(reader, payment.token, payment.payer, nonce))) return { kind: "unused" };
  const spend = await findExactSpend(reader, payment, nonce, ctx.lookbackBlocks);
  return spend.kind === "settled" ? { kind: "settled", transaction: spend.settlement.transaction } : spend;
}
