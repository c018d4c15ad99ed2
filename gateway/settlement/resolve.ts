import type { Hash, TransactionReceipt } from "viem";
import type { Queryable } from "../db/index.js";
import { UNSETTLED_STATES } from "../ledger/unsettled.js";
import type { ErrorCode } from "../x402/errors.js";
import { isPaymentError } from "../x402/errors.js";
import { type EscrowBatchFailure, type PreparedEscrowBatch, batchOutcomes } from "../schemes/escrow/batch.js";
import type { EscrowSettlementData } from "../schemes/escrow/payload.js";
import { type ChainContext, type Tally, emptyTally } from "./context.js";
import { findEscrowSettlement } from "./lookup.js";
import { PAYMENT_RETRY_LIMIT, failurePolicy } from "./policy.js";
import { confirm, fail, lockAccountTotals, requeue, requeueNow } from "./queue.js";
import type { PaymentRow } from "./rows.js";
import { confirmBatch, failBatch } from "./batches.js";
import { noteRevertedBatch } from "./simulation.js";

/** What becomes of one payment; decided first (with any chain lookups), written in one transaction. */
export type Resolution =
  | { readonly kind: "confirm"; readonly row: PaymentRow; readonly transaction: Hash }
  | { readonly kind: "fail"; readonly row: PaymentRow; readonly reason: string }
  /** Back to `verified` after a backoff. */
  | { readonly kind: "retry"; readonly row: PaymentRow; readonly reason: string }
  /** Back to `verified` at once: its transaction can never be mined, through no fault of its own. */
  | { readonly kind: "requeue"; readonly row: PaymentRow; readonly reason: string };

export interface Refusal {
  readonly failure: EscrowBatchFailure;
  readonly code: ErrorCode;
}

/**
 * The payment the escrow refused (in simulation) or skipped (`PaymentFailed` in a mined batch),
 * decided by {@link failurePolicy}. A spent nonce is looked up: our own lost settlement, or
 * someone else's spend, decides between `confirmed` and `failed`; a chain that cannot say means
 * try again later.
 */
export async function resolveRefusal(
  ctx: ChainContext,
  row: PaymentRow,
  refusal: Refusal,
  data: EscrowSettlementData | undefined,
): Promise<Resolution> {
  const reason = `${refusal.code}: ${refusal.failure}`;
  switch (failurePolicy(refusal.failure)) {
    case "fail":
      return { kind: "fail", row, reason };
    case "requeue":
      return { kind: "retry", row, reason };
    case "retry":
      return row.attempts + 1 >= PAYMENT_RETRY_LIMIT
        ? { kind: "fail", row, reason: `${reason} (gave up after ${row.attempts + 1} attempts)` }
        : { kind: "retry", row, reason };
    case "lookup": {
      if (data === undefined) return { kind: "fail", row, reason };
      try {
        const found = await findEscrowSettlement(ctx.chain.publicClient, ctx.chain.escrow, data.authorization, ctx.lookbackBlocks);
        if (found !== undefined) return { kind: "confirm", row, transaction: found.transaction };
        return { kind: "fail", row, reason: `${reason}: the nonce was spent by a transaction that did not settle this payment` };
      } catch (error) {
        if (isPaymentError(error) && error.code === "chain_unavailable") return { kind: "retry", row, reason: `nonce_used: lookup failed: ${error.message}` };
        throw error;
      }
    }
  }
}

/**
 * Writes resolutions. `from` are the states the caller may move rows out of; a row that has
 * moved on meanwhile is skipped by the WHERE clauses, never overwritten. Rows that go the same way
 * (a batch's confirmations, all with one hash) are written in one statement.
 */
export async function applyResolutions(
  ctx: ChainContext,
  tx: Queryable,
  resolutions: readonly Resolution[],
  from: readonly string[],
): Promise<Tally> {
  const now = ctx.now();
  const tally = emptyTally();
  const alike = new Map<string, { readonly first: Resolution; readonly ids: string[] }>();
  for (const r of resolutions) {
    const key = `${r.kind}\u0000${r.kind === "confirm" ? r.transaction : r.reason}`;
    const group = alike.get(key);
    if (group === undefined) alike.set(key, { first: r, ids: [r.row.id] });
    else group.ids.push(r.row.id);
  }
  // More than one statement: the totals they can move are locked in one go, in key order, first.
  if (alike.size > 1) await lockAccountTotals(tx, resolutions.filter((r) => movesTotal(r, from)).map((r) => r.row.id));
  for (const { first: r, ids } of alike.values()) {
    switch (r.kind) {
      case "confirm":
        tally.confirmed += await confirm(tx, ids, r.transaction, from);
        break;
      case "fail":
        tally.failed += await fail(tx, ids, r.reason, now, from);
        break;
      case "retry":
        tally.retried += await requeue(tx, ids, r.reason, now, ctx.backoff);
        break;
      case "requeue":
        tally.requeued += await requeueNow(tx, ids, r.reason, now);
        break;
    }
  }
  return tally;
}

/**
 * Whether writing `r` can change its account's unsettled total: confirmed and failed payments
 * leave the unsettled states; a retry only does not when it starts from one of them.
 */
function movesTotal(r: Resolution, from: readonly string[]): boolean {
  if (r.kind === "confirm" || r.kind === "fail") return true;
  return from.some((state) => !(UNSETTLED_STATES as readonly string[]).includes(state));
}

/**
 * What a payment whose batch reverted is retried with. The engine reads it back: a payment whose
 * last batch reverted goes out next in a batch whose gas is estimated (the careful path), never in
 * another bounded one, so a bound that is somehow wrong cannot revert the same payments again and
 * again.
 */
export function revertedBatchReason(transaction: Hash): string {
  return `${REVERTED_PREFIX}${transaction} reverted`;
}

export function afterRevertedBatch(row: Pick<PaymentRow, "failure_reason">): boolean {
  return row.failure_reason?.startsWith(REVERTED_PREFIX) === true && row.failure_reason.endsWith(" reverted");
}

const REVERTED_PREFIX = "settlement_failed: batch ";

/**
 * A mined batch: each entry's fate from the escrow's own logs. The batch and its payments are
 * written in one transaction, so a crash leaves either the old state (reconciliation reads the
 * same receipt again) or the whole outcome.
 */
export async function recordReceipt(
  ctx: ChainContext,
  batchId: string,
  batch: PreparedEscrowBatch,
  rows: readonly PaymentRow[],
  receipt: TransactionReceipt,
): Promise<Tally> {
  const byKey = new Map(rows.map((row) => [row.payment_key, row]));
  const dataByKey = new Map(batch.entries.map((entry) => [entry.payment.paymentKey, entry.data]));
  if (receipt.status !== "success") {
    // A reverted batch settled nothing and consumed its nonce; every payment goes back.
    noteRevertedBatch(ctx, rows.map((row) => row.payer));
    const resolutions = rows.map((row): Resolution => ({ kind: "retry", row, reason: revertedBatchReason(receipt.transactionHash) }));
    const tally = await ctx.db.transaction(async (tx) => {
      await failBatch(tx, batchId, "reverted", receipt.blockNumber);
      return applyResolutions(ctx, tx, resolutions, ["submitted"]);
    });
    ctx.onBatchMined({ chainId: ctx.chain.chainId, status: "reverted", payments: batch.entries.length, skipped: 0 });
    return tally;
  }
  const resolutions: Resolution[] = [];
  const outcomes = batchOutcomes(receipt, batch);
  for (const outcome of outcomes) {
    const row = byKey.get(outcome.paymentKey);
    if (row === undefined) continue; // resolved meanwhile by someone else
    if (outcome.status === "settled") resolutions.push({ kind: "confirm", row, transaction: receipt.transactionHash });
    else if (outcome.failure === "InvalidSignature") resolutions.push(resimulate(row, outcome));
    else resolutions.push(await resolveRefusal(ctx, row, outcome, dataByKey.get(outcome.paymentKey)));
  }
  const tally = await ctx.db.transaction(async (tx) => {
    await confirmBatch(tx, batchId, receipt.blockNumber);
    return applyResolutions(ctx, tx, resolutions, ["submitted"]);
  });
  const skipped = outcomes.filter((outcome) => outcome.status !== "settled").length;
  ctx.onBatchMined({ chainId: ctx.chain.chainId, status: "success", payments: outcomes.length, skipped });
  return tally;
}

/**
 * `InvalidSignature` in a mined batch. The gateway checked the signature before it served the
 * payment, and an EOA's signature cannot turn invalid; a contract payer's answer can (it changed
 * its mind, or it gained code after it was verified and the batch's limit, sized for an EOA,
 * starved its ERC-1271 call), and a corrupt row can carry one. Either way the payment is simulated
 * next time, with a limit sized for the code it has then: a wallet that refuses with the full
 * budget, or a signature that is simply wrong, is failed then, and one that was only starved settles.
 */
function resimulate(row: PaymentRow, refusal: Refusal): Resolution {
  const reason = `${refusal.code}: ${refusal.failure} in the mined batch`;
  return row.attempts + 1 >= PAYMENT_RETRY_LIMIT
    ? { kind: "fail", row, reason: `${reason} (gave up after ${row.attempts + 1} attempts)` }
    : { kind: "retry", row, reason };
}

export function addTally(into: Tally, more: Tally): void {
  into.confirmed += more.confirmed;
  into.failed += more.failed;
  into.retried += more.retried;
  into.requeued += more.requeued;
  into.released += more.released;
  into.undecided += more.undecided;
}
