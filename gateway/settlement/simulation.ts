import { settlementEscrowAbi } from "../schemes/escrow/abi.js";
import type { ChainContext } from "./context.js";
import type { PaymentRow } from "./rows.js";

/**
 * Whether a batch is simulated (`eth_call`) before it is sent (docs/settlement-engine.md,
 * "Simulation"). The simulation executes the whole batch once more on the node, which is what
 * limits settlement throughput; and the escrow already reports, in the mined batch, every entry it
 * skips (`PaymentFailed`), which the engine resolves exactly as it resolves a simulated refusal.
 * So a simulation only saves the gas of entries that would be skipped, and of a batch that would
 * revert as a whole.
 *
 * - `always`: every batch is simulated, and only the entries it passes are sent.
 * - `retries` (default): a payment on its first attempt goes out unsimulated. One that failed
 *   before (skipped in a mined batch, refused, deferred) is simulated, so a payment that keeps
 *   failing costs one `eth_call` per attempt, not a batch entry. Everything is simulated while
 *   the escrow is paused, and for {@link SIMULATE_AFTER_REVERT_MS} after a batch of this chain
 *   reverted, so a cause that reverts every batch cannot revert one per cycle.
 */
export type SimulationPolicy = "always" | "retries";

export const SIMULATION_POLICIES: readonly SimulationPolicy[] = ["always", "retries"];

/** Per engine and chain. */
export interface SimulationState {
  readonly policy: SimulationPolicy;
  /** When (the engine's clock, ms) a batch of this chain was last seen reverted; -Infinity if never. */
  lastRevertAt: number;
}

export const SIMULATE_AFTER_REVERT_MS = 60_000;

export function newSimulationState(policy: SimulationPolicy): SimulationState {
  return { policy, lastRevertAt: Number.NEGATIVE_INFINITY };
}

/** Called for every reverted batch the engine records, whoever sent it. */
export function noteRevertedBatch(ctx: ChainContext): void {
  ctx.simulation.lastRevertAt = ctx.now().getTime();
}

/** A payment that has not failed before: the batches it goes in may skip the simulation. */
export function firstAttempt(row: Pick<PaymentRow, "attempts">): boolean {
  return row.attempts === 0;
}

/**
 * Whether this cycle's first-attempt batches may go unsimulated: the policy allows it, no batch
 * reverted lately, and the escrow is not paused (one read per cycle; a node that cannot say means
 * simulate, which reports the node's failure the usual way).
 */
export async function cycleMaySkipSimulation(ctx: ChainContext): Promise<boolean> {
  const state = ctx.simulation;
  if (state.policy === "always") return false;
  if (ctx.now().getTime() - state.lastRevertAt < SIMULATE_AFTER_REVERT_MS) return false;
  try {
    const paused = await ctx.chain.publicClient.readContract({ address: ctx.chain.escrow, abi: settlementEscrowAbi, functionName: "paused" });
    return !paused;
  } catch {
    return false;
  }
}
