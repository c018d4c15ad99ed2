import {
  type Abi,
  type Address,
  type Hash,
  type TransactionReceipt,
  BaseError,
  ContractFunctionRevertedError,
  ContractFunctionZeroDataError,
  type DecodeErrorResultReturnType,
  ExecutionRevertedError,
  NonceTooLowError,
} from "viem";
import { type KeyedMutex, createKeyedMutex } from "../lib/keyed-mutex.js";
import { type ErrorDetails, PaymentError } from "../x402/errors.js";
import { skaleChain } from "../x402/networks.js";
import type { ChainReader, SettleOptions, SettlementWallet } from "./types.js";

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

/** Gas estimates get this much headroom: state can shift between estimate and inclusion. */
const GAS_HEADROOM_PERCENT = 20n;

export function withHeadroom(gas: bigint): bigint {
  return gas + (gas * GAS_HEADROOM_PERCENT) / 100n;
}

/** What a settlement path needs to send one contract call. */
export interface SenderContext {
  readonly chainId: number;
  readonly reader: ChainReader;
  readonly wallet: SettlementWallet;
  /** How long to wait for the receipt before reporting `chain_unavailable`. */
  readonly receiptTimeoutMs: number;
}

/** One contract write, as the settlement paths build it. */
export interface ContractWrite {
  readonly address: Address;
  readonly abi: Abi;
  readonly functionName: string;
  readonly args: readonly unknown[];
}

/**
 * One settlement attempt of any scheme: estimate (which is also a last simulation, so a doomed
 * transaction is never broadcast), send with the chain's fee fields, and wait for one
 * confirmation. `refused` turns an estimate or send failure into the scheme's own error; a missing
 * receipt is `chain_unavailable` carrying the hash, since the transaction may still be mined and
 * the engine must reconcile by hash. Checking what the receipt says is the caller's job.
 */
/** Sends with a nonce that turned out to be taken, before giving up. */
const STALE_NONCE_ATTEMPTS = 3;

/** The node refused the transaction because its nonce is already used (or replaced). */
function isStaleNonce(error: unknown): boolean {
  if (error instanceof BaseError && error.walk((e) => e instanceof NonceTooLowError) !== null) return true;
  const text = error instanceof BaseError ? `${error.shortMessage} ${error.details}` : String(error);
  return /nonce (too low|is lower|provided for the transaction is lower)|replacement transaction underpriced/i.test(text);
}

/** One queue per (chain, sending account) in this process; see `sendAndConfirm`. */
const senders: KeyedMutex = createKeyedMutex();

export async function sendAndConfirm(
  ctx: SenderContext,
  call: ContractWrite,
  options: SettleOptions,
  refused: (error: unknown) => PaymentError,
  details: ErrorDetails,
): Promise<{ transaction: Hash; receipt: TransactionReceipt }> {
  const account = ctx.wallet.account;
  // viem's call types are generic over a literal ABI; the callers build their calls from theirs.
  const request = { ...call, args: [...call.args] } as never;

  let gas: bigint;
  try {
    gas = await ctx.reader.estimateContractGas({ ...(request as object), account } as never);
  } catch (error) {
    throw refused(error);
  }
  const fees = await feeFields(ctx.reader, ctx.chainId, options.gasPrice);

  let transaction: Hash;
  try {
    // Concurrent settlements from one account would all read the same pending nonce and collide
    // ("nonce too low"): take the nonce and hand the transaction to the node one at a time, so
    // each reads a pending count that includes the previous one. Receipts are awaited in parallel.
    // Another sender on this account (the settlement engine's batches, another replica) can still
    // take a nonce between our read and our send: a refusal for a stale nonce costs nothing, so
    // read the count again and resend, a bounded number of times.
    transaction = await senders.run(`${ctx.chainId}:${account.address.toLowerCase()}`, async () => {
      for (let attempt = 1; ; attempt++) {
        const nonce = options.nonce ?? (await ctx.reader.getTransactionCount({ address: account.address, blockTag: "pending" }));
        try {
          return await ctx.wallet.writeContract({
            ...(request as object),
            account,
            chain: ctx.wallet.chain ?? null,
            gas: withHeadroom(gas),
            nonce,
            ...fees,
          } as never);
        } catch (error) {
          if (options.nonce !== undefined || attempt >= STALE_NONCE_ATTEMPTS || !isStaleNonce(error)) throw error;
        }
      }
    });
  } catch (error) {
    throw refused(error);
  }

  try {
    const receipt = await ctx.reader.waitForTransactionReceipt({
      hash: transaction,
      confirmations: 1,
      timeout: ctx.receiptTimeoutMs,
    });
    return { transaction, receipt };
  } catch (error) {
    throw chainUnavailable("no receipt for the settlement transaction", error, { ...details, transaction });
  }
}
