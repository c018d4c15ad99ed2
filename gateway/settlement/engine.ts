import { type ChainContext, type Tally, emptyTally, loggable } from "./context.js";
import { settleChain } from "./cycle.js";
import { newGasState } from "./gas.js";
import { SIMULATION_POLICIES, newSimulationState } from "./simulation.js";
import { reconcileAbandoned, reconcileInFlight } from "./reconcile.js";
import { DEFAULTS, type CycleSummary, type ReconcileSummary, type SettlementEngine, type SettlementEngineOptions } from "./types.js";

/**
 * The durable settlement engine (docs/settlement-engine.md): settles `verified` escrow payments
 * in `settleBatch` transactions per (chain, token, payee), each transaction stored before it is
 * broadcast, and reconciles the ledger with the chain after a crash. Several engines (processes)
 * may share one PostgreSQL: they split the work through `FOR UPDATE SKIP LOCKED` and leases, and
 * take over a dead worker's rows and batches when its lease passes.
 *
 * One engine runs one operation at a time (a cycle or a reconciliation), so its own leases are
 * never held by something it is doing concurrently.
 */
export function createSettlementEngine(opts: SettlementEngineOptions): SettlementEngine {
  const intervalMs = positive("intervalMs", opts.intervalMs ?? DEFAULTS.intervalMs);
  const batchMax = positive("batchMax", opts.batchMax ?? DEFAULTS.batchMax);
  const batchesPerCycle = positive("batchesPerCycle", opts.batchesPerCycle ?? DEFAULTS.batchesPerCycle);
  const leaseMs = positive("leaseMs", opts.leaseMs ?? DEFAULTS.leaseMs);
  const receiptTimeoutMs = positive("receiptTimeoutMs", opts.receiptTimeoutMs ?? DEFAULTS.receiptTimeoutMs);
  const reservedGraceMs = positive("reservedGraceMs", opts.reservedGraceMs ?? DEFAULTS.reservedGraceMs);
  const lookbackBlocks = positive("logLookbackBlocks", opts.logLookbackBlocks ?? DEFAULTS.logLookbackBlocks);
  if (!Number.isInteger(batchMax)) throw new RangeError("batchMax must be an integer");
  if (!Number.isInteger(batchesPerCycle)) throw new RangeError("batchesPerCycle must be an integer");
  // A lease that ran out while its holder still waits for a receipt would let a second worker
  // rebroadcast and record the same batch: harmless on chain, but wasted work and noisy logs.
  if (leaseMs <= receiptTimeoutMs + 10_000) {
    throw new RangeError(`leaseMs (${leaseMs}) must exceed receiptTimeoutMs (${receiptTimeoutMs}) by more than 10 s`);
  }
  if (opts.workerId.trim() === "") throw new RangeError("workerId must not be empty");
  const simulation = opts.simulation ?? DEFAULTS.simulation;
  if (!SIMULATION_POLICIES.includes(simulation)) throw new RangeError(`simulation must be one of ${SIMULATION_POLICIES.join(", ")}, got ${String(simulation)}`);
  if (opts.maxBatchGas !== undefined && opts.maxBatchGas < 1_000_000n) throw new RangeError("maxBatchGas must be at least 1,000,000");
  const chainIds = opts.chains.map((c) => c.chainId);
  if (new Set(chainIds).size !== chainIds.length) throw new RangeError("one engine entry per chain");

  const now = opts.now ?? (() => new Date());
  const log = opts.log.child({ component: "settlement", worker: opts.workerId });
  const backoff = { baseMs: intervalMs, maxMs: Math.max(intervalMs, DEFAULTS.maxBackoffMs) };
  const contexts: ChainContext[] = opts.chains.map((chain) => ({
    db: opts.db,
    chain,
    worker: opts.workerId,
    log: log.child({ chainId: chain.chainId }),
    now,
    leaseMs,
    receiptTimeoutMs,
    backoff,
    lookbackBlocks,
    reservedGraceMs,
    gas: newGasState(opts.maxBatchGas),
    simulation: newSimulationState(simulation),
    onBatchMined: (batch) => {
      try {
        opts.onBatchMined?.(batch);
      } catch (error) {
        // The batch is recorded; a broken observer must not make it look otherwise.
        log.warn({ err: loggable(error) }, "onBatchMined failed");
      }
    },
  }));

  // Serialises this engine's operations (timer cycles, tests calling runOnce, reconcile).
  let tail: Promise<unknown> = Promise.resolve();
  function exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const run = tail.then(operation, operation);
    tail = run.catch(() => undefined);
    return run;
  }

  /** Whether the last cycle claimed a full load on some chain: then the next one starts at once. */
  let backlog = false;

  async function cycle(): Promise<CycleSummary> {
    const tally = emptyTally();
    let resumed = 0;
    let claimed = 0;
    let batches = 0;
    let full = false;
    for (const ctx of contexts) {
      try {
        // Batches a dead worker left in flight: found by their lapsed lease.
        resumed += (await reconcileInFlight(ctx, false, tally)).batches;
        const done = await settleChain(ctx, batchMax, batchesPerCycle, tally);
        claimed += done.claimed;
        batches += done.batches;
        full ||= done.full;
      } catch (error) {
        ctx.log.error({ err: loggable(error) }, "settlement cycle failed");
      }
    }
    backlog = full;
    return { resumed, claimed, batches, ...payments(tally) };
  }

  async function reconcileAll(): Promise<ReconcileSummary> {
    const tally = emptyTally();
    let batches = 0;
    let rebroadcast = 0;
    for (const ctx of contexts) {
      try {
        // Also batches leased to this worker id: at start they belong to a previous process.
        const done = await reconcileInFlight(ctx, true, tally);
        batches += done.batches;
        rebroadcast += done.rebroadcast;
        await reconcileAbandoned(ctx, tally);
      } catch (error) {
        ctx.log.error({ err: loggable(error) }, "reconciliation failed");
      }
    }
    return {
      batches,
      rebroadcast,
      confirmed: tally.confirmed,
      requeued: tally.requeued + tally.retried,
      released: tally.released,
      failed: tally.failed,
      undecided: tally.undecided,
    };
  }

  let running = false;
  let timer: NodeJS.Timeout | undefined;
  let loop: Promise<void> = Promise.resolve();
  let lastReconcile = Number.NEGATIVE_INFINITY;

  async function tick(): Promise<void> {
    try {
      if (Date.now() - lastReconcile >= DEFAULTS.reconcileEveryMs) {
        lastReconcile = Date.now();
        const summary = await exclusive(reconcileAll);
        if (summary.batches + summary.confirmed + summary.released + summary.failed + summary.requeued > 0) {
          log.info({ ...summary }, "reconciled");
        }
      }
      await exclusive(cycle);
    } catch (error) {
      log.error({ err: loggable(error) }, "settlement loop error");
    }
  }

  // A full cycle means more is due: the next starts at once, so a backlog drains as fast as the
  // chain takes it, and `intervalMs` only paces a trickle (and the first retry).
  function schedule(): void {
    if (!running) return;
    timer = setTimeout(
      () => {
        timer = undefined;
        loop = tick().finally(schedule);
      },
      backlog ? 0 : intervalMs,
    );
    timer.unref();
  }

  return {
    start() {
      if (running) return;
      running = true;
      loop = tick().finally(schedule);
    },
    async stop() {
      running = false;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await loop;
      await tail;
    },
    runOnce: () => exclusive(cycle),
    reconcile: () => exclusive(reconcileAll),
  };
}

function payments(tally: Tally): Pick<CycleSummary, "confirmed" | "failed" | "retried"> {
  return { confirmed: tally.confirmed, failed: tally.failed, retried: tally.retried + tally.requeued };
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}
