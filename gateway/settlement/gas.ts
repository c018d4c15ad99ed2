import type { Address, Hex } from "viem";
import { chainUnavailable } from "../schemes/chain.js";
import {
  type EscrowBatchEntry,
  type EscrowBatchFees,
  type EscrowBatchTransaction,
  MAX_TRANSACTION_GAS,
  escrowBatchFees,
  escrowBatchGasLimit,
  maxPricePerGas,
} from "../schemes/escrow/batch.js";
import type { ChainContext } from "./context.js";

/**
 * Gas and fees of the engine's batches (docs/settlement-engine.md, "Gas"). A batch carries a gas
 * limit bounded from what it holds (`escrowBatchGasLimit`) rather than estimated: the estimate
 * searches for the limit by executing the batch a dozen times over, which cost more than anything
 * else the engine did. A batch that is simulated runs with that limit, so a bound that would not
 * do shows there, and the batch then takes the estimated path; one that is not (simulation.ts)
 * has its payers looked up first, and a bound that still fails shows as a revert on chain.
 */

/** Per engine and chain: what is read once and kept. */
export interface GasState {
  /** Operator's ceiling for one batch's gas limit (`maxBatchGas`). */
  readonly configuredCap: bigint | undefined;
  /** The ceiling in force, once the block gas limit was read (or is being read). */
  cap: Promise<bigint> | undefined;
  capReadAt: number;
  /**
   * Payers seen with code (a contract wallet, an EIP-7702 account), counted at the ERC-1271 bound.
   * Only ever grows within a process (bounded by {@link PAYERS_KEPT}): a payer that loses
   * its code is just over-provisioned.
   */
  readonly contractPayers: Set<string>;
  /**
   * Payers looked up without code, so an unsimulated batch (which has no simulation to reveal a
   * payer with code) need not look them up again. Bounded like `contractPayers`. One that gains
   * code later (an EIP-7702 delegation) shows up as a starved entry (`InvalidSignature`, whose
   * retry is simulated, which finds it) or as a reverted batch, whose payers are forgotten here and
   * looked up again before their next unsimulated batch.
   */
  readonly eoaPayers: Set<string>;
}

/** The block gas limit is read again this often: chains do raise or lower it, rarely. */
const CAP_TTL_MS = 10 * 60_000;
const PAYERS_KEPT = 10_000;

export function newGasState(configuredCap: bigint | undefined): GasState {
  return { configuredCap, cap: undefined, capReadAt: Number.NEGATIVE_INFINITY, contractPayers: new Set(), eoaPayers: new Set() };
}

/**
 * The most gas one batch may carry: half the block gas limit (the rest stays for everyone else,
 * the gateway's synchronous settlements among them) and at most 2^24 (EIP-7825: chains from Osaka
 * on refuse more, whatever their blocks hold), or the configured `maxBatchGas` if lower, or higher
 * than 2^24 on a chain that allows it, never above the block gas limit itself, which no node would
 * accept. A batch whose bound exceeds this gets an estimated limit instead.
 */
export async function batchGasCap(ctx: ChainContext): Promise<bigint> {
  const state = ctx.gas;
  if (state.cap !== undefined && Date.now() - state.capReadAt < CAP_TTL_MS) return state.cap;
  const previous = state.cap;
  state.capReadAt = Date.now();
  state.cap = ctx.chain.publicClient.getBlock({ blockTag: "latest" }).then(
    (block) => capFor(block.gasLimit, state.configuredCap),
    async (error: unknown) => {
      // An older ceiling is still good for a while; none at all means no batch can be sized.
      const older = previous === undefined ? undefined : await previous.catch(() => undefined);
      if (older !== undefined) return older;
      state.cap = undefined;
      throw chainUnavailable("eth_getBlockByNumber failed", error);
    },
  );
  return state.cap;
}

export function capFor(blockGasLimit: bigint, configured: bigint | undefined): bigint {
  const fallback = blockGasLimit / 2n < MAX_TRANSACTION_GAS ? blockGasLimit / 2n : MAX_TRANSACTION_GAS;
  const wanted = configured ?? fallback;
  return wanted < blockGasLimit ? wanted : blockGasLimit;
}

/** The bounded limit of `entries`, or undefined when it is above `cap` (the batch is then estimated). */
export function boundedLimit(ctx: ChainContext, cap: bigint) {
  return (entries: readonly EscrowBatchEntry[], data: Hex): bigint | undefined => {
    const limit = escrowBatchGasLimit(entries, data, ctx.gas.contractPayers);
    return limit <= cap ? limit : undefined;
  };
}

/** Of `payers`, those with code now. Throws `chain_unavailable` when the node cannot say. */
export async function payersWithCode(ctx: ChainContext, payers: readonly Address[]): Promise<Address[]> {
  const distinct = [...new Map(payers.map((p) => [p.toLowerCase(), p])).values()];
  try {
    const codes = await Promise.all(distinct.map((address) => ctx.chain.publicClient.getCode({ address })));
    return distinct.filter((_, i) => (codes[i] ?? "0x") !== "0x");
  } catch (error) {
    throw chainUnavailable("eth_getCode failed", error);
  }
}

export function rememberContractPayers(ctx: ChainContext, payers: readonly Address[]): void {
  remember(ctx.gas.contractPayers, payers);
  forgetEoaPayers(ctx, payers);
}

/**
 * Looks up the payers this process has not classified yet, so the bound counts each at what it
 * is: an unsimulated batch that counted a contract wallet as an EOA would starve it or revert.
 * Throws `chain_unavailable` when the node cannot say.
 */
export async function classifyPayers(ctx: ChainContext, payers: readonly Address[]): Promise<void> {
  const { contractPayers, eoaPayers } = ctx.gas;
  const unknown = payers.filter((payer) => !contractPayers.has(payer.toLowerCase()) && !eoaPayers.has(payer.toLowerCase()));
  if (unknown.length === 0) return;
  const withCode = await payersWithCode(ctx, unknown);
  const contracts = new Set(withCode.map((payer) => payer.toLowerCase()));
  rememberContractPayers(ctx, withCode);
  remember(eoaPayers, unknown.filter((payer) => !contracts.has(payer.toLowerCase())));
}

export function forgetEoaPayers(ctx: ChainContext, payers: readonly string[]): void {
  for (const payer of payers) ctx.gas.eoaPayers.delete(payer.toLowerCase());
}

function remember(known: Set<string>, payers: readonly Address[]): void {
  if (known.size + payers.length > PAYERS_KEPT) known.clear();
  for (const payer of payers) known.add(payer.toLowerCase());
}

/**
 * One cycle's view of what the signer can pay: fees and balance are read once per cycle (the
 * batches of a cycle go out within a second or so of each other), and each stored batch reserves
 * its limit × price, so the cycle never stores more than the signer could pay if every batch used
 * its whole limit. A node refuses a transaction its sender cannot cover, and a stored batch no
 * node takes would block every nonce after it.
 */
export interface CycleFunds {
  fees(): Promise<EscrowBatchFees>;
  /** Whether `gas` more at the cycle's price fits what is left of the balance. */
  affords(gas: bigint): Promise<boolean>;
  /** A stored transaction's most it can cost, no longer available to the cycle's next batches. */
  reserve(transaction: EscrowBatchTransaction): void;
}

export function cycleFunds(ctx: ChainContext): CycleFunds {
  const reader = ctx.chain.publicClient;
  let fees: Promise<EscrowBatchFees> | undefined;
  let balance: Promise<bigint> | undefined;
  let reserved = 0n;
  const feesOnce = () => (fees ??= escrowBatchFees(reader, ctx.chain.chainId));
  const balanceOnce = () =>
    (balance ??= reader.getBalance({ address: ctx.chain.walletClient.account.address }).catch((error: unknown) => {
      throw chainUnavailable("eth_getBalance failed", error);
    }));
  const cost = async (gas: bigint) => gas * maxPricePerGas(await feesOnce());
  return {
    fees: feesOnce,
    async affords(gas) {
      const [price, held] = await Promise.all([cost(gas), balanceOnce()]);
      return reserved + price <= held;
    },
    reserve(transaction) {
      const price = transaction.type === "legacy" ? (transaction.gasPrice ?? 0n) : (transaction.maxFeePerGas ?? 0n);
      reserved += (transaction.gas ?? 0n) * price;
    },
  };
}
