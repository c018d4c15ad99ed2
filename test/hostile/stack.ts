/**
 * The gateway as the hostile-input tests attack it: `createGateway` (the same composition
 * `startGateway` runs) on Hardhat's in-process chain with the registry, escrow and four tokens,
 * the API catalogue mounted against the fake upstream, and the facilitator API over the same
 * schemes, database and token catalog. Plus what "nothing was charged" is measured by: every
 * token balance and escrow position that a payment could move, and the ledger's rows by state.
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import Koa from "koa";
import { expect } from "chai";
import { type Address, type Hex, getAddress } from "viem";
import type { HardhatViemHelpers } from "@nomicfoundation/hardhat-viem/types";
import { loadConfig } from "../../gateway/config/index.js";
import type { TestBackend, TestDatabase } from "../../gateway/db/testing.js";
import { createFacilitator } from "../../gateway/facilitator/index.js";
import { type GatewayParts, createGateway } from "../../gateway/http/index.js";
import { facilitatorRouter } from "../../gateway/http/facilitator.js";
import { errorHandler, requestId } from "../../gateway/http/middleware.js";
import { silentLogger } from "../../gateway/log.js";
import { type FakeUpstream, fakeUpstreamEnv, startFakeUpstream } from "../../gateway/upstreams/fake-server.js";
import { deployEscrowSystem } from "../contracts/helpers/escrow.js";
import { TEST_ENV } from "../services/helpers.js";

export type Chain = Awaited<ReturnType<typeof deployEscrowSystem>>;
export type TokenName = "usdc" | "usdt" | "skl" | "weth";
export const TOKEN_NAMES: readonly TokenName[] = ["usdc", "usdt", "skl", "weth"];

/** Bearer token of the facilitator under test (FACILITATOR_TOKENS has a 16-character minimum). */
export const FACILITATOR_TOKEN = "hostile-corpus-facilitator-token";

/** ADMIN_TOKEN of the gateway under test (32 characters at least). */
export const ADMIN_TOKEN = "hostile-corpus-admin-token-0123456789abcdef";

/** The chain as deployed once per test file: shared by every backend's gateway. */
export interface HostileChain extends Chain {
  readonly payTo: Address;
  /** Registered, then deprecated in the registry: never accepted. */
  readonly deprecatedToken: Address;
  readonly token: Record<TokenName, Chain["usdc"]>;
}

/**
 * Deploys the escrow system, gives `agent` an escrow deposit and a commitment to the payee in
 * every token (so escrow payments could be accepted on credit), and registers a fifth token
 * that the registry owner then deprecates.
 */
export async function deployHostileChain(viem: HardhatViemHelpers): Promise<HostileChain> {
  const s = await deployEscrowSystem(viem);
  const payTo = getAddress(s.payee.account.address);
  const token = { usdc: s.usdc, usdt: s.usdt as unknown as Chain["usdc"], skl: s.skl as unknown as Chain["usdc"], weth: s.weth as unknown as Chain["usdc"] };
  const deposits: [Address, bigint][] = [
    [s.usdc.address, 100_000_000n],
    [s.usdt.address, 100_000_000n],
    [s.skl.address, 100n * 10n ** 18n],
    [s.weth.address, 10n ** 18n],
  ];
  for (const [address, amount] of deposits) {
    await s.escrow.write.deposit([address, amount], { account: s.agent.account });
    await s.escrow.write.commit([address, payTo, amount / 2n], { account: s.agent.account });
  }
  const old = await viem.deployContract("MockUSDT", []);
  await s.registry.write.registerToken([
    { token: old.address, symbol: "OLDT", decimals: 6, collectionMethods: 4, status: 1, eip712Name: "", eip712Version: "", minAmount: 1n, maxAmount: 10n ** 12n },
  ]);
  await s.registry.write.setStatus([old.address, 2]);
  return { ...s, payTo, deprecatedToken: getAddress(old.address), token };
}

export interface HostileStack {
  readonly chain: HostileChain;
  readonly db: TestDatabase;
  readonly parts: GatewayParts;
  readonly fake: FakeUpstream;
  /** http://127.0.0.1:PORT of the gateway. */
  readonly base: string;
  /** http://127.0.0.1:PORT/facilitator. */
  readonly facilitatorBase: string;
  close(): Promise<void>;
}

/** The gateway and the facilitator over `backend`'s fresh database. */
export async function startHostileStack(chain: HostileChain, backend: TestBackend): Promise<HostileStack> {
  const db = await backend.fresh();
  const fake = await startFakeUpstream();
  const now = new Date().toISOString();
  const config = loadConfig({
    RPC_URL: "http://127.0.0.1:1/unused",
    CHAIN_ID: String(chain.chainId),
    DEPLOYMENTS_FILE: "deployments/local.json",
    PAY_TO: chain.payTo,
    SIGNER_PRIVATE_KEY: `0x${"11".repeat(32)}`,
    SETTLEMENT_HORIZON_SECONDS: "120",
    PRICE_SOURCES: JSON.stringify({
      SKL: { kind: "fixed", usd: "0.02", updatedAt: now, maxAgeSeconds: 86_400 },
      WETH: { kind: "fixed", usd: "2500", updatedAt: now, maxAgeSeconds: 86_400 },
    }),
    // The corpus and the properties send thousands of requests from one address: the limits
    // are tested on their own (test/ops/rate-limit.test.ts), here they would only get in the way.
    RATE_LIMIT_PER_MINUTE: "1000000",
    RATE_LIMIT_PER_DAY: "100000000",
    FACILITATOR_TOKENS: FACILITATOR_TOKEN,
    ADMIN_TOKEN,
  });
  const parts = await createGateway({
    config,
    logger: silentLogger(),
    db,
    publicClient: chain.publicClient,
    walletClient: chain.operator,
    contracts: { registry: chain.registry.address, escrow: chain.escrow.address },
    // The API catalogue as production builds it, every upstream pointed at the fake.
    env: { ...fakeUpstreamEnv(fake.url), ...TEST_ENV },
    // Nothing a hostile request does may need settling; an engine would only blur the ledger.
    settlementEngine: null,
  });

  const servers: Server[] = [];
  const listen = async (app: Koa): Promise<string> => {
    const server = app.listen(0, "127.0.0.1");
    servers.push(server);
    await new Promise<void>((resolve) => server.once("listening", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const base = await listen(parts.app);
  const composed = (await fetch(`${base}/facilitator/supported`)).status === 200;
  const facilitatorBase = composed ? `${base}/facilitator` : `${await listen(standaloneFacilitator(parts, chain, db, config.facilitatorTokens))}/facilitator`;

  return {
    chain,
    db,
    parts,
    fake,
    base,
    facilitatorBase,
    async close() {
      for (const server of servers) {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      }
      await parts.close();
      await fake.close();
      await db.close();
    },
  };
}

/**
 * The facilitator API over the gateway's schemes, database and token catalog, in the middlewares
 * createApp puts around it: for a createGateway that does not mount it itself.
 */
function standaloneFacilitator(parts: GatewayParts, chain: HostileChain, db: TestDatabase, tokens: readonly string[]): Koa {
  const facilitator = createFacilitator({
    db,
    schemes: parts.schemes,
    chains: [{ chainId: chain.chainId, tokens: () => parts.catalog.accepted(), signers: [chain.operator.account.address] }],
    inFlightPollMs: 20,
  });
  const app = new Koa();
  app.silent = true;
  app.use(requestId(silentLogger()));
  app.use(errorHandler());
  const router = facilitatorRouter({ facilitator, tokens });
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

/** Everything a payment could move, as decimal strings keyed by what they are. */
export type ChainSnapshot = Record<string, string>;

export async function chainSnapshot(chain: HostileChain): Promise<ChainSnapshot> {
  const holders: Record<string, Address> = {
    agent: chain.agent.account.address,
    agent2: chain.agent2.account.address,
    stranger: chain.stranger.account.address,
    payTo: chain.payTo,
    escrow: chain.escrow.address,
  };
  const reads: [string, Promise<bigint>][] = [];
  for (const name of TOKEN_NAMES) {
    const token = chain.token[name];
    for (const [who, address] of Object.entries(holders)) reads.push([`${name}.balanceOf(${who})`, token.read.balanceOf([address])]);
    for (const who of ["agent", "agent2", "stranger"] as const) {
      reads.push([`escrow.balanceOf(${name},${who})`, chain.escrow.read.balanceOf([token.address, holders[who]!])]);
      reads.push([
        `escrow.commitmentOf(${name},${who},payTo)`,
        chain.escrow.read.commitmentOf([token.address, holders[who]!, chain.payTo]).then((c) => c.amount),
      ]);
    }
    reads.push([`escrow.earningsOf(${name},payTo)`, chain.escrow.read.earningsOf([token.address, chain.payTo])]);
  }
  const values = await Promise.all(reads.map(([, read]) => read));
  return Object.fromEntries(reads.map(([key], i) => [key, values[i]!.toString()]));
}

/** The ledger's rows counted by state. */
export async function ledgerSnapshot(db: TestDatabase): Promise<Record<string, number>> {
  const { rows } = await db.query<{ state: string; n: number }>("SELECT state, count(*)::int AS n FROM payments GROUP BY state ORDER BY state");
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

/** States in which a payment row means money is (or will be) taken. */
export const CHARGED_STATES = ["confirmed", "verified", "submitted"] as const;

export interface Snapshot {
  readonly chain: ChainSnapshot;
  readonly ledger: Record<string, number>;
}

export async function snapshot(stack: Pick<HostileStack, "chain" | "db">): Promise<Snapshot> {
  const [chain, ledger] = await Promise.all([chainSnapshot(stack.chain), ledgerSnapshot(stack.db)]);
  return { chain, ledger };
}

/** Asserts that nothing a payment could move has moved, and no row was charged or even written. */
export function expectNothingCharged(before: Snapshot, after: Snapshot, what: string): void {
  for (const state of CHARGED_STATES) {
    expect(after.ledger[state] ?? 0, `${what}: payments in state ${state}`).to.equal(before.ledger[state] ?? 0);
  }
  expect(after.ledger, `${what}: payments rows by state`).to.deep.equal(before.ledger);
  const moved = Object.keys(before.chain).filter((key) => before.chain[key] !== after.chain[key]);
  expect(moved.map((key) => `${key}: ${before.chain[key]} → ${after.chain[key]}`), `${what}: on-chain balances`).to.deep.equal([]);
}

/** What an answer says about itself: status, the stable code (gateway body or facilitator `extra`), the body. */
export interface Answer {
  readonly status: number;
  readonly code: string | undefined;
  readonly body: unknown;
  readonly text: string;
  readonly headers: Headers;
}

export async function readAnswer(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: unknown;
  try {
    body = text === "" ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  const record = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  const extra = typeof record["extra"] === "object" && record["extra"] !== null ? (record["extra"] as Record<string, unknown>) : {};
  const code = typeof record["error"] === "string" ? record["error"] : typeof extra["code"] === "string" ? extra["code"] : undefined;
  return { status: res.status, code, body, text, headers: res.headers };
}

export type { Hex };
