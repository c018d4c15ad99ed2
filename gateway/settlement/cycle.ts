import { type Address, type Hash, type TransactionReceipt, getAddress } from "viem";
import { PaymentError, isPaymentError } from "../x402/errors.js";
import {
  type EscrowBatchFees,
  type EscrowBatchTransaction,
  type PreparedEscrowBatch,
  type SignedEscrowBatch,
  broadcastEscrowBatch,
  buildEscrowBatchTransaction,
  prepareEscrowBatch,
  signEscrowBatchTransaction,
} from "../schemes/escrow/batch.js";
import type { VerifiedPayment } from "../schemes/types.js";
import { escrowSettlementData } from "../schemes/escrow/settle.js";
import { chainUnavailable } from "../schemes/chain.js";
import { LeaseLostError, leaseBatch, markBroadcast, storeBatch } from "./batches.js";
import { type ChainContext, type Tally, later, lease, loggable } from "./context.js";
import { type CycleFunds, batchGasCap, boundedLimit, classifyPayers, cycleFunds, payersWithCode, rememberContractPayers } from "./gas.js";
import { claimDue, requeue } from "./queue.js";
import { type Resolution, addTally, afterRevertedBatch, applyResolutions, recordReceipt, resolveRefusal } from "./resolve.js";
import { type PaymentRow, toVerifiedPayment } from "./rows.js";
import { escrowPaused, maySkipSimulation, notRefusedBefore } from "./simulation.js";

/**
 * One chain's share of a cycle: claim due payments, group them per (token, payee), and for each
 * group prepare → store → broadcast, a few groups at once; each batch's receipt is awaited as soon
 * as it is out, while the next ones go, so the batches of one cycle are mined together instead of
 * one block each. The cycle ends when every receipt is recorded (or left to reconciliation).
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
  /** Claimed as many as a cycle takes: more are probably due, and the next cycle should not wait. */
  readonly full: boolean;
}

export async function settleChain(ctx: ChainContext, batchMax: number, batchesPerCycle: number, tally: Tally): Promise<ChainCycle> {
  const limit = batchMax * batchesPerCycle;
  const rows = await claimDue(ctx.db, ctx.chain.chainId, limit, lease(ctx));
  if (rows.length === 0) return { claimed: 0, batches: 0, full: false };
  let paused: Promise<boolean> | undefined;
  const cycle: Cycle = {
    funds: cycleFunds(ctx),
    chainNonce: settled(pendingNonce(ctx)),
    storing: serial(),
    sent: Promise.resolve(),
    maySkipSimulation: () => maySkipSimulation(ctx, () => (paused ??= escrowPaused(ctx))),
  };
  const queue = groups(rows, batchMax);
  const receipts: Promise<void>[] = [];
  let batches = 0;
  // A few batches at a time: one is simulated while the one before is written and the one before
  // that is broadcast, and earlier ones are mined and recorded. Storing is one at a time, and a
  // batch commits only once the node has answered the previous broadcast: nonces reach the node in
  // order, and a crash leaves at most one stored batch unsent, as if they went one by one.
  const worker = async () => {
    for (let group = queue.shift(); group !== undefined; group = queue.shift()) {
      try {
        const sent = await sendGroup(ctx, group, cycle, tally);
        if (sent === undefined) continue;
        batches += 1;
        if (sent.broadcast) receipts.push(awaitAndRecord(ctx, sent.inFlight, tally).then(() => undefined, (error: unknown) => recordFailed(ctx, sent.inFlight, error)));
      } catch (error) {
        // Our bug or the database: the claim runs out and the rows come back by themselves.
        ctx.log.error({ err: loggable(error), chainId: ctx.chain.chainId, payments: group.length }, "settlement batch aborted");
      }
    }
  };
  await Promise.all(Array.from({ length: PIPELINE_DEPTH }, worker));
  await Promise.all(receipts);
  // Full only if something went out: a cycle that could send nothing (the node down) is not
  // repeated at once however much is queued.
  return { claimed: rows.length, batches, full: rows.length >= limit && batches > 0 };
}

/** Batches of one cycle in progress at once (simulating, storing, broadcasting). */
const PIPELINE_DEPTH = 3;

/** What the batches of one cycle share. */
interface Cycle {
  readonly funds: CycleFunds;
  /**
   * The signer's pending transaction count at the start of the cycle, a lower bound for every
   * batch's nonce: the stored counter (`signer_nonces`) runs ahead of it with each batch stored.
   */
  readonly chainNonce: Promise<Settled<number>>;
  /** Nonce allocation and storing, one batch after the other. */
  readonly storing: Serial;
  /** Settles when the node has answered the broadcast of the last batch stored (either way). */
  sent: Promise<void>;
  /** Whether a batch of payments not refused before may go unsimulated now (the escrow's pause read once a cycle). */
  readonly maySkipSimulation: () => Promise<boolean>;
}

type Serial = <T>(step: () => Promise<T>) => Promise<T>;

function serial(): Serial {
  let tail: Promise<unknown> = Promise.resolve();
  return (step) => {
    const run = tail.then(step, step);
    tail = run.catch(() => undefined);
    return run;
  };
}

/** Recording a receipt failed (the database): the batch stays in flight and reconciliation records it. */
function recordFailed(ctx: ChainContext, batch: InFlight, error: unknown): void {
  ctx.log.error({ err: loggable(error), chainId: ctx.chain.chainId, batchId: batch.batchId, txHash: batch.hash }, "recording the batch receipt failed; reconciliation will");
}

/**
 * Payments of one (token, payee), in claim order, cut into batches of at most `batchMax`. Payments
 * are batched apart by how they are prepared: back from a reverted batch (the estimated path),
 * refused before (simulated), or not (which may skip the simulation), so one payment's history
 * does not decide its batch-mates' path.
 */
export function groups(rows: readonly PaymentRow[], batchMax: number): PaymentRow[][] {
  const byPair = new Map<string, PaymentRow[]>();
  for (const row of rows) {
    const key = `${row.token}:${row.payee}:${preparation(row)}`;
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

function preparation(row: PaymentRow): "estimated" | "simulated" | "unrefused" {
  if (afterRevertedBatch(row)) return "estimated";
  return notRefusedBefore(row) ? "unrefused" : "simulated";
}

async function sendGroup(
  ctx: ChainContext,
  rows: PaymentRow[],
  cycle: Cycle,
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
    const requeued = await requeue(ctx.db, foreign.map((r) => r.id), "signed for another escrow than configured", ctx.now(), ctx.backoff, ["verified"]);
    tally.retried += requeued;
    rows = rows.filter((row) => sameEscrow(row, chain.escrow));
    if (rows.length === 0) return undefined;
  }

  const payments = rows.map(toVerifiedPayment);
  const byKey = new Map(rows.map((row) => [row.payment_key, row]));
  let prepared: PreparedEscrowBatch;
  try {
    const careful = rows.some(afterRevertedBatch);
    const unsimulated = !careful && rows.every(notRefusedBefore) && (await cycle.maySkipSimulation());
    prepared = unsimulated
      ? await prepareUnsimulated(ctx, sender, payments)
      : ((careful ? undefined : await prepareBounded(ctx, sender, payments)) ?? (await prepareEstimated(ctx, sender, payments)));
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
    log.warn({ chainId: chain.chainId, refused: refused.map((r) => ({ id: r.row.id, kind: r.kind })) }, "payments refused before sending (simulation or stored data)");
    addTally(tally, await ctx.db.transaction((tx) => applyResolutions(ctx, tx, refused, ["verified"])));
  }
  if (prepared.entries.length === 0) return undefined;

  const batchRows = prepared.entries.map((entry) => byKey.get(entry.payment.paymentKey) as PaymentRow);
  let stored: { readonly inFlight: InFlight; readonly sending: Promise<Settled<unknown>> };
  try {
    stored = await cycle.storing(async () => {
      const previous = cycle.sent;
      const { inFlight, signed } = await store(ctx, cycle, prepared, batchRows, () => previous);
      // Committed: the bytes go out now, and the next batch's commit waits for the node's answer.
      const sending = settled(broadcastEscrowBatch(chain.publicClient, signed));
      cycle.sent = sending.then(() => undefined);
      return { inFlight, sending };
    });
  } catch (error) {
    if (error instanceof LeaseLostError) {
      log.warn({ chainId: chain.chainId, err: loggable(error) }, "claimed payments were taken over; batch dropped before sending");
      return undefined;
    }
    await retryAll(ctx, batchRows, error, tally);
    return undefined;
  }
  return { inFlight: stored.inFlight, broadcast: await broadcastAnswered(ctx, stored.inFlight, await stored.sending) };
}

/**
 * Signs with the next nonce and stores, in one database transaction. Throws only when nothing was
 * stored, so nothing can be sent for these rows.
 */
async function store(
  ctx: ChainContext,
  cycle: Cycle,
  prepared: PreparedEscrowBatch,
  rows: readonly PaymentRow[],
  beforeCommit: () => Promise<void>,
): Promise<{ inFlight: InFlight; signed: SignedEscrowBatch }> {
  const { chain, log } = ctx;
  const sender = chain.walletClient.account.address;
  const [first] = rows;
  if (first === undefined) throw new RangeError("a batch needs at least one payment");
  const chainNonce = await cycle.chainNonce;
  if (!chainNonce.ok) throw chainNonce.error;
  const transaction = await affordable(ctx, cycle.funds, prepared, sender, chainNonce.value);
  const stored = await storeBatch(ctx.db, {
    chainId: chain.chainId,
    token: getAddress(first.token),
    payee: getAddress(first.payee),
    signer: sender,
    chainNonce: chainNonce.value,
    paymentIds: rows.map((row) => row.id),
    sign: (nonce) => signEscrowBatchTransaction(chain.walletClient, { ...transaction, nonce }),
    lease: lease(ctx),
    beforeCommit,
  });
  cycle.funds.reserve(transaction);
  log.info(
    { chainId: chain.chainId, batchId: stored.id, txHash: stored.signed.hash, nonce: stored.nonce, payments: rows.length },
    "settlement batch stored",
  );
  return { inFlight: { batchId: stored.id, hash: stored.signed.hash, prepared, rows }, signed: stored.signed };
}

/**
 * Records the node's answer to a broadcast; whether it took the bytes. One that did not leaves the
 * batch `sending` for reconciliation, which sends the same bytes again after a backoff.
 */
async function broadcastAnswered(ctx: ChainContext, batch: InFlight, answer: Settled<unknown>): Promise<boolean> {
  if (!answer.ok) {
    ctx.log.warn({ chainId: ctx.chain.chainId, batchId: batch.batchId, err: loggable(answer.error) }, "batch broadcast failed; will rebroadcast");
    await leaseBatch(ctx.db, batch.batchId, ctx.worker, later(ctx.now(), ctx.backoff.baseMs));
    return false;
  }
  await markBroadcast(ctx.db, batch.batchId, ctx.now());
  return true;
}

/**
 * The bounded path: simulate with the limit the transaction will carry. A bound above the cap
 * simulates without one and is estimated (what `prepareEstimated` does, in the same call).
 *
 * A payer with code that the bound counted as an EOA (it gained code after it was verified: an
 * EIP-7702 delegation) shows up here, at the bound, as `InvalidSignature` (its ERC-1271 call
 * starved) or as the batch running out of gas. Then the payers concerned are looked up; those with
 * code are counted at the ERC-1271 bound from then on and the batch is simulated again. At most
 * {@link BOUNDED_ROUNDS} simulations; undefined means take the estimated path, which decodes
 * whatever else it is (a pause, a node error, a bound that is wrong after all).
 */
async function prepareBounded(ctx: ChainContext, sender: Address, payments: readonly VerifiedPayment[]): Promise<PreparedEscrowBatch | undefined> {
  const { chain, log } = ctx;
  const cap = await batchGasCap(ctx);
  const unknown = (payers: readonly Address[]) => payers.filter((payer) => !ctx.gas.contractPayers.has(payer.toLowerCase()));
  for (let round = 1; round <= BOUNDED_ROUNDS; round++) {
    let prepared: PreparedEscrowBatch | undefined;
    let suspects: Address[];
    try {
      prepared = await prepareEscrowBatch({ publicClient: chain.publicClient, escrow: chain.escrow, sender, payments, gasLimit: boundedLimit(ctx, cap) });
      if (prepared.gas === undefined) return prepared;
      suspects = unknown(
        prepared.rejected.flatMap((outcome) => {
          if (outcome.status === "settled" || outcome.failure !== "InvalidSignature") return [];
          const payer = payments.find((p) => p.paymentKey === outcome.paymentKey)?.payer;
          return payer === undefined ? [] : [payer];
        }),
      );
    } catch (error) {
      // A paused or absent escrow says nothing about gas: the estimated path reports it. Running
      // out of gas is not a revert, and nodes word it differently (EDR: an unknown RPC error);
      // so anything else may be a payer with code, and the payers are looked up (a node that is
      // down fails that too, and the batch waits).
      const reason = isPaymentError(error) ? error.details?.["reason"] : undefined;
      if (reason === "paused" || reason === "no_data") return undefined;
      log.warn({ chainId: chain.chainId, payments: payments.length, err: loggable(error) }, "bounded simulation failed; looking for payers with code");
      suspects = unknown(payments.map((p) => p.payer));
    }
    if (suspects.length === 0) return prepared;
    const withCode = await payersWithCode(ctx, suspects);
    if (withCode.length === 0) return prepared;
    log.info({ chainId: chain.chainId, payers: withCode }, "payers with code in a bounded batch; counted as contract wallets");
    rememberContractPayers(ctx, withCode);
  }
  return undefined;
}

/**
 * Sends every entry with its bounded limit, unsimulated: the receipt's `PaymentFailed` events say
 * which the escrow skipped, and those are resolved as a simulated refusal would be (docs
 * settlement-engine.md, "Simulation"). A bound above the cap is simulated and estimated all the same.
 */
async function prepareUnsimulated(ctx: ChainContext, sender: Address, payments: readonly VerifiedPayment[]): Promise<PreparedEscrowBatch> {
  const [cap] = await Promise.all([batchGasCap(ctx), classifyPayers(ctx, payments.map((p) => p.payer))]);
  return prepareEscrowBatch({ publicClient: ctx.chain.publicClient, escrow: ctx.chain.escrow, sender, payments, gasLimit: boundedLimit(ctx, cap), simulate: false });
}

/** Simulations a bounded batch gets before it takes the estimated path. */
const BOUNDED_ROUNDS = 3;

/** The careful path: simulate with the node's default limit, estimate the transaction's gas. */
function prepareEstimated(ctx: ChainContext, sender: Address, payments: readonly VerifiedPayment[]): Promise<PreparedEscrowBatch> {
  return prepareEscrowBatch({ publicClient: ctx.chain.publicClient, escrow: ctx.chain.escrow, sender, payments });
}

/**
 * The transaction, if the signer can pay for it with what the cycle has not reserved yet. A
 * bounded limit the balance does not cover falls back to the estimate, which is lower; a
 * transaction the balance cannot cover at all is not stored (a node would refuse it, and a stored
 * batch nobody takes blocks the nonces after it): its payments wait, `chain_unavailable`.
 */
async function affordable(
  ctx: ChainContext,
  funds: CycleFunds,
  prepared: PreparedEscrowBatch,
  sender: Address,
  nonce: number,
): Promise<EscrowBatchTransaction> {
  const build = (batch: PreparedEscrowBatch, fees: EscrowBatchFees) =>
    buildEscrowBatchTransaction({ publicClient: ctx.chain.publicClient, batch, sender, nonce, fees });
  const fees = await funds.fees();
  const transaction = await build(prepared, fees);
  if (await funds.affords(transaction.gas ?? 0n)) return transaction;
  if (prepared.gas !== undefined) {
    ctx.log.warn({ chainId: ctx.chain.chainId, gas: String(prepared.gas) }, "signer balance does not cover the bounded gas limit; estimating");
    const estimated = await build({ ...prepared, gas: undefined }, fees);
    if (await funds.affords(estimated.gas ?? 0n)) return estimated;
  }
  throw new PaymentError("chain_unavailable", "the settlement signer's balance does not cover the batch's gas", { signer: sender });
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
      // Clients poll every 4 s by default; a batch is usually mined within a block or two.
      pollingInterval: Math.min(ctx.chain.publicClient.pollingInterval, RECEIPT_POLL_MS),
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
    const requeued = await requeue(ctx.db, rows.map((r) => r.id), reason, ctx.now(), ctx.backoff, ["verified"]);
    tally.retried += requeued;
  } catch (dbError) {
    ctx.log.error({ err: loggable(dbError) }, "could not defer payments; they return when their claim lapses");
  }
}

const RECEIPT_POLL_MS = 500;

type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** A promise that never rejects, so it can be started early and awaited (or dropped) later. */
function settled<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
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
