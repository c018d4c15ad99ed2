import { homedir } from "node:os";
import path from "node:path";
import { type Address, type PrivateKeyAccount, createPublicClient, createWalletClient, defineChain, getAddress, http, isAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { type DeploymentRecord, DeploymentRecordError, findToken, readDeploymentRecord } from "../../scripts/lib/deployment-record.js";
import { type AgentReader, type AgentWallet, DailyBudget, erc20Abi, jsonFileBudgetStore } from "../sdk/index.js";
import { CliError, EXIT } from "./errors.js";

export interface CliIo {
  /** The command's result (a response body): what a pipe receives. */
  stdout(text: string): void;
  /** Tables, progress and errors. */
  stderr(text: string): void;
}

export interface CliToken {
  readonly address: Address;
  readonly symbol: string;
  readonly decimals: number;
}

export interface CliContext {
  readonly env: NodeJS.ProcessEnv;
  readonly io: CliIo;
  readonly account: PrivateKeyAccount;
  readonly chainId: number;
  readonly publicClient: AgentReader;
  readonly walletClient: AgentWallet;
  readonly record: DeploymentRecord | undefined;
  readonly budget: DailyBudget;
  readonly budgetFile: string;
  /** The SettlementEscrow from the deployment record. */
  escrow(): Address;
  /** A token by deployment key, symbol or address; decimals come from the token contract. */
  token(ref: string): Promise<CliToken>;
  /** Every token of the deployment record, in its order. */
  recordTokens(): Promise<CliToken[]>;
}

const PRIVATE_KEY = /^0x[0-9a-fA-F]{64}$/;

function required(env: NodeJS.ProcessEnv, name: string, what: string): string {
  const value = env[name]?.trim();
  if (value === undefined || value === "") throw new CliError(`${name} is not set: ${what}`);
  return value;
}

/** Where an RPC URL points, without its path or query (which often carry an API key). */
export function rpcHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "(unparseable URL)";
  }
}

/**
 * Everything a command needs, from the environment: the key (AGENT_PRIVATE_KEY, never printed),
 * the chain (RPC_URL, whose chain id must match the deployment record), the deployment record
 * (DEPLOYMENTS_FILE) and the budget file (AGENT_BUDGET_FILE, default ~/.payperagent/agent-budget.json).
 */
export async function loadContext(env: NodeJS.ProcessEnv, io: CliIo, needs: { readonly record: boolean }): Promise<CliContext> {
  const key = required(env, "AGENT_PRIVATE_KEY", "the agent's private key (0x + 64 hex digits)");
  if (!PRIVATE_KEY.test(key)) throw new CliError("AGENT_PRIVATE_KEY must be 0x followed by 64 hex digits");
  const account = privateKeyToAccount(key as `0x${string}`);
  const rpcUrl = required(env, "RPC_URL", "the chain's JSON-RPC endpoint");
  if (!URL.canParse(rpcUrl)) throw new CliError("RPC_URL is not a URL");

  const recordFile = env["DEPLOYMENTS_FILE"]?.trim();
  let record: DeploymentRecord | undefined;
  if (recordFile !== undefined && recordFile !== "") {
    try {
      record = readDeploymentRecord(recordFile);
    } catch (error) {
      const reason = error instanceof DeploymentRecordError ? error.message : String(error);
      throw new CliError(`DEPLOYMENTS_FILE cannot be read: ${reason}`);
    }
  } else if (needs.record) {
    throw new CliError("DEPLOYMENTS_FILE is not set: the deployment record (deployments/<network>.json) naming the escrow and tokens");
  }

  const transport = http(rpcUrl, { retryCount: 1, timeout: 30_000 });
  const probe = createPublicClient({ transport });
  let chainId: number;
  try {
    chainId = await probe.getChainId();
  } catch {
    throw new CliError(`cannot reach the RPC at ${rpcHost(rpcUrl)}`, EXIT.unavailable);
  }
  if (record !== undefined && record.chainId !== chainId) {
    throw new CliError(`RPC_URL serves chain ${chainId} but ${recordFile} is for chain ${record.chainId}`);
  }
  const chain = defineChain({
    id: chainId,
    name: record?.network ?? `chain ${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 250 }) as AgentReader;
  const walletClient = createWalletClient({ account, chain, transport }) as AgentWallet;
  const budgetFile = env["AGENT_BUDGET_FILE"]?.trim() || path.join(homedir(), ".payperagent", "agent-budget.json");

  const tokenCache = new Map<string, Promise<CliToken>>();
  const token = (ref: string): Promise<CliToken> => {
    const known = record === undefined ? undefined : findToken(record, ref);
    if (known === undefined && !isAddress(ref, { strict: false })) {
      const names = record?.tokens.map((t) => t.key).join(", ");
      return Promise.reject(new CliError(`unknown token "${ref}"${names ? `; known: ${names}` : "; give its address"}`));
    }
    const address = getAddress(known?.address ?? ref);
    let cached = tokenCache.get(address);
    if (cached === undefined) {
      cached = (async () => {
        try {
          const decimals = await publicClient.readContract({ address, abi: erc20Abi, functionName: "decimals" });
          const symbol = known?.key ?? (await publicClient.readContract({ address, abi: erc20Abi, functionName: "symbol" }));
          return { address, symbol, decimals };
        } catch {
          throw new CliError(`${ref} (${address}) does not answer like an ERC-20 token on chain ${chainId}`, EXIT.unavailable);
        }
      })();
      tokenCache.set(address, cached);
    }
    return cached;
  };

  return {
    env,
    io,
    account,
    chainId,
    publicClient,
    walletClient,
    record,
    budget: new DailyBudget(jsonFileBudgetStore(budgetFile)),
    budgetFile,
    escrow() {
      const address = record?.contracts.SettlementEscrow?.address;
      if (address === undefined) throw new CliError("the deployment record has no SettlementEscrow");
      return getAddress(address);
    },
    token,
    recordTokens: () => Promise.all((record?.tokens ?? []).filter((t) => t.status !== "Removed").map((t) => token(t.address))),
  };
}
