/**
 * The fault-injection suites' stack: the escrow system on Hardhat's in-process chain, served to
 * the gateway through a fault-injecting JSON-RPC proxy; the production wiring (`createGateway`:
 * token catalog of the registry, the three schemes, the payment flow, the settlement engine) on a
 * loopback port; and agents paying through the agent SDK (`createPayFetch`), whose own view of the
 * chain never goes through the proxy (the agent's node is not the gateway's). No side effects on
 * import.
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import type { network } from "hardhat";
import { type Address, type Hex, createPublicClient, createWalletClient, custom, erc20Abi, getAddress, http, parseEther } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type PayFetch, type PaymentPolicy, createPayFetch } from "../../../agent/sdk/index.js";
import { loadConfig } from "../../../gateway/config/index.js";
import type { Database } from "../../../gateway/db/index.js";
import { type GatewayParts, createGateway } from "../../../gateway/http/index.js";
import { silentLogger } from "../../../gateway/log.js";
import type { AppDeps } from "../../../gateway/http/app.js";
import { parseUsd } from "../../../gateway/pricing/index.js";
import type { ChainReader, SettlementWallet } from "../../../gateway/schemes/index.js";
import { type SettlementEngine, createSettlementEngine } from "../../../gateway/settlement/index.js";
import { type ReconcileReport, reconcileLedger, reconcileProblems } from "../../../scripts/load/reconcile.js";
import { deployEscrowSystem } from "../../contracts/helpers/escrow.js";
import { type RpcProxy, startRpcProxy } from "./rpc-proxy.js";

type Connection = Awaited<ReturnType<typeof network.create>>;
export type EscrowSystem = Awaited<ReturnType<typeof deployEscrowSystem>>;
export type TokenName = "usdc" | "usdt" | "skl" | "weth";

/** $0.01 a call: 10,000 atomic USDC/USDT. */
export const PRICE_USD = "0.01";
export const PRICE = 10_000n;

export interface FaultChain {
  readonly s: EscrowSystem;
  readonly connection: Connection;
  /** The gateway's (and child processes') way to the chain. */
  readonly rpc: RpcProxy;
  readonly payTo: Address;
  readonly escrow: Address;
  /** Clients of the gateway's signer through the proxy, as a production gateway builds them (shorter timeouts). */
  gatewayClients(key: Hex): { publicClient: ChainReader; walletClient: SettlementWallet };
  /** A fresh settlement signer key with gas. */
  signer(): Promise<Hex>;
  /** A fresh agent: gas, `amount` of USDC and USDT in its wallet, half deposited in the escrow and committed to `payTo`. */
  agent(amount?: bigint): Promise<FaultAgent>;
  close(): Promise<void>;
}

export interface FaultAgent {
  readonly key: Hex;
  readonly address: Address;
  /** The agent SDK's paying fetch, restricted to `schemes` and `tokens` (most preferred first). */
  payFetch(schemes: PaymentPolicy["schemes"], tokens?: readonly ("usdc" | "usdt")[], fetchFn?: typeof fetch): PayFetch;
}

export async function deployFaultChain(connection: Connection): Promise<FaultChain> {
  const s = await deployEscrowSystem(connection.viem);
  const rpc = await startRpcProxy(connection.provider);
  const payTo = getAddress(s.payee.account.address);
  const escrow = getAddress(s.escrow.address);
  const chain = s.publicClient.chain;
  const wait = async (hash: Hex) => s.publicClient.waitForTransactionReceipt({ hash });

  const gas = async (to: Address) => wait(await s.admin.sendTransaction({ to, value: parseEther("10") }));

  return {
    s,
    connection,
    rpc,
    payTo,
    escrow,
    gatewayClients(key) {
      // viem's defaults (10 s × 4 attempts) would hold a request ~40 s on a node that hangs; the
      // tests keep the same transport with short limits so an outage shows within a second.
      const transport = http(rpc.url, { timeout: 1_500, retryCount: 0 });
      return {
        publicClient: createPublicClient({ chain, transport, pollingInterval: 50, cacheTime: 0 }) as unknown as ChainReader,
        walletClient: createWalletClient({ account: privateKeyToAccount(key), chain, transport }) as unknown as SettlementWallet,
      };
    },
    async signer() {
      const key = generatePrivateKey();
      await gas(privateKeyToAccount(key).address);
      return key;
    },
    async agent(amount = 10_000_000n) {
      const key = generatePrivateKey();
      const account = privateKeyToAccount(key);
      const wallet = createWalletClient({ account, chain, transport: custom(connection.provider) });
      await gas(account.address);
      await s.usdc.write.mint([account.address, amount]);
      await s.usdt.write.mint([account.address, amount]);
      for (const token of [s.usdc, s.usdt] as const) {
        await wait(await wallet.writeContract({ address: token.address, abi: erc20Abi, functionName: "approve", args: [escrow, amount] }));
        await wait(await wallet.writeContract({ address: escrow, abi: s.escrow.abi, functionName: "deposit", args: [token.address, amount / 2n] }));
        await wait(await wallet.writeContract({ address: escrow, abi: s.escrow.abi, functionName: "commit", args: [token.address, payTo, amount / 2n] }));
      }
      const addresses = { usdc: getAddress(s.usdc.address), usdt: getAddress(s.usdt.address) };
      return {
        key,
        address: account.address,
        payFetch(schemes, tokens = ["usdc"], fetchFn) {
          return createPayFetch({
            ...(fetchFn === undefined ? {} : { fetch: fetchFn }),
            account,
            chainId: s.chainId,
            publicClient: s.publicClient as never,
            walletClient: wallet as never,
            policy: { schemes, tokens: tokens.map((t) => ({ address: addresses[t], maxPrice: PRICE, symbol: t.toUpperCase() })) },
          });
        },
      };
    },
    close: () => rpc.close(),
  };
}

export interface EngineTuning {
  readonly intervalMs?: number;
  readonly leaseMs?: number;
  readonly receiptTimeoutMs?: number;
  readonly reservedGraceMs?: number;
}

export interface FaultGateway {
  readonly url: string;
  readonly parts: GatewayParts;
  /** The engine createGateway built (with `reconcile`), undefined when none runs. */
  readonly engine: () => SettlementEngine | undefined;
  /** Calls that reached the paid route's handler (the "upstream"). */
  readonly served: () => number;
  close(): Promise<void>;
}

export interface FaultGatewayOptions {
  readonly chain: FaultChain;
  readonly db: Database;
  readonly signerKey: Hex;
  readonly schemes?: string;
  /** `null`: no engine (the test drives settlement itself). */
  readonly engine?: EngineTuning | null;
  /** Extra routes (the catalogue); GET /quote is always there. */
  readonly routes?: AppDeps["routes"];
  /** Runs inside the /quote handler, before it answers. */
  readonly onServe?: () => Promise<void>;
}

/**
 * `createGateway` exactly as `startGateway` runs it, with the chain clients through the proxy, a
 * paid GET /quote, and the settlement engine tuned for test time (short interval, lease and
 * receipt wait). Not started: the caller starts the engine when it wants settlement to run.
 */
export async function startFaultGateway(options: FaultGatewayOptions): Promise<FaultGateway> {
  const { chain, db } = options;
  const { publicClient, walletClient } = chain.gatewayClients(options.signerKey);
  const config = loadConfig({
    RPC_URL: chain.rpc.url,
    CHAIN_ID: String(chain.s.chainId),
    DEPLOYMENTS_FILE: "deployments/unused.json",
    PAY_TO: chain.payTo,
    SIGNER_PRIVATE_KEY: options.signerKey,
    SETTLEMENT_HORIZON_SECONDS: "120",
    SCHEMES: options.schemes ?? "exact,escrow,transfer",
    PRICE_SOURCES: JSON.stringify({
      SKL: { kind: "fixed", usd: "0.02", updatedAt: new Date().toISOString(), maxAgeSeconds: 86_400 },
      WETH: { kind: "fixed", usd: "2500", updatedAt: new Date().toISOString(), maxAgeSeconds: 86_400 },
    }),
  });
  let served = 0;
  let engine: SettlementEngine | undefined;
  const tuning = options.engine;
  const parts = await createGateway({
    config,
    logger: silentLogger(),
    db,
    publicClient,
    walletClient,
    contracts: { registry: getAddress(chain.s.registry.address), escrow: chain.escrow },
    routes: (router, helpers) => {
      router.get(
        "/quote",
        helpers.paid({ priceUsd: parseUsd(PRICE_USD), description: "Quote", mimeType: "application/json" }, async () => {
          await options.onServe?.();
          served += 1;
          return { body: { quote: 42 } };
        }),
      );
      options.routes?.(router, helpers);
    },
    settlementEngine:
      tuning === null
        ? null
        : (engineOptions) =>
            (engine = createSettlementEngine({
              ...engineOptions,
              intervalMs: tuning?.intervalMs ?? 200,
              leaseMs: tuning?.leaseMs ?? 15_000,
              receiptTimeoutMs: tuning?.receiptTimeoutMs ?? 2_000,
              ...(tuning?.reservedGraceMs === undefined ? {} : { reservedGraceMs: tuning.reservedGraceMs }),
            })),
  });
  const server: Server = parts.app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    parts,
    engine: () => engine,
    served: () => served,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await parts.close();
    },
  };
}

/** The ledger ↔ chain check every fault case ends with. */
export async function ledgerAgainstChain(chain: FaultChain, db: Database, fromBlock: bigint, payers: readonly Address[], final = true): Promise<ReconcileReport & { problems: string[] }> {
  const report = await reconcileLedger({
    db,
    publicClient: chain.s.publicClient as unknown as ChainReader,
    escrow: chain.escrow,
    eip3009Tokens: [getAddress(chain.s.usdc.address)],
    fromBlock,
    payers,
    final,
  });
  return { ...report, problems: reconcileProblems(report) };
}

/** Polls until `check` holds. */
export async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export async function statesOf(db: Database): Promise<Record<string, number>> {
  const { rows } = await db.query<{ scheme: string; state: string; n: string }>(
    "SELECT scheme, state, count(*) AS n FROM payments GROUP BY scheme, state ORDER BY scheme, state",
  );
  return Object.fromEntries(rows.map((r) => [`${r.scheme}:${r.state}`, Number(r.n)]));
}

/** Rows still owed to the chain (served on credit, not yet confirmed). */
export async function owed(db: Database): Promise<number> {
  const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM payments WHERE state IN ('verified', 'submitted')");
  return Number(rows[0]?.n ?? 0);
}
