/**
 * A local chain for the sections that load the gateway or the settlement engine: `npx hardhat
 * node` (EDR, automine, SKALE Base Sepolia's chain id) in a child process, the project's own
 * deployment script with mock tokens, and payer accounts that each hold a deposit in the escrow
 * and a commitment to the payee, so their payments are served on credit (async), the way a
 * committed agent's are. Uses scripts/lib/local-stack.ts, the same steps `npm start` takes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  type Address,
  type Hex,
  createPublicClient,
  createWalletClient,
  defineChain,
  erc20Abi,
  getAddress,
  http,
  parseAbi,
} from "viem";
import { generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from "viem/accounts";
import { readDeploymentRecord } from "../../scripts/lib/deployment-record.js";
import { deployLocal, freePort, localRoleKeys, stackPaths, startLocalChain } from "../../scripts/lib/local-stack.js";

export const BENCH_CHAIN_ID = 324705682;

/** Hardhat's public development mnemonic, index 0: deployed the mocks, so it may mint them. */
const DEPLOYER = mnemonicToAccount("test test test test test test test test test test test junk", { addressIndex: 0 });

const mintAbi = parseAbi(["function mint(address to, uint256 amount)"]);
const escrowFundingAbi = parseAbi([
  "function depositFor(address token, address account, uint256 amount)",
  "function commit(address token, address payee, uint256 amount)",
]);

export interface BenchChain {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly deploymentsFile: string;
  readonly escrow: Address;
  readonly usdc: Address;
  /** Receives the payments (Hardhat account 2). */
  readonly payTo: Address;
  /** Signs settlements and pays their gas (Hardhat account 1). */
  readonly signerKey: Hex;
  stop(): Promise<void>;
}

export function viemChain(rpcUrl: string) {
  return defineChain({
    id: BENCH_CHAIN_ID,
    name: "bench (hardhat node)",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

/** Starts the node and deploys the registry, the escrow and the mock tokens (~5 s). */
export async function startBenchChain(log: (message: string) => void): Promise<BenchChain> {
  const dir = mkdtempSync(path.join(tmpdir(), "bench-chain-"));
  const paths = stackPaths(dir);
  const node = await startLocalChain(await freePort(0));
  try {
    await deployLocal(node.rpcUrl, paths);
    const record = readDeploymentRecord(paths.deploymentsFile);
    const escrow = record.contracts.SettlementEscrow?.address;
    const usdc = record.tokens.find((t) => t.symbol.startsWith("USDC"))?.address;
    if (escrow === undefined || usdc === undefined) throw new Error("the local deployment has no escrow or no USDC");
    const roles = localRoleKeys();
    log(`chain ${node.rpcUrl}: escrow ${escrow}, USDC ${usdc}`);
    return {
      rpcUrl: node.rpcUrl,
      chainId: BENCH_CHAIN_ID,
      deploymentsFile: paths.deploymentsFile,
      escrow: getAddress(escrow),
      usdc: getAddress(usdc),
      payTo: getAddress(roles.payee),
      signerKey: roles.settlementSigner,
      async stop() {
        await node.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

export interface FundedPayers {
  readonly keys: readonly Hex[];
  readonly addresses: readonly Address[];
}

/**
 * `count` new payer accounts, each with `deposit` USDC in the escrow (deposited for it by the
 * deployer, who mints it) and `commit` of it committed to `payTo`. Gas money comes from
 * `hardhat_setBalance`, so each payer sends exactly one transaction (its commit).
 */
export async function fundPayers(
  chain: BenchChain,
  count: number,
  amounts: { readonly deposit: bigint; readonly commit: bigint },
  log: (message: string) => void,
): Promise<FundedPayers> {
  const started = performance.now();
  const viem = viemChain(chain.rpcUrl);
  const publicClient = createPublicClient({ chain: viem, transport: http(chain.rpcUrl) });
  const deployer = createWalletClient({ account: DEPLOYER, chain: viem, transport: http(chain.rpcUrl) });
  const keys = Array.from({ length: count }, () => generatePrivateKey());
  const addresses = keys.map((k) => privateKeyToAccount(k).address);
  const total = amounts.deposit * BigInt(count);

  const wait = async (hash: Hex) => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 20 });
    if (receipt.status !== "success") throw new Error(`funding transaction ${hash} reverted`);
  };
  await wait(await deployer.writeContract({ address: chain.usdc, abi: mintAbi, functionName: "mint", args: [DEPLOYER.address, total] }));
  await wait(await deployer.writeContract({ address: chain.usdc, abi: erc20Abi, functionName: "approve", args: [chain.escrow, total] }));

  // Automine: every transaction is mined as it arrives, so explicit nonces let the deposits go
  // out back to back without a receipt wait each.
  let nonce = await publicClient.getTransactionCount({ address: DEPLOYER.address, blockTag: "pending" });
  const deposits: Hex[] = [];
  for (const payer of addresses) {
    deposits.push(
      await deployer.writeContract({
        address: chain.escrow,
        abi: escrowFundingAbi,
        functionName: "depositFor",
        args: [chain.usdc, payer, amounts.deposit],
        nonce: nonce++,
        gas: 200_000n,
      }),
    );
  }
  for (const hash of deposits) await wait(hash);

  const gasMoney = `0x${(10n ** 20n).toString(16)}`;
  for (const payer of addresses) await publicClient.request({ method: "hardhat_setBalance" as never, params: [payer, gasMoney] as never });
  const commits: Hex[] = [];
  for (const key of keys) {
    const wallet = createWalletClient({ account: privateKeyToAccount(key), chain: viem, transport: http(chain.rpcUrl) });
    commits.push(
      await wallet.writeContract({
        address: chain.escrow,
        abi: escrowFundingAbi,
        functionName: "commit",
        args: [chain.usdc, chain.payTo, amounts.commit],
        nonce: 0,
        gas: 200_000n,
      }),
    );
  }
  for (const hash of commits) await wait(hash);
  log(`funded ${count} payers in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { keys, addresses };
}
