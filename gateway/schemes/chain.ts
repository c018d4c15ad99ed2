import {
  BaseError,
  ContractFunctionRevertedError,
  ContractFunctionZeroDataError,
  type DecodeErrorResultReturnType,
  ExecutionRevertedError,
} from "viem";
import { type ErrorDetails, PaymentError } from "../x402/errors.js";
import { skaleChain } from "../x402/networks.js";
import type { ChainReader } from "./types.js";

/**
 * Chain plumbing shared by the scheme modules: telling a contract's refusal apart from a node that
 * cannot answer, and pricing transactions the way each chain wants.
 */

/**
 * What went wrong in a contract call. A `revert` is the contract's verdict and says something about
 * the payment; `no_data` means the address answered with nothing (no code, or not the expected
 * interface); `unavailable` is everything else (transport, timeouts, node errors) and says nothing
 * about the payment, so it must never turn into a rejection.
 */
export type CallFailure =
  | {
      readonly kind: "revert";
      /** The custom error, decoded against the call's ABI, when it is one the ABI knows. */
      readonly error: DecodeErrorResultReturnType | undefined;
      /** `Error(string)` / panic text, or the node's revert message when there was no data. */
      readonly reason: string | undefined;
    }
  | { readonly kind: "no_data" }
  | { readonly kind: "unavailable" };

export function classifyCallError(error: unknown): CallFailure {
  if (!(error instanceof BaseError)) return { kind: "unavailable" };
  if (error.walk((e) => e instanceof ContractFunctionZeroDataError) !== null) return { kind: "no_data" };
  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
  if (reverted instanceof ContractFunctionRevertedError && isRevert(reverted)) {
    return { kind: "revert", error: reverted.data, reason: reverted.reason };
  }
  // Nodes answering a revert without data as -32000 "execution reverted" (geth) get past viem's
  // contract-error mapping; its node-error mapping still recognizes them.
  const bare = error.walk((e) => e instanceof ExecutionRevertedError);
  if (bare instanceof ExecutionRevertedError) return { kind: "revert", error: undefined, reason: bare.shortMessage };
  return { kind: "unavailable" };
}

/**
 * viem also builds a `ContractFunctionRevertedError` from a bare JSON-RPC "internal error"
 * (-32603), which some nodes answer for a revert and others for their own failures. Only revert
 * data, or a message that says so, makes it the contract's verdict.
 */
function isRevert(error: ContractFunctionRevertedError): boolean {
  if (error.raw !== undefined && error.raw !== "0x") return true;
  if (error.data !== undefined) return true;
  return /revert/i.test(error.reason ?? "") || /revert/i.test(error.details);
}

/** The one way schemes report a chain they cannot reach; the cause stays attached for the logs. */
export function chainUnavailable(what: string, cause: unknown, details?: ErrorDetails): PaymentError {
  const summary = cause instanceof BaseError ? cause.shortMessage : cause instanceof Error ? cause.message : String(cause);
  return new PaymentError("chain_unavailable", `${what}: ${summary}`, details, { cause });
}

/**
 * SKALE chains have no EIP-1559 fee market: they take legacy (type 0) transactions priced with
 * `eth_gasPrice`. Everything else gets EIP-1559.
 */
export function usesLegacyTransactions(chainId: number): boolean {
  return skaleChain(chainId) !== undefined;
}

export type FeeFields =
  | { readonly type: "legacy"; readonly gasPrice: bigint }
  | { readonly type: "eip1559"; readonly maxFeePerGas: bigint; readonly maxPriorityFeePerGas: bigint }
  | { readonly type: "eip1559" };

/**
 * Fee fields for a transaction on `chainId`. An explicit `gasPrice` is used as is (on EIP-1559
 * chains as both caps, i.e. a fixed price); otherwise legacy chains ask the node and EIP-1559
 * chains leave the estimate to viem. Throws `chain_unavailable` when the node cannot say.
 */
export async function feeFields(reader: ChainReader, chainId: number, gasPrice?: bigint): Promise<FeeFields> {
  if (usesLegacyTransactions(chainId)) {
    if (gasPrice !== undefined) return { type: "legacy", gasPrice };
    try {
      return { type: "legacy", gasPrice: await reader.getGasPrice() };
    } catch (error) {
      throw chainUnavailable("eth_gasPrice failed", error);
    }
  }
  if (gasPrice !== undefined) return { type: "eip1559", maxFeePerGas: gasPrice, maxPriorityFeePerGas: gasPrice };
  return { type: "eip1559" };
}
