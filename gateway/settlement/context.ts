import { BaseError } from "viem";
import { type Database, describeError } from "../db/index.js";
import { PaymentError } from "../x402/errors.js";
import type { Logger } from "../log.js";
import type { GasState } from "./gas.js";
import type { SimulationState } from "./simulation.js";
import type { Backoff, Lease } from "./queue.js";
import type { EngineChain, MinedBatchSummary } from "./types.js";

/** Everything one chain's settlement steps need; built once per engine and chain. */
export interface ChainContext {
  readonly db: Database;
  readonly chain: EngineChain;
  readonly worker: string;
  readonly log: Logger;
  readonly now: () => Date;
  readonly leaseMs: number;
  readonly receiptTimeoutMs: number;
  readonly backoff: Backoff;
  readonly lookbackBlocks: number;
  readonly reservedGraceMs: number;
  /** Gas ceiling and contract payers, kept across cycles. */
  readonly gas: GasState;
  /** Which batches are simulated before they are sent, and the last revert seen. */
  readonly simulation: SimulationState;
  /** `SettlementEngineOptions.onBatchMined`, or nothing. */
  readonly onBatchMined: (batch: MinedBatchSummary) => void;
}

export function lease(ctx: ChainContext): Lease {
  return { worker: ctx.worker, now: ctx.now(), leaseMs: ctx.leaseMs };
}

export function later(now: Date, ms: number): Date {
  return new Date(now.getTime() + ms);
}

/** Counts of what a step did to payments, summed into the cycle and reconcile summaries. */
export interface Tally {
  confirmed: number;
  failed: number;
  retried: number;
  requeued: number;
  released: number;
  undecided: number;
}

export function emptyTally(): Tally {
  return { confirmed: 0, failed: 0, retried: 0, requeued: 0, released: 0, undecided: 0 };
}

/**
 * An error as the engine logs it. viem's full messages repeat the request (calldata with the
 * payers' signed authorizations, the raw transaction), so chain errors are logged by their short
 * message; anything else (our bugs, the database) keeps its stack.
 */
export function loggable(error: unknown): { message: string; code?: string; stack?: string } {
  if (error instanceof BaseError) return { message: error.shortMessage };
  if (error instanceof PaymentError) return { message: error.message, code: error.code };
  const { message, code } = describeError(error);
  const stack = error instanceof Error ? error.stack : undefined;
  return { message, ...(code === undefined ? {} : { code }), ...(stack === undefined ? {} : { stack }) };
}
