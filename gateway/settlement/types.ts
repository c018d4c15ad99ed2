import type { Address } from "viem";
import type { Database } from "../db/index.js";
import type { Logger } from "../log.js";
import type { ChainReader, SettlementWallet } from "../schemes/types.js";
import type { SimulationPolicy } from "./simulation.js";

/** One chain the engine settles on: its reader, the account that signs and pays gas, its escrow. */
export interface EngineChain {
  readonly chainId: number;
  readonly publicClient: ChainReader;
  readonly walletClient: SettlementWallet;
  readonly escrow: Address;
}

export interface SettlementEngineOptions {
  readonly db: Database;
  readonly chains: readonly EngineChain[];
  /**
   * Names this process in leases (`locked_by`). Must be unique among live processes: a restarted
   * process that reuses its predecessor's id takes over that predecessor's leases at once,
   * instead of waiting for them to expire.
   */
  readonly workerId: string;
  readonly log: Logger;
  /** Pause between cycles. Default {@link DEFAULTS.intervalMs}. */
  readonly intervalMs?: number;
  /** Most payments in one `settleBatch`. Default {@link DEFAULTS.batchMax}. */
  readonly batchMax?: number;
  /** Batches started per cycle and chain. Default {@link DEFAULTS.batchesPerCycle}. */
  readonly batchesPerCycle?: number;
  /** How long a claim protects rows (and an in-flight batch) from other workers. Default {@link DEFAULTS.leaseMs}. */
  readonly leaseMs?: number;
  readonly now?: () => Date;
  /** Longest wait for a batch receipt in one go; must stay below the lease. Default {@link DEFAULTS.receiptTimeoutMs}. */
  readonly receiptTimeoutMs?: number;
  /**
   * Age after which a `reserved` row is presumed abandoned by the request that made it (its
   * process died between reserving and recording the settlement), so reconciliation resolves it
   * from the chain. Must exceed the longest request (upstream call + synchronous settlement).
   * Default {@link DEFAULTS.reservedGraceMs}.
   */
  readonly reservedGraceMs?: number;
  /** How far back (blocks) to look for the transaction that spent a nonce. Default {@link DEFAULTS.logLookbackBlocks}. */
  readonly logLookbackBlocks?: number;
  /**
   * Most gas one batch transaction may carry. Default: half the chain's block gas limit, at most
   * 2^24 (EIP-7825's per-transaction cap). Never above the block gas limit. A batch whose bounded
   * limit exceeds it is sent with an estimated limit instead (docs/settlement-engine.md, "Gas").
   */
  readonly maxBatchGas?: bigint;
  /**
   * Which batches are simulated before they are sent: `retries` (default) only those holding
   * payments the escrow refused or skipped before (and all while the escrow is paused or after a
   * revert), `always` every one (docs/settlement-engine.md, "Simulation").
   */
  readonly simulation?: SimulationPolicy;
  /**
   * Told of every batch receipt the engine records (by a cycle or by reconciliation): the
   * gateway counts them in its metrics. Called after the recording committed; what it throws is
   * logged and changes nothing.
   */
  readonly onBatchMined?: (batch: MinedBatchSummary) => void;
}

/** A mined settlement batch, as the engine recorded it. */
export interface MinedBatchSummary {
  readonly chainId: number;
  readonly status: "success" | "reverted";
  /** Entries in the transaction. */
  readonly payments: number;
  /** Of those, the ones the escrow skipped (`PaymentFailed` or no event); 0 when reverted. */
  readonly skipped: number;
}

/** Why these values: docs/settlement-engine.md, "Defaults and why" (measured with `npm run bench settlement`). */
export const DEFAULTS = {
  intervalMs: 5_000,
  batchMax: 200,
  simulation: "retries",
  leaseMs: 90_000,
  receiptTimeoutMs: 30_000,
  reservedGraceMs: 10 * 60_000,
  logLookbackBlocks: 100_000,
  /** Batches started per cycle and chain: more backlog waits for the next cycle, which then starts at once. */
  batchesPerCycle: 16,
  /** Retry delays grow from `intervalMs` and stop growing here. */
  maxBackoffMs: 60_000,
  /** Reconciliation beyond taking over expired batches (reserved and failed rows) at most this often. */
  reconcileEveryMs: 60_000,
} as const;

/** What one claim → settle → confirm cycle did. */
export interface CycleSummary {
  /** In-flight batches of other (dead) workers taken over and resolved or rebroadcast. */
  readonly resumed: number;
  /** `verified` rows claimed. */
  readonly claimed: number;
  /** Transactions stored and broadcast (or stored and left for reconciliation). */
  readonly batches: number;
  /** Payments now `confirmed`. */
  readonly confirmed: number;
  /** Payments now `failed`. */
  readonly failed: number;
  /** Payments back in the queue with a later `next_attempt_at`. */
  readonly retried: number;
}

export interface ReconcileSummary {
  /** In-flight batches looked at. */
  readonly batches: number;
  /** Of those, stored transactions sent again (same bytes, same hash). */
  readonly rebroadcast: number;
  /** Payments found settled on chain and marked `confirmed`. */
  readonly confirmed: number;
  /** Payments back to `verified` because their transaction can never be mined. */
  readonly requeued: number;
  /** Abandoned `reserved` payments whose authorization can no longer be used: `released`. */
  readonly released: number;
  /** Payments marked `failed` (their nonce was spent by something that did not pay this payment). */
  readonly failed: number;
  /** Payments that could not be decided yet (authorization still usable, or chain unreachable). */
  readonly undecided: number;
}

export interface SettlementEngine {
  /** Reconciles, then runs a cycle every `intervalMs` on an unref'd timer. Idempotent. */
  start(): void;
  /** Stops the timer and waits for the cycle in progress. */
  stop(): Promise<void>;
  runOnce(): Promise<CycleSummary>;
  reconcile(): Promise<ReconcileSummary>;
}
