/**
 * The gateway half of `npm start`: the fake upstream (recorded demo data), two demo trading pairs
 * on the local chain (Ruby.Exchange's data and the SKL / WETH price source), and the gateway itself
 * on embedded PGlite, configured exactly as an operator would, through its environment variables.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { type Abi, type Address, type Hex, createPublicClient, createWalletClient, http } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { loadConfig } from "../../gateway/config/index.js";
import { type RunningGateway, startGateway } from "../../gateway/http/server.js";
import type { Logger } from "../../gateway/log.js";
import { fakeUpstreamEnv, startFakeUpstream } from "../../gateway/upstreams/fake-server.js";
import { readDeploymentRecord } from "./deployment-record.js";
import { PROJECT_ROOT } from "./local-stack.js";

export interface LocalGatewayOptions {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly deploymentsFile: string;
  readonly dataDir: string;
  readonly port: number;
  readonly payTo: Address;
  readonly signerKey: Hex;
  readonly logger: Logger;
}

export interface LocalGateway {
  readonly url: string;
  readonly upstreamUrl: string;
  /** Generated for this run; printed once so the operator can try the admin endpoints. */
  readonly adminToken: string;
  close(): Promise<void>;
}

/**
 * Demo reserves: 1 SKL = 0.03 USDC and 1 WETH = 3,000 USDC. They are made up for the local
 * chain, which is why Ruby.Exchange answers carry the demo label here.
 */
const DEMO_PAIRS = [
  { base: "SKL", reserveBase: 1_000_000n * 10n ** 18n, reserveUsdc: 30_000n * 10n ** 6n },
  { base: "WETH", reserveBase: 100n * 10n ** 18n, reserveUsdc: 300_000n * 10n ** 6n },
] as const;

/** A local key from Hardhat's public development mnemonic (index 0, the deployer), never valid elsewhere. */
const DEPLOYER = mnemonicToAccount("test test test test test test test test test test test junk", { addressIndex: 0 });

function testPairArtifact(): { abi: Abi; bytecode: Hex } {
  const file = path.join(PROJECT_ROOT, "artifacts/contracts/test-helpers/TestPair.sol/TestPair.json");
  const artifact = JSON.parse(readFileSync(file, "utf8")) as { abi: Abi; bytecode: Hex };
  return { abi: artifact.abi, bytecode: artifact.bytecode };
}

async function deployDemoPairs(rpcUrl: string, tokens: Record<string, Address>): Promise<Record<string, Address>> {
  const publicClient = createPublicClient({ transport: http(rpcUrl) });
  const wallet = createWalletClient({ account: DEPLOYER, transport: http(rpcUrl) });
  const { abi, bytecode } = testPairArtifact();
  const pairs: Record<string, Address> = {};
  for (const pair of DEMO_PAIRS) {
    const base = tokens[pair.base];
    const usdc = tokens["USDC"];
    if (base === undefined || usdc === undefined) throw new Error(`the local deployment has no ${pair.base} or USDC token`);
    const hash = await wallet.deployContract({ abi, bytecode, args: [base, usdc], chain: null });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.contractAddress === null || receipt.contractAddress === undefined) throw new Error("TestPair deployment failed");
    const address = receipt.contractAddress;
    const sync = await wallet.writeContract({ address, abi, functionName: "sync", args: [pair.reserveBase, pair.reserveUsdc], chain: null });
    await publicClient.waitForTransactionReceipt({ hash: sync });
    pairs[pair.base] = address;
  }
  return pairs;
}

/** The API key variable of each fake-able upstream; Wikipedia needs none. */
const UPSTREAM_KEYS: Record<string, string | undefined> = {
  openweather: "OPENWEATHER_API_KEY",
  coingecko: "COINGECKO_API_KEY",
  newsapi: "NEWSAPI_API_KEY",
  chirper: "CHIRPER_API_KEY",
  wikipedia: undefined,
};

/**
 * Points every upstream whose API key is not set (and whose base URL is not set either) at the
 * fake upstream, with a placeholder key it accepts. An upstream with a real key set goes live.
 */
function demoUpstreamEnv(fakeUrl: string, env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, baseUrl] of Object.entries(fakeUpstreamEnv(fakeUrl))) {
    const upstream = Object.keys(UPSTREAM_KEYS).find((u) => name.startsWith(u.toUpperCase()));
    const keyVar = upstream === undefined ? undefined : UPSTREAM_KEYS[upstream];
    const live = (keyVar !== undefined && env[keyVar]?.trim()) || env[name]?.trim();
    if (live) continue;
    out[name] = baseUrl;
    if (keyVar !== undefined) out[keyVar] = "demo-key";
  }
  return out;
}

export async function startLocalGateway(options: LocalGatewayOptions): Promise<LocalGateway> {
  const record = readDeploymentRecord(options.deploymentsFile);
  const tokens: Record<string, Address> = {};
  for (const token of record.tokens) tokens[token.symbol.startsWith("USDC") ? "USDC" : token.symbol] = token.address as Address;
  const usdc = record.tokens.find((t) => t.symbol.startsWith("USDC"));
  if (usdc === undefined) throw new Error("the local deployment has no USDC");

  const pairs = await deployDemoPairs(options.rpcUrl, tokens);
  const upstream = await startFakeUpstream();
  const adminToken = randomBytes(24).toString("hex");
  const priceSources = Object.fromEntries(
    Object.entries(pairs).map(([symbol, pair]) => [
      symbol,
      {
        kind: "uniswap-v2",
        pair,
        quoteToken: usdc.address,
        quoteDecimals: usdc.decimals,
        // Nobody trades on the demo pairs, so their last update only ages.
        maxAgeSeconds: 7 * 86_400,
        label: `${symbol} demo pair on the local chain`,
      },
    ]),
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...demoUpstreamEnv(upstream.url, process.env),
    RUBY_PAIRS: Object.entries(pairs)
      .map(([symbol, pair]) => `${symbol}-${usdc.symbol}=${pair}`)
      .join(","),
    RUBY_DEMO: "true",
    RPC_URL: options.rpcUrl,
    CHAIN_ID: String(options.chainId),
    DEPLOYMENTS_FILE: options.deploymentsFile,
    PAY_TO: options.payTo,
    SIGNER_PRIVATE_KEY: options.signerKey,
    DATA_DIR: options.dataDir,
    DATABASE_URL: "",
    HOST: "127.0.0.1",
    PORT: String(options.port),
    PRICE_SOURCES: JSON.stringify(priceSources),
    ADMIN_TOKEN: adminToken,
    SETTLEMENT_INTERVAL_MS: process.env.SETTLEMENT_INTERVAL_MS ?? "1000",
  };
  let gateway: RunningGateway;
  try {
    const config = loadConfig(env);
    gateway = await startGateway(config, options.logger, undefined, { env });
  } catch (error) {
    await upstream.close();
    throw error;
  }
  return {
    url: gateway.url,
    upstreamUrl: upstream.url,
    adminToken,
    close: async () => {
      await gateway.close();
      await upstream.close();
    },
  };
}
