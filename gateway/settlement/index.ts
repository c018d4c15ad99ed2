/**
 * The settlement engine: durable, batched, asynchronous settlement of accepted escrow payments,
 * and reconciliation of the ledger with the chain after a crash. See docs/settlement-engine.md.
 */
export { createSettlementEngine } from "./engine.js";
export { settlementBacklog, type SettlementBacklog } from "./backlog.js";
export { PAYMENT_RETRY_LIMIT, failurePolicy, type FailurePolicy } from "./policy.js";
export { SIMULATION_POLICIES, type SimulationPolicy } from "./simulation.js";
export {
  DEFAULTS as SETTLEMENT_DEFAULTS,
  type CycleSummary,
  type EngineChain,
  type MinedBatchSummary,
  type ReconcileSummary,
  type SettlementEngine,
  type SettlementEngineOptions,
} from "./types.js";
