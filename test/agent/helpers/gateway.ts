/**
 * An in-test PayPerAgent gateway for the agent tests, built from the gateway's own parts the way
 * test/gateway/http-settlement.test.ts does: the escrow system deployed on Hardhat's in-process
 * chain (SKALE Base Sepolia's chain id), the real scheme modules, the payment flow and the Koa
 * app, listening on a loopback port. No side effects on import (hardhat-mocha loads every .ts
 * file under test/).
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { type Address, type Hex, createWalletClient, custom, getAddress, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { EIP1193Provider } from "hardhat/types/providers";
import type { Database } from "../../../gateway/db/index.js";
import { createApp } from "../../../gateway/http/index.js";
import { silentLogger } from "../../../gateway/log.js";
import { type PaidRoute, type PricedToken, createPaymentFlow } from "../../../gateway/payments/index.js";
import { fixedPriceSource, parseUsd, stablecoinPriceSource } from "../../../gateway/pricing/index.js";
import {
  type PaymentScheme,
  type TokenInfo,
  collectionMethods,
  createEscrowScheme,
  createExactScheme,
  createTransferScheme,
} from "../../../gateway/schemes/index.js";
import { TOKEN_METHODS, USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION, deployEscrowSystem } from "../../contracts/helpers/escrow.js";
import type { AgentWallet } from "../../../agent/sdk/index.js";

export type EscrowSystem = Awaited<ReturnType<typeof deployEscrowSystem>>;
export type TokenName = "usdc" | "usdt" | "skl" | "weth";
export type SchemeKind = "exact" | "escrow" | "transfer";

/** $0.002 per call: 2,000 USDC/USDT units, 0.1 SKL at $0.02, 0.000001 WETH at $2,000. */
export const PRICE_USD = "0.002";
export const PRICES: Record<TokenName, bigint> = { usdc: 2_000n, usdt: 2_000n, skl: 10n ** 17n, weth: 10n ** 12n };

export function tokenInfo(s: EscrowSystem, name: TokenName): TokenInfo {
  const address = getAddress(s[name].address);
  switch (name) {
    case "usdc":
      return { address, symbol: "USDC", decimals: 6, collectionMethods: TOKEN_METHODS.usdc, eip712: { name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION } };
    case "usdt":
      return { address, symbol: "USDT", decimals: 6, collectionMethods: TOKEN_METHODS.usdt, eip712: { name: "", version: "" } };
    case "skl":
      return { address, symbol: "SKL", decimals: 18, collectionMethods: collectionMethods.erc20, eip712: { name: "", version: "" } };
    case "weth":
      return { address, symbol: "WETH", decimals: 18, collectionMethods: collectionMethods.erc20, eip712: { name: "", version: "" } };
  }
}

function priceSource(name: TokenName): PricedToken["price"] {
  if (name === "usdc" || name === "usdt") return stablecoinPriceSource();
  const usd = name === "skl" ? "0.02" : "2000";
  return fixedPriceSource({ usd, updatedAt: new Date().toISOString(), maxAgeSeconds: 86_400 }, { name });
}

export interface GatewayOptions {
  readonly schemes: readonly SchemeKind[];
  readonly tokens: readonly TokenName[];
  /** Drop the v2 PAYMENT-REQUIRED header: a server only v1 clients can read. */
  readonly v1Only?: boolean;
}

export interface TestGateway {
  readonly base: string;
  readonly payTo: Address;
  /** Requests seen, with the payment header they carried (if any). */
  readonly requests: { path: string; payment: string | undefined; header: "x-payment" | "payment-signature" | undefined }[];
  close(): Promise<void>;
}

const route: PaidRoute = { priceUsd: parseUsd(PRICE_USD), description: "Quote", mimeType: "application/json" };

/**
 * Routes: GET /quote (JSON), POST /echo (returns the body it was paid for), GET /fail (the
 * upstream fails: 502, nothing charged), GET /health (free).
 */
export async function startTestGateway(s: EscrowSystem, db: Database, options: GatewayOptions): Promise<TestGateway> {
  const schemes: PaymentScheme[] = options.schemes.map((kind) => {
    switch (kind) {
      case "exact":
        return createExactScheme({ chainId: s.chainId, publicClient: s.publicClient, walletClient: s.operator });
      case "escrow":
        return createEscrowScheme({
          chainId: s.chainId,
          escrow: getAddress(s.escrow.address),
          publicClient: s.publicClient,
          walletClient: s.operator,
          settlementHorizonSeconds: 300n,
        });
      case "transfer":
        return createTransferScheme({ chainId: s.chainId, publicClient: s.publicClient });
    }
  });
  const tokens: PricedToken[] = options.tokens.map((name) => ({ token: tokenInfo(s, name), price: priceSource(name) }));
  const payTo = getAddress(s.payee.account.address);
  const flow = createPaymentFlow({ db, schemes, tokens: () => tokens, payTo });
  const app = createApp({
    logger: silentLogger(),
    db,
    publicClient: s.publicClient,
    flow,
    routes: (router, { paid }) => {
      router.get("/quote", paid(route, async () => ({ body: { quote: 42 } })));
      router.post("/echo", paid(route, async ({ body }) => ({ body: { echo: Buffer.from(body).toString("utf8") } })));
      router.get("/fail", paid(route, async () => ({ status: 500, body: { error: "upstream down" } })));
    },
  });
  const requests: TestGateway["requests"] = [];
  // Outermost, so it sees (and can edit) the final response headers.
  app.middleware.unshift(async (ctx, next) => {
    const v2 = ctx.get("payment-signature") || undefined;
    const v1 = ctx.get("x-payment") || undefined;
    requests.push({ path: ctx.path, payment: v2 ?? v1, header: v2 !== undefined ? "payment-signature" : v1 !== undefined ? "x-payment" : undefined });
    await next();
    if (options.v1Only) ctx.remove("PAYMENT-REQUIRED");
  });
  const server: Server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    payTo,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface FundedAgent {
  readonly key: Hex;
  readonly address: Address;
  readonly walletClient: AgentWallet;
}

/**
 * A fresh agent key with gas money and `tokens` of each named token in its wallet (atomic units).
 * Fresh per test, so balances and budgets never leak between tests.
 */
export async function fundedAgent(
  s: EscrowSystem,
  provider: EIP1193Provider,
  key: Hex,
  tokens: Partial<Record<TokenName, bigint>>,
): Promise<FundedAgent> {
  const account = privateKeyToAccount(key);
  const walletClient = createWalletClient({ account, chain: s.publicClient.chain, transport: custom(provider) }) as AgentWallet;
  const wait = async (hash: Hex) => s.publicClient.waitForTransactionReceipt({ hash });
  await wait(await s.admin.sendTransaction({ to: account.address, value: parseEther("10") }));
  for (const [name, amount] of Object.entries(tokens) as [TokenName, bigint][]) {
    if (name === "weth") {
      await s.weth.write.deposit({ value: amount, account: s.admin.account });
      await s.weth.write.transfer([account.address, amount], { account: s.admin.account });
    } else if (name === "usdc") {
      await s.usdc.write.mint([account.address, amount]);
    } else if (name === "usdt") {
      await s.usdt.write.mint([account.address, amount]);
    } else {
      await s.skl.write.mint([account.address, amount]);
    }
  }
  return { key, address: account.address, walletClient };
}
