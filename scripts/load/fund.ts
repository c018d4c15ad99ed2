/**
 * Funds many load-test agents on the local chain at once. The `ppa fund-agent` task funds one
 * agent per Hardhat process, which is minutes for 200 agents; here the deployer (owner of the
 * mock tokens) sends gas money and mints back to back with explicit nonces, and the agents then
 * wrap WETH, approve, deposit and commit in parallel, each with its own nonce sequence.
 */
import { type Address, type Hex, type PublicClient, createWalletClient, erc20Abi, http, parseAbi, parseEther } from "viem";
import { type HDAccount, generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from "viem/accounts";
import { escrowAccountAbi } from "../../agent/sdk/index.js";

/** Hardhat's public development mnemonic; index 0 deployed the mocks and owns them. Local chains only. */
const DEV_MNEMONIC = "test test test test test test test test test test test junk";

export type LoadToken = "USDC" | "USDT" | "SKL" | "WETH";
export type LoadScheme = "exact" | "escrow" | "transfer";

export interface TokenRef {
  readonly symbol: LoadToken;
  readonly address: Address;
  readonly decimals: number;
}

export interface LoadAgentPlan {
  readonly key: Hex;
  readonly address: Address;
  readonly token: TokenRef;
  readonly scheme: LoadScheme;
}

const mintAbi = parseAbi(["function mint(address to, uint256 amount)"]);
const wethAbi = parseAbi(["function deposit() payable"]);

/**
 * Agent i pays with token i mod 4; USDC agents rotate exact / escrow / transfer, the others
 * escrow / escrow / transfer (exact needs EIP-3009, which only USDC has). So every token is paid
 * through the escrow and by transfer, and USDC also by EIP-3009.
 */
export function planAgents(count: number, tokens: readonly TokenRef[]): LoadAgentPlan[] {
  const order: LoadToken[] = ["USDC", "USDT", "SKL", "WETH"];
  return Array.from({ length: count }, (_, i) => {
    const token = tokens.find((t) => t.symbol === order[i % order.length]);
    if (token === undefined) throw new Error(`the deployment has no ${order[i % order.length]}`);
    const round = Math.floor(i / order.length) % 3;
    const scheme: LoadScheme = token.symbol === "USDC" ? (["exact", "escrow", "transfer"] as const)[round]! : round === 2 ? "transfer" : "escrow";
    const key = generatePrivateKey();
    return { key, address: privateKeyToAccount(key).address, token, scheme };
  });
}

/** Ten dollars' worth (at the demo prices) of the agent's token: far more than a minute of calls costs. */
export function fundingAmount(token: TokenRef): bigint {
  switch (token.symbol) {
    case "USDC":
    case "USDT":
      return 10n * 10n ** BigInt(token.decimals);
    case "SKL":
      return 1_000n * 10n ** BigInt(token.decimals);
    case "WETH":
      return 10n ** BigInt(token.decimals) / 100n;
  }
}

export interface FundOptions {
  readonly rpcUrl: string;
  readonly publicClient: PublicClient;
  readonly escrow: Address;
  readonly payTo: Address;
  readonly agents: readonly LoadAgentPlan[];
  /** Agents funding themselves at the same time. */
  readonly concurrency?: number;
}

export async function fundAgents(options: FundOptions): Promise<void> {
  const { publicClient, agents } = options;
  const deployer: HDAccount = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: 0 });
  const wallet = createWalletClient({ account: deployer, transport: http(options.rpcUrl) });
  let nonce = await publicClient.getTransactionCount({ address: deployer.address, blockTag: "pending" });
  let last: Hex | undefined;
  for (const agent of agents) {
    last = await wallet.sendTransaction({ to: agent.address, value: parseEther("1"), nonce: nonce++, chain: null });
    if (agent.token.symbol !== "WETH") {
      last = await wallet.writeContract({
        address: agent.token.address,
        abi: mintAbi,
        functionName: "mint",
        args: [agent.address, fundingAmount(agent.token)],
        nonce: nonce++,
        chain: null,
      });
    }
  }
  if (last !== undefined) await publicClient.waitForTransactionReceipt({ hash: last });

  const queue = [...agents];
  const worker = async () => {
    for (let agent = queue.shift(); agent !== undefined; agent = queue.shift()) await selfFund(options, agent);
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 20 }, worker));
}

async function selfFund(options: FundOptions, agent: LoadAgentPlan): Promise<void> {
  const wallet = createWalletClient({ account: privateKeyToAccount(agent.key), transport: http(options.rpcUrl) });
  const amount = fundingAmount(agent.token);
  const hashes: Hex[] = [];
  let nonce = 0;
  if (agent.token.symbol === "WETH") {
    hashes.push(await wallet.writeContract({ address: agent.token.address, abi: wethAbi, functionName: "deposit", value: amount, nonce: nonce++, chain: null }));
  }
  if (agent.scheme === "escrow") {
    const token = agent.token.address;
    hashes.push(await wallet.writeContract({ address: token, abi: erc20Abi, functionName: "approve", args: [options.escrow, amount], nonce: nonce++, chain: null }));
    hashes.push(await wallet.writeContract({ address: options.escrow, abi: escrowAccountAbi, functionName: "deposit", args: [token, amount], nonce: nonce++, chain: null }));
    hashes.push(
      await wallet.writeContract({ address: options.escrow, abi: escrowAccountAbi, functionName: "commit", args: [token, options.payTo, amount], nonce: nonce++, chain: null }),
    );
  }
  for (const hash of hashes) {
    const receipt = await options.publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error(`funding transaction ${hash} of agent ${agent.address} reverted`);
  }
}
