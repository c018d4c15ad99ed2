/**
 * Sending transactions the way each chain wants them, and explaining failures.
 *
 * SKALE chains (and local nodes with their chain ids) get legacy (type 0) transactions priced
 * with `eth_gasPrice`; other chains get whatever viem and the node choose. Every transaction
 * carries an explicit nonce so that a broadcast can be recorded before its receipt arrives.
 */
import {
  BaseError,
  ContractFunctionRevertedError,
  decodeErrorResult,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type ContractFunctionArgs,
  type ContractFunctionName,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from "viem";
import { usesLegacyTransactions } from "./chains.js";
import type { NetworkKind } from "./deployment-record.js";

export interface Logger {
  info(line: string): void;
  warn(line: string): void;
}

export const consoleLogger: Logger = {
  info: (line) => console.log(line),
  warn: (line) => console.warn(line),
};

export const silentLogger: Logger = { info: () => {}, warn: () => {} };

/** A logger that keeps every line, for tests. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (l) => lines.push(l), warn: (l) => lines.push(`WARN ${l}`) };
}

export interface TxPolicy {
  /** Send type 0 transactions with `gasPrice` from `eth_gasPrice`. */
  legacy: boolean;
  confirmations: number;
  timeoutMs: number;
  pollingIntervalMs: number;
}

export function txPolicyFor(chainId: number, kind: NetworkKind, env: NodeJS.ProcessEnv = process.env): TxPolicy {
  const confirmations = env.CONFIRMATIONS ? Number(env.CONFIRMATIONS) : 1;
  if (!Number.isInteger(confirmations) || confirmations < 1) throw new Error(`CONFIRMATIONS must be a positive integer, got "${env.CONFIRMATIONS}"`);
  const timeoutSeconds = env.TX_TIMEOUT_SECONDS ? Number(env.TX_TIMEOUT_SECONDS) : 180;
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new Error(`TX_TIMEOUT_SECONDS must be positive, got "${env.TX_TIMEOUT_SECONDS}"`);
  return {
    legacy: usesLegacyTransactions(chainId),
    confirmations,
    timeoutMs: timeoutSeconds * 1000,
    pollingIntervalMs: kind === "local" ? 50 : 1_000,
  };
}

export type SignerWallet = WalletClient<Transport, Chain, Account>;

export interface TxContext {
  publicClient: PublicClient;
  wallet: SignerWallet;
  policy: TxPolicy;
  log: Logger;
  /** ABIs with custom errors, to explain reverts. */
  errorAbis: Abi[];
}

/** Fee fields for the next transaction. */
export type FeeFields = { type: "legacy"; gasPrice: bigint } | Record<string, never>;

export async function feeFields(ctx: Pick<TxContext, "publicClient" | "policy">): Promise<FeeFields> {
  if (!ctx.policy.legacy) return {};
  return { type: "legacy", gasPrice: await ctx.publicClient.getGasPrice() };
}

export interface SendParams {
  nonce: number;
  fees: FeeFields;
}

/** The sender's next nonce, counting its pending transactions. */
export async function nextNonce(ctx: Pick<TxContext, "publicClient" | "wallet">): Promise<number> {
  return ctx.publicClient.getTransactionCount({ address: ctx.wallet.account.address, blockTag: "pending" });
}

export async function waitForReceipt(ctx: Pick<TxContext, "publicClient" | "policy">, hash: Hex): Promise<TransactionReceipt> {
  return ctx.publicClient.waitForTransactionReceipt({
    hash,
    confirmations: ctx.policy.confirmations,
    timeout: ctx.policy.timeoutMs,
    pollingInterval: ctx.policy.pollingIntervalMs,
  });
}

type WriteMutability = "nonpayable" | "payable";

/**
 * Simulates a contract call (so a revert is explained before anything is signed), then sends
 * it with the given nonce and fee fields. Type-checked against `abi` like viem's own calls.
 */
export async function sendContractCall<
  const abi extends Abi,
  functionName extends ContractFunctionName<abi, WriteMutability>,
>(
  ctx: Pick<TxContext, "publicClient" | "wallet">,
  call: {
    address: Address;
    abi: abi;
    functionName: functionName;
    args: ContractFunctionArgs<abi, WriteMutability, functionName>;
    value?: bigint;
  },
  { nonce, fees }: SendParams,
): Promise<Hex> {
  const account = ctx.wallet.account;
  // viem's overloads cannot follow the generic parameters through simulate -> write; the call
  // site above is fully typed, so the casts below do not weaken anything callers can do.
  const { request } = await ctx.publicClient.simulateContract({ ...call, account } as never);
  return ctx.wallet.writeContract({ ...(request as object), account, nonce, ...fees } as never);
}

/** Sends a plain value transfer. */
export async function sendValue(ctx: Pick<TxContext, "wallet">, to: Address, value: bigint, { nonce, fees }: SendParams): Promise<Hex> {
  return ctx.wallet.sendTransaction({ to, value, nonce, ...fees } as never);
}

/** Base class for failures the scripts expect and explain; printed without a stack trace. */
export class ScriptError extends Error {
  override name = "ScriptError";
}

/**
 * A one-line explanation of a failed call or transaction: the decoded custom error when one of
 * `abis` knows it, else viem's short message.
 */
export function explainError(error: unknown, abis: Abi[] = []): string {
  if (error instanceof BaseError) {
    const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
    if (reverted instanceof ContractFunctionRevertedError) {
      if (reverted.data) return `reverted with ${formatDecoded(reverted.data.errorName, reverted.data.args)}`;
      const raw = reverted.raw;
      if (raw) {
        for (const abi of abis) {
          try {
            const decoded = decodeErrorResult({ abi, data: raw });
            return `reverted with ${formatDecoded(decoded.errorName, decoded.args)}`;
          } catch {
            // try the next ABI
          }
        }
        return `reverted with unknown error data ${raw}`;
      }
      if (reverted.reason) return `reverted: ${reverted.reason}`;
    }
    const data = findRevertData(error);
    if (data) {
      for (const abi of abis) {
        try {
          const decoded = decodeErrorResult({ abi, data });
          return `reverted with ${formatDecoded(decoded.errorName, decoded.args)}`;
        } catch {
          // try the next ABI
        }
      }
    }
    return error.shortMessage;
  }
  return error instanceof Error ? error.message : String(error);
}

function findRevertData(error: BaseError): Hex | undefined {
  let found: Hex | undefined;
  error.walk((e) => {
    const data = (e as { data?: unknown }).data;
    if (typeof data === "string" && /^0x[0-9a-fA-F]{8,}$/.test(data)) found = data as Hex;
    return false;
  });
  return found;
}

function formatDecoded(name: string, args: readonly unknown[] | undefined): string {
  const rendered = (args ?? []).map((a) => (typeof a === "bigint" ? a.toString() : JSON.stringify(a)));
  return `${name}(${rendered.join(", ")})`;
}
