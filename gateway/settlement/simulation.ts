import { settlementEscrowAbi } from "../schemes/escrow/abi.js";
import type { ChainContext } from "./context.js";
import { forgetEoaPayers } from "./gas.js";
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
 * - `retries` (default): a payment the escrow has not refused goes out unsimulated. One it
 *   refused or skipped before is simulated, so a payment that keeps failing costs one `eth_call`
 *   per attempt, not a batch entry; one only deferred because the chain was unavailable is not
 *   (after an outage the backlog drains at full speed). Everything is simulated while the escrow
 *   is paused, and for {@link SIMULATE_AFTER_REVERT_MS} after this engine saw a batch of the chain
 *   revert, so a cause that reverts every batch cannot revert one per cycle.
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

/**
 * Called for every reverted batch the engine records, whoever sent it. Its payers are forgotten as
 * EOAs: one that gained code since it was looked up (an EIP-7702 delegation) would otherwise be
 * counted at the EOA bound again, and revert its next unsimulated batch too.
 */
export function noteRevertedBatch(ctx: ChainContext, payers: readonly string[]): void {
  ctx.simulation.lastRevertAt = ctx.now().getTime();
  forgetEoaPayers(ctx, payers);
}

/**
 * A payment the escrow has not refused or skipped: never tried, or only deferred because the chain
 * could not be reached (`retryAll`'s `chain_unavailable: …`). The batches it goes in may skip the
 * simulation.
 */
export function notRefusedBefore(row: Pick<PaymentRow, "attempts" | "failure_reason">): boolean {
  return row.attempts === 0 || row.failure_reason?.startsWith("chain_unavailable:") === true;
}

/**
 * Whether a batch may go unsimulated now: the policy allows it, this engine saw no batch of the
 * chain revert lately (asked per batch: a revert recorded mid-cycle stops the cycle's later
 * batches), and the escrow is not paused (`paused`, read once per cycle).
 */
export async function maySkipSimulation(ctx: ChainContext, paused: () => Promise<boolean>): Promise<boolean> {
  const state = ctx.simulation;
  if (state.policy === "always") return false;
  if (ctx.now().getTime() - state.lastRevertAt < SIMULATE_AFTER_REVERT_MS) return false;
  return !(await paused());
}

/** Whether the escrow is paused; a node that cannot say counts as paused (the simulation then reports the node's failure the usual way). */
export async function escrowPaused(ctx: ChainContext): Promise<boolean> {
  try {
    return await ctx.chain.publicClient.readContract({ address: ctx.chain.escrow, abi: settlementEscrowAbi, functionName: "paused" });
  } catch {
    return true;
  }
}
