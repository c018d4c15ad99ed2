/**
 * Shared by the flow-*.test.ts files: the escrow system on Hardhat's in-process chain, the three
 * real schemes behind createApp on a loopback port, and clients that pay the way an agent does
 * (reading the 402's v1 `accepts`, signing, resending). No side effects on import: the caller
 * passes its own network connection.
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { expect } from "chai";
import { type Address, type Hex, getAddress } from "viem";
import type { HardhatViemHelpers, WalletClient } from "@nomicfoundation/hardhat-viem/types";
import type { Database } from "../../gateway/db/index.js";
import { type PaidHandler, createApp } from "../../gateway/http/index.js";
import { silentLogger } from "../../gateway/log.js";
import { type PaidRoute, type PaymentFlowDeps, type PricedToken, createPaymentFlow } from "../../gateway/payments/index.js";
import { v1NetworkName } from "../../gateway/x402/index.js";
import { fixedPriceSource, stablecoinPriceSource } from "../../gateway/pricing/index.js";
import {
  type PaymentScheme,
  type TokenInfo,
  collectionMethods,
  createEscrowScheme,
  createExactScheme,
  createTransferScheme,
  escrowNonce,
  paymentAuthorizationTypes,
  randomNonceWord,
  transferProofTypes,
  TRANSFER_PROOF_NAME,
  TRANSFER_PROOF_VERSION,
} from "../../gateway/schemes/index.js";
import { LIMITS, USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION, deployEscrowSystem } from "../contracts/helpers/escrow.js";

export const HORIZON_SECONDS = 60n;
export type TokenName = "usdc" | "usdt" | "skl" | "weth";

/** One request at $0.01: 10,000 atomic USDC/USDT, and SKL at a configured $0.02 = 0.5 SKL. */
export const PRICE: Record<TokenName, bigint> = { usdc: 10_000n, usdt: 10_000n, skl: 5n * 10n ** 17n, weth: 4n * 10n ** 12n };

export interface V1Accept {
  scheme: string;
  network: string;
  maxAmountRequired: string;
  resource: string;
  payTo: Address;
  asset: Address;
  maxTimeoutSeconds: number;
  extra: Record<string, unknown>;
}

export type EscrowSystem = Awaited<ReturnType<typeof deployEscrowSystem>>;

export async function deployFlowSystem(viem: HardhatViemHelpers) {
  const s = await deployEscrowSystem(viem);
  const payTo = getAddress(s.payee.account.address);
  const info = (address: Address, symbol: string, decimals: number, methods: number, limits: { min: bigint; max: bigint }, eip712 = { name: "", version: "" }) =>
    ({ address: getAddress(address), symbol, decimals, collectionMethods: methods, eip712, minAmount: limits.min, maxAmount: limits.max }) as TokenInfo;
  const tokens: Record<TokenName, TokenInfo> = {
    usdc: info(s.usdc.address, "USDC", 6, collectionMethods.eip3009 | collectionMethods.permit | collectionMethods.erc20, LIMITS.usdc, {
      name: USDC_DOMAIN_NAME,
      version: USDC_DOMAIN_VERSION,
    }),
    usdt: info(s.usdt.address, "USDT", 6, collectionMethods.erc20, LIMITS.usdt),
    skl: info(s.skl.address, "SKL", 18, collectionMethods.erc20, LIMITS.skl),
    weth: info(s.weth.address, "WETH", 18, collectionMethods.erc20, LIMITS.weth),
  };
  const stable = stablecoinPriceSource();
  const updatedAt = new Date().toISOString();
  const priced: PricedToken[] = [
    { token: tokens.usdc, price: stable },
    { token: tokens.usdt, price: stable },
    { token: tokens.skl, price: fixedPriceSource({ usd: "0.02", updatedAt, maxAgeSeconds: 86_400 }, { name: "fixed SKL" }) },
    { token: tokens.weth, price: fixedPriceSource({ usd: "2500", updatedAt, maxAgeSeconds: 86_400 }, { name: "fixed WETH" }) },
  ];
  return { ...s, payTo, tokens, priced };
}

export type FlowSystem = Awaited<ReturnType<typeof deployFlowSystem>>;

/** The three real schemes on the in-process chain; the escrow's ledger reads `db`. */
export function realSchemes(s: FlowSystem, db: Database): PaymentScheme[] {
  const common = { chainId: s.chainId, publicClient: s.publicClient };
  return [
    createExactScheme({ ...common, walletClient: s.operator }),
    createEscrowScheme({
      ...common,
      escrow: getAddress(s.escrow.address),
      walletClient: s.operator,
      settlementHorizonSeconds: HORIZON_SECONDS,
    }),
    createTransferScheme(common),
  ];
}

export interface RunningApp {
  readonly base: string;
  close(): Promise<void>;
}

export interface PaidPath {
  readonly path: string;
  readonly method?: "get" | "post";
  readonly route: PaidRoute;
  readonly handler: PaidHandler;
}

/** createApp with the real flow in front of `paths`, listening on 127.0.0.1; `flowDeps` adds to the flow's deps. */
export async function startApp(
  s: FlowSystem,
  db: Database,
  paths: readonly PaidPath[],
  schemes = realSchemes(s, db),
  flowDeps: Partial<PaymentFlowDeps> = {},
  /** Several instances behind one public address (PUBLIC_URL) accept each other's payments. */
  publicUrl?: string,
): Promise<RunningApp> {
  const flow = createPaymentFlow({ db, schemes, tokens: () => s.priced, payTo: s.payTo, ...flowDeps });
  const app = createApp({
    ...(publicUrl === undefined ? {} : { publicUrl }),
    logger: silentLogger(),
    db,
    publicClient: s.publicClient,
    flow,
    routes: (router, { paid }) => {
      for (const p of paths) router[p.method ?? "get"](p.path, paid(p.route, p.handler));
    },
  });
  const server: Server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64");

/** The raw JSON of a receipt header, as a client reads it. */
export function receiptOf(res: Response): { success: boolean; transaction: string; network: string; payer?: string; errorReason?: string } {
  const value = res.headers.get("x-payment-response") ?? res.headers.get("payment-response");
  expect(value, "receipt header").to.be.a("string");
  return JSON.parse(Buffer.from(value!, "base64").toString("utf8")) as ReturnType<typeof receiptOf>;
}

/** The 402's offer of `scheme` in `token`. */
export async function offerFor(url: string, scheme: string, token: Address, init: RequestInit = {}): Promise<V1Accept> {
  const res = await fetch(url, init);
  expect(res.status).to.equal(402);
  const body = (await res.json()) as { accepts: V1Accept[] };
  const matches = (a: { scheme: string; asset: string }) => a.scheme === scheme && getAddress(a.asset) === getAddress(token);
  // v1 bodies list only "exact" (what v1 clients can read); the other schemes are in the v2 header.
  // Their v1 spelling is still accepted in X-PAYMENT, so the tests pay them through v1 as well.
  const accept = body.accepts.find(matches) ?? v2AsV1(res.headers.get("payment-required"), matches);
  expect(accept, `${scheme} offer for ${token}`).to.not.equal(undefined);
  return accept!;
}

function v2AsV1(header: string | null, matches: (a: { scheme: string; asset: string }) => boolean): V1Accept | undefined {
  if (header === null) return undefined;
  const v2 = JSON.parse(Buffer.from(header, "base64").toString("utf8")) as {
    resource: { url: string; description: string; mimeType: string };
    accepts: { scheme: string; network: string; amount: string; asset: string; payTo: string; maxTimeoutSeconds: number; extra: Record<string, unknown> }[];
  };
  const entry = v2.accepts.find(matches);
  if (entry === undefined) return undefined;
  const chainId = Number(entry.network.split(":")[1]);
  return {
    scheme: entry.scheme,
    network: v1NetworkName(chainId) ?? entry.network,
    maxAmountRequired: entry.amount,
    resource: v2.resource.url,
    description: v2.resource.description,
    mimeType: v2.resource.mimeType,
    payTo: entry.payTo,
    maxTimeoutSeconds: entry.maxTimeoutSeconds,
    asset: entry.asset,
    extra: entry.extra,
  } as unknown as V1Accept;
}

let nonceWord = randomNonceWord();
let nonceCounter = 0;
function nextNonce(): bigint {
  if (nonceCounter > 0xff) {
    nonceWord = randomNonceWord();
    nonceCounter = 0;
  }
  return escrowNonce(nonceWord, nonceCounter++);
}

/** An X-PAYMENT header paying `accept` from `payer`'s escrow deposit. */
export async function escrowHeader(s: FlowSystem, payer: WalletClient, accept: V1Accept): Promise<string> {
  const now = (await s.publicClient.getBlock()).timestamp;
  const message = {
    payer: getAddress(payer.account.address),
    payee: getAddress(accept.payTo),
    token: getAddress(accept.asset),
    amount: BigInt(accept.maxAmountRequired),
    nonce: nextNonce(),
    validAfter: 0n,
    validBefore: now + BigInt(accept.maxTimeoutSeconds),
    challengeHash: accept.extra["challengeHash"] as Hex,
  };
  const signature = await payer.signTypedData({
    account: payer.account,
    domain: { name: accept.extra["name"] as string, version: accept.extra["version"] as string, chainId: s.chainId, verifyingContract: accept.extra["escrow"] as Address },
    types: paymentAuthorizationTypes,
    primaryType: "PaymentAuthorization",
    message,
  });
  const authorization = Object.fromEntries(Object.entries(message).map(([k, v]) => [k, typeof v === "bigint" ? v.toString() : v]));
  return encode({ x402Version: 1, scheme: "escrow", network: accept.network, payload: { signature, authorization } });
}

/** Pays `accept` with a plain ERC-20 transfer from `payer` and returns the transfer proof header. */
export async function transferHeader(s: FlowSystem, payer: WalletClient, accept: V1Accept): Promise<{ header: string; transaction: Hex }> {
  const token = [s.usdc, s.usdt, s.skl, s.weth].find((t) => getAddress(t.address) === getAddress(accept.asset))! as FlowSystem["usdt"];
  const transaction = await token.write.transfer([accept.payTo, BigInt(accept.maxAmountRequired)], { account: payer.account });
  await s.publicClient.waitForTransactionReceipt({ hash: transaction });
  const signature = await payer.signTypedData({
    account: payer.account,
    domain: { name: TRANSFER_PROOF_NAME, version: TRANSFER_PROOF_VERSION, chainId: s.chainId },
    types: transferProofTypes,
    primaryType: "TransferProof",
    message: { transaction, challengeHash: accept.extra["challengeHash"] as Hex },
  });
  const header = encode({ x402Version: 1, scheme: "transfer", network: accept.network, payload: { transaction, payer: getAddress(payer.account.address), signature } });
  return { header, transaction };
}

export interface PaymentRowView {
  id: string;
  scheme: string;
  state: string;
  amount: string;
  tx_hash: string | null;
  response_status: number | null;
  failure_reason: string | null;
}

export async function paymentRows(db: Database, scheme?: string): Promise<PaymentRowView[]> {
  const { rows } = await db.query<PaymentRowView>(
    `SELECT id, scheme, state, amount, tx_hash, response_status, failure_reason FROM payments
      WHERE ($1::text IS NULL OR scheme = $1::text) ORDER BY id`,
    [scheme ?? null],
  );
  return rows;
}
