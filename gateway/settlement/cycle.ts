import { type Hash, type TransactionReceipt, getAddress } from "viem";
import { isPaymentError } from "../x402/errors.js";
import {
  type PreparedEscrowBatch,
  broadcastEscrowBatch,
  buildEscrowBatchTransaction,
  prepareEscrowBatch,
  signEscrowBatchTransaction,
} from "../schemes/escrow/batch.js";
import { escrowSettlementData } from "../schemes/escrow/settle.js";
import { chainUnavailable } from "../schemes/chain.js";
import { LeaseLostError, type StoredBatch, leaseBatch, markBroadcast, storeBatch } from "./batches.js";
import { type ChainContext, type Tally, later, lease, loggable } from "./context.js";
import { claimDue, requeue } from "./queue.js";
import { type Resolution, addTally, applyResolutions, recordReceipt, resolveRefusal } from "./resolve.js";
import { type PaymentRow, toVerifiedPayment } from "./rows.js";

/**
 * One chain's share of a cycle: claim due payments, group them per (token, payee), and for each
 * group prepare → store → broadcast; then wait for all receipts at once, so the batches of one
 * cycle are mined together instead of one block each.
 */

/** A broadcast batch waiting for its receipt. */
export interface InFlight {
  readonly batchId: string;
  readonly hash: Hash;
  readonly prepared: PreparedEscrowBatch;
  readonly rows: readonly PaymentRow[];
}

export interface ChainCycle {
  readonly claimed: number;
  readonly batches: number;
}

export async function settleChain(ctx: ChainContext, batchMax: number, batchesPerCycle: number, tally: Tally): Promise<ChainCycle> {
  const rows = await claimDue(ctx.db, ctx.chain.chainId, batchMax * batchesPerCycle, lease(ctx));
  if (rows.length === 0) return { claimed: 0, batches: 0 };
  const inFlight: InFlight[] = [];
  let batches = 0;
  for (const group of groups(rows, batchMax)) {
    try {
      const sent = await sendGroup(ctx, group, tally);
      if (sent !== undefined) {
        batches += 1;
        if (sent.broadcast) inFlight.push(sent.inFlight);
      }
    } catch (error) {
      // Our bug or the database: the claim runs out and the rows come back by themselves.
      ctx.log.error({ err: loggable(error), chainId: ctx.chain.chainId, payments: group.length }, "settlement batch aborted");
    }
  }
  await Promise.all(inFlight.map((batch) => awaitAndRecord(ctx, batch, tally)));
  return { claimed: rows.length, batches };
}

/** Payments of one (token, payee), in claim order, cut into batches of at most `batchMax`. */
export function groups(rows: readonly PaymentRow[], batchMax: number): PaymentRow[][] {
  const byPair = new Map<string, PaymentRow[]>();
  for (const row of rows) {
    const key = `${row.token}:${row.payee}`;
    const list = byPair.get(key) ?? [];
    list.push(row);
    byPair.set(key, list);
  }
  const batches: PaymentRow[][] = [];
  for (const list of byPair.values()) {
    for (let i = 0; i < list.length; i += batchMax) batches.push(list.slice(i, i + batchMax));
  }
  return batches;
}

async function sendGroup(
  ctx: ChainContext,
  rows: PaymentRow[],
  tally: Tally,
): Promise<{ inFlight: InFlight; broadcast: boolean } | undefined> {
  const { chain, log } = ctx;
  const sender = chain.walletClient.account.address;
  const [first] = rows;
  if (first === undefined) return undefined;

  // A payment signed for another escrow (the escrow was redeployed, or the config points
  // elsewhere) is not ours to send here; it waits, loudly, for the configuration to be fixed.
  const foreign = rows.filter((row) => !sameEscrow(row, chain.escrow));
  if (foreign.length > 0) {
    log.error({ chainId: chain.chainId, escrow: chain.escrow, payments: foreign.map((r) => r.id) }, "payments signed for another escrow");
    tally.retried += await requeue(ctx.db, foreign.map((r) => r.id), "signed for another escrow than configured", ctx.now(), ctx.backoff, ["verified"]);
    rows = rows.filter((row) => sameEscrow(row, chain.escrow));
    if (rows.length === 0) return undefined;
  }

  const payments = rows.map(toVerifiedPayment);
  const byKey = new Map(rows.map((row) => [row.payment_key, row]));
  let prepared: PreparedEscrowBatch;
  try {
    prepared = await prepareEscrowBatch({ publicClient: chain.publicClient, escrow: chain.escrow, sender, payments });
  } catch (error) {
    await retryAll(ctx, rows, error, tally);
    return undefined;
  }

  const refused: Resolution[] = [];
  for (const outcome of prepared.rejected) {
    if (outcome.status === "settled") continue;
    const row = byKey.get(outcome.paymentKey);
    if (row === undefined) continue;
    refused.push(await resolveRefusal(ctx, row, outcome, dataOf(row)));
  }
  if (refused.length > 0) {
    log.warn({ chainId: chain.chainId, refused: refused.map((r) => ({ id: r.row.id, kind: r.kind })) }, "escrow refused payments in simulation");
    addTally(tally, await ctx.db.transaction((tx) => applyResolutions(ctx, tx, refused, ["verified"])));
  }
  if (prepared.entries.length === 0) return undefined;

  const batchRows = prepared.entries.map((entry) => byKey.get(entry.payment.paymentKey) as PaymentRow);
  let stored: StoredBatch;
  try {
    const chainNonce = await pendingNonce(ctx);
    const transaction = await buildEscrowBatchTransaction({ publicClient: chain.publicClient, batch: prepared, sender, nonce: chainNonce });
    stored = await storeBatch(ctx.db, {
      chainId: chain.chainId,
      token: getAddress(first.token),
      payee: getAddress(first.payee),
      signer: sender,
      chainNonce,
      paymentIds: batchRows.map((row) => row.id),
      sign: (nonce) => signEscrowBatchTransaction(chain.walletClient, { ...transaction, nonce }),
      lease: lease(ctx),
    });
  } catch (error) {
    if (error instanceof LeaseLostError) {
      log.warn({ chainId: chain.chainId, err: loggable(error) }, "claimed payments were taken over; batch dropped before sending");
      return undefined;
    }
    await retryAll(ctx, batchRows, error, tally);
    return undefined;
  }

  const inFlight: InFlight = { batchId: stored.id, hash: stored.signed.hash, prepared, rows: batchRows };
  log.info(
    { chainId: chain.chainId, batchId: stored.id, txHash: stored.signed.hash, nonce: stored.nonce, payments: batchRows.length },
    "settlement batch stored",
  );
  try {
    await broadcastEscrowBatch(chain.publicClient, stored.signed);
  } catch (error) {
    // Stored but maybe not sent: reconciliation sends these same bytes again after a backoff.
    log.warn({ chainId: chain.chainId, batchId: stored.id, err: loggable(error) }, "batch broadcast failed; will rebroadcast");
    await leaseBatch(ctx.db, stored.id, ctx.worker, later(ctx.now(), ctx.backoff.baseMs));
    return { inFlight, broadcast: false };
  }
  await markBroadcast(ctx.db, stored.id, ctx.now());
  return { inFlight, broadcast: true };
}

/**
 * Waits for one confirmation and records the outcome. No receipt in time leaves the batch
 * `submitted` with a short lease: reconciliation looks again (and rebroadcasts if the node lost it).
 */
export async function awaitAndRecord(ctx: ChainContext, batch: InFlight, tally: Tally): Promise<boolean> {
  let receipt: TransactionReceipt;
  try {
    receipt = await ctx.chain.publicClient.waitForTransactionReceipt({
      hash: batch.hash,
      confirmations: 1,
      timeout: ctx.receiptTimeoutMs,
    });
  } catch (error) {
    ctx.log.warn({ chainId: ctx.chain.chainId, batchId: batch.batchId, txHash: batch.hash, err: loggable(error) }, "no receipt yet");
    await leaseBatch(ctx.db, batch.batchId, ctx.worker, later(ctx.now(), ctx.backoff.baseMs));
    return false;
  }
  addTally(tally, await recordReceipt(ctx, batch.batchId, batch.prepared, batch.rows, receipt));
  ctx.log.info(
    { chainId: ctx.chain.chainId, batchId: batch.batchId, txHash: batch.hash, status: receipt.status, block: receipt.blockNumber },
    "settlement batch mined",
  );
  return true;
}

/** Nothing went out for these rows: back to the queue after a backoff. */
async function retryAll(ctx: ChainContext, rows: readonly PaymentRow[], error: unknown, tally: Tally): Promise<void> {
  const transient = isPaymentError(error) && error.code === "chain_unavailable";
  const reason = isPaymentError(error) ? `${error.code}: ${error.message}` : `engine error: ${loggable(error).message}`;
  if (transient) ctx.log.warn({ chainId: ctx.chain.chainId, payments: rows.length, reason }, "settlement deferred");
  else ctx.log.error({ chainId: ctx.chain.chainId, payments: rows.length, err: loggable(error) }, "settlement attempt failed; retrying later");
  try {
    // Only from `verified`: if a store that reported failure did commit after all, its rows are
    // `submitted` in a stored batch that reconciliation sends; requeueing them would put the same
    // payments in a second transaction.
    tally.retried += await requeue(ctx.db, rows.map((r) => r.id), reason, ctx.now(), ctx.backoff, ["verified"]);
  } catch (dbError) {
    ctx.log.error({ err: loggable(dbError) }, "could not defer payments; they return when their claim lapses");
  }
}

async function pendingNonce(ctx: ChainContext): Promise<number> {
  try {
    return await ctx.chain.publicClient.getTransactionCount({ address: ctx.chain.walletClient.account.address, blockTag: "pending" });
  } catch (error) {
    throw chainUnavailable("eth_getTransactionCount failed", error);
  }
}

function sameEscrow(row: PaymentRow, escrow: string): boolean {
  const signedFor = row.payload["escrow"];
  return typeof signedFor !== "string" || signedFor.toLowerCase() === escrow.toLowerCase();
}

/** The row's settlement data, or undefined when it is corrupt (prepare reports that separately). */
export function dataOf(row: PaymentRow) {
  try {
    return escrowSettlementData(toVerifiedPayment(row), Number(row.chain_id));
  } catch {
    return undefined;
  }
}
