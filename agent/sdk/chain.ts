import {
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hash,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
  BaseError,
  ContractFunctionRevertedError,
  type Hex,
} from "viem";
import { usesLegacyTransactions } from "../../gateway/schemes/chain.js";
import { AgentError } from "./errors.js";

/** Reads one chain. */
export type AgentReader = PublicClient<Transport, Chain | undefined>;
/** Sends the agent's own transactions (transfers, deposits, withdrawals). */
export type AgentWallet = WalletClient<Transport, Chain | undefined, Account>;

/** The agent on one chain: who signs, and (for anything on chain) how to read and send. */
export interface AgentChain {
  readonly chainId: number;
  readonly account: Account;
  readonly publicClient?: AgentReader;
  readonly walletClient?: AgentWallet;
  /** How long to wait for a receipt; default 60 s. */
  readonly receiptTimeoutMs?: number;
}

/**
 * Signs EIP-712 data with the account itself when it can (a local key: no round trip), else
 * through the wallet client (a JSON-RPC account whose key lives in a node or a browser wallet).
 */
/** EIP-712 typed data as the gateway's modules build it (viem checks the shape when signing). */
export interface TypedData {
  readonly domain: object;
  readonly types: object;
  readonly primaryType: string;
  readonly message: object;
}

export async function signTypedData(agent: AgentChain, data: TypedData): Promise<Hex> {
  try {
    if (agent.account.signTypedData !== undefined) return await agent.account.signTypedData(data as never);
    if (agent.walletClient !== undefined) return await agent.walletClient.signTypedData({ ...(data as object), account: agent.account } as never);
  } catch (error) {
    throw new AgentError("payment_failed", `signing failed: ${describe(error)}`, undefined, { cause: error });
  }
  throw new AgentError("signer_unsupported", "the account cannot sign typed data and no wallet client was given");
}

export function requireReader(agent: AgentChain, what: string): AgentReader {
  if (agent.publicClient === undefined) throw new AgentError("signer_unsupported", `${what} needs a public client`);
  return agent.publicClient;
}

export function requireWallet(agent: AgentChain, what: string): AgentWallet {
  if (agent.walletClient === undefined) throw new AgentError("signer_unsupported", `${what} needs a wallet client to send transactions`);
  if (agent.walletClient.account.address.toLowerCase() !== agent.account.address.toLowerCase()) {
    throw new AgentError("invalid_argument", "the wallet client's account is not the paying account");
  }
  return agent.walletClient;
}

export interface ContractCall {
  readonly address: Address;
  readonly abi: Abi;
  readonly functionName: string;
  readonly args: readonly unknown[];
}

/**
 * One transaction of the agent's: simulated first (a refusal is reported with the contract's own
 * error name and nothing is sent), priced the chain's way (legacy with `eth_gasPrice` on SKALE),
 * then confirmed; a mined revert is an error too.
 */
export async function sendContract(agent: AgentChain, call: ContractCall, what: string): Promise<{ hash: Hash; receipt: TransactionReceipt }> {
  const reader = requireReader(agent, what);
  const wallet = requireWallet(agent, what);
  const request = { ...call, args: [...call.args], account: agent.account } as never;
  try {
    await reader.simulateContract(request);
  } catch (error) {
    throw refused(error, what);
  }
  let hash: Hash;
  try {
    const fees = usesLegacyTransactions(agent.chainId) ? { type: "legacy" as const, gasPrice: await reader.getGasPrice() } : {};
    hash = await wallet.writeContract({ ...(request as object), chain: wallet.chain ?? null, ...fees } as never);
  } catch (error) {
    throw refused(error, what);
  }
  return { hash, receipt: await confirm(agent, reader, hash, what) };
}

export async function confirm(agent: AgentChain, reader: AgentReader, hash: Hash, what: string): Promise<TransactionReceipt> {
  let receipt: TransactionReceipt;
  try {
    receipt = await reader.waitForTransactionReceipt({ hash, confirmations: 1, timeout: agent.receiptTimeoutMs ?? 60_000 });
  } catch (error) {
    throw new AgentError("chain_unavailable", `${what}: no receipt for ${hash} (${describe(error)})`, { transaction: hash }, { cause: error });
  }
  if (receipt.status !== "success") throw new AgentError("transaction_failed", `${what}: transaction ${hash} reverted`, { transaction: hash });
  return receipt;
}

/** A contract's refusal keeps its name (`WithdrawalLocked`…); anything else is the chain's fault. */
function refused(error: unknown, what: string): AgentError {
  if (error instanceof BaseError) {
    const revert = error.walk((e) => e instanceof ContractFunctionRevertedError);
    if (revert instanceof ContractFunctionRevertedError) {
      const name = revert.data?.errorName ?? revert.reason ?? "reverted";
      const args = revert.data?.args?.map((a) => (typeof a === "bigint" ? a.toString() : a));
      return new AgentError("transaction_failed", `${what} refused: ${name}`, { reason: name, args }, { cause: error });
    }
  }
  return new AgentError("chain_unavailable", `${what}: ${describe(error)}`, undefined, { cause: error });
}

export function describe(error: unknown): string {
  if (error instanceof BaseError) return error.shortMessage;
  return error instanceof Error ? error.message : String(error);
}
