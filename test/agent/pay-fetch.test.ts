/**
 * payFetch against a real gateway (createApp + createPaymentFlow + the three scheme modules) on
 * Hardhat's in-process chain: each scheme's happy path with balances checked on chain, the
 * policy's choices and refusals, the daily budget, and servers that misbehave after payment.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { network } from "hardhat";
import { expect } from "chai";
import { type Address, getAddress } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { encodeHeaderJson } from "../../gateway/x402/index.js";
import {
  AgentError,
  DailyBudget,
  type PayFetchOptions,
  type PaymentPolicy,
  createEscrowAccount,
  createPayFetch,
  jsonFileBudgetStore,
} from "../../agent/sdk/index.js";
import { type EscrowSystem, type FundedAgent, PRICES, type TestGateway, fundedAgent, startTestGateway } from "./helpers/gateway.js";
import { deployEscrowSystem } from "../contracts/helpers/escrow.js";

const { viem, provider } = await network.create();

after(closeTestBackends);

async function rejection(promise: Promise<unknown>): Promise<AgentError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AgentError) return error;
    throw error;
  }
  throw new Error("expected an AgentError, got a result");
}

for (const backend of testBackends()) {
  describe(`agent payFetch against the gateway [${backend.name}]`, function () {
    this.timeout(120_000);

    let s: EscrowSystem;
    let db: TestDatabase;
    let gateway: TestGateway;
    let v1Gateway: TestGateway;
    let usdcOnly: TestGateway;
    const dirs: string[] = [];

    before(async () => {
      s = await deployEscrowSystem(viem);
      db = await backend.fresh();
      gateway = await startTestGateway(s, db, { schemes: ["exact", "escrow", "transfer"], tokens: ["usdc", "usdt", "skl", "weth"] });
      v1Gateway = await startTestGateway(s, db, { schemes: ["exact"], tokens: ["usdc"], v1Only: true });
      usdcOnly = await startTestGateway(s, db, { schemes: ["exact"], tokens: ["usdc"] });
    });

    after(async () => {
      await Promise.all([gateway.close(), v1Gateway.close(), usdcOnly.close()]);
      await db.close();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });

    const token = (name: "usdc" | "usdt" | "skl" | "weth"): Address => getAddress(s[name].address);
    const walletBalance = (name: "usdc" | "usdt" | "skl" | "weth", who: Address) => s[name].read.balanceOf([who]) as Promise<bigint>;

    async function agent(tokens: Partial<Record<"usdc" | "usdt" | "skl" | "weth", bigint>>): Promise<FundedAgent> {
      return fundedAgent(s, provider, generatePrivateKey(), tokens);
    }

    function payFetchFor(a: FundedAgent, policy: PaymentPolicy, extra: Partial<PayFetchOptions> = {}) {
      return createPayFetch({
        account: privateKeyToAccount(a.key),
        chainId: s.chainId,
        publicClient: s.publicClient,
        walletClient: a.walletClient,
        policy,
        ...extra,
      });
    }

    describe("each scheme's happy path", () => {
      it("pays exact (v2) in USDC: 200, a success receipt naming the settlement, USDC moved on chain", async () => {
        const a = await agent({ usdc: 1_000_000n });
        const payFetch = payFetchFor(a, { tokens: [{ address: token("usdc"), maxPrice: 10_000n }] });
        const payeeBefore = await walletBalance("usdc", gateway.payTo);

        const { response, receipt } = await payFetch(`${gateway.base}/quote`);
        expect(response.status).to.equal(200);
        expect(await response.json()).to.deep.equal({ quote: 42 });
        expect(receipt).to.deep.include({ version: 2, scheme: "exact", network: "eip155:324705682", amount: 2_000n, charged: true });
        expect(receipt?.settlement).to.deep.include({ success: true, network: "eip155:324705682", payer: a.address });
        const tx = await s.publicClient.getTransactionReceipt({ hash: receipt!.settlement!.transaction as `0x${string}` });
        expect(tx.status).to.equal("success");
        expect(await walletBalance("usdc", a.address)).to.equal(1_000_000n - 2_000n);
        expect(await walletBalance("usdc", gateway.payTo)).to.equal(payeeBefore + 2_000n);
        // One unpaid request, one paid retry: never more.
        expect(gateway.requests.slice(-2).map((r) => r.header)).to.deep.equal([undefined, "payment-signature"]);
      });

      it("pays exact (v1) when the server only sends the v1 body, with X-PAYMENT", async () => {
        const a = await agent({ usdc: 1_000_000n });
        const payFetch = payFetchFor(a, { tokens: [{ address: token("usdc"), maxPrice: 10_000n }] });
        const { response, receipt } = await payFetch(`${v1Gateway.base}/quote`);
        expect(response.status).to.equal(200);
        expect(receipt).to.deep.include({ version: 1, scheme: "exact", network: "skale-base-sepolia", charged: true });
        expect(receipt?.settlement).to.deep.include({ success: true, network: "skale-base-sepolia" });
        expect(response.headers.get("x-payment-response")).to.be.a("string");
        expect(v1Gateway.requests.at(-1)?.header).to.equal("x-payment");
        expect(await walletBalance("usdc", a.address)).to.equal(1_000_000n - 2_000n);
      });

      it("pays escrow in USDT from a deposit made with the SDK (approve + deposit)", async () => {
        const a = await agent({ usdt: 100_000n });
        const account = createEscrowAccount({ account: privateKeyToAccount(a.key), chainId: s.chainId, publicClient: s.publicClient, walletClient: a.walletClient, escrow: getAddress(s.escrow.address) });
        const deposit = await account.deposit(token("usdt"), 50_000n);
        expect(deposit.method).to.equal("approve");
        const earningsBefore = (await s.escrow.read.earningsOf([token("usdt"), gateway.payTo])) as bigint;

        const payFetch = payFetchFor(a, { tokens: [{ address: token("usdt"), maxPrice: 5_000n }], schemes: ["escrow"] });
        const { response, receipt } = await payFetch(`${gateway.base}/echo`, { method: "POST", body: "hello", headers: { "content-type": "text/plain" } });
        expect(response.status).to.equal(200);
        expect(await response.json()).to.deep.equal({ echo: "hello" });
        expect(receipt).to.deep.include({ scheme: "escrow", amount: 2_000n, charged: true });
        expect(receipt?.settlement?.success).to.equal(true);
        expect((await account.balance(token("usdt"))).deposited).to.equal(48_000n);
        expect((await s.escrow.read.earningsOf([token("usdt"), gateway.payTo])) as bigint).to.equal(earningsBefore + 2_000n);
        expect(await walletBalance("usdt", a.address)).to.equal(50_000n);
      });

      it("pays transfer in SKL: its own ERC-20 transfer to payTo, then the proof", async () => {
        const a = await agent({ skl: 10n ** 18n });
        const payeeBefore = await walletBalance("skl", gateway.payTo);
        const payFetch = payFetchFor(a, { tokens: [{ address: token("skl"), maxPrice: 10n ** 17n }], schemes: ["transfer"] });
        const { response, receipt } = await payFetch(`${gateway.base}/quote`);
        expect(response.status).to.equal(200);
        expect(receipt).to.deep.include({ scheme: "transfer", amount: PRICES.skl, charged: true });
        expect(receipt?.transaction).to.match(/^0x[0-9a-f]{64}$/);
        expect(receipt?.settlement).to.deep.include({ success: true, transaction: receipt?.transaction });
        expect(await walletBalance("skl", a.address)).to.equal(10n ** 18n - PRICES.skl);
        expect(await walletBalance("skl", gateway.payTo)).to.equal(payeeBefore + PRICES.skl);
      });

      it("passes a request that needs no payment straight through", async () => {
        const a = await agent({});
        const payFetch = payFetchFor(a, { tokens: [{ address: token("usdc"), maxPrice: 1n }] });
        const { response, receipt } = await payFetch(`${gateway.base}/health`);
        expect(response.status).to.equal(200);
        expect(receipt).to.equal(undefined);
      });
    });

    describe("policy", () => {
      it("prefers tokens in the order given, before scheme preference", async () => {
        // USDT has no EIP-3009 and no deposit here, so exact and escrow are out; transfer pays.
        const a = await agent({ usdc: 1_000_000n, usdt: 1_000_000n });
        const policy: PaymentPolicy = {
          tokens: [
            { address: token("usdt"), maxPrice: 5_000n },
            { address: token("usdc"), maxPrice: 5_000n },
          ],
        };
        const first = await payFetchFor(a, policy)(`${gateway.base}/quote`);
        expect(first.receipt).to.deep.include({ scheme: "transfer", token: token("usdt") });

        const reversed = await payFetchFor(a, { tokens: [...policy.tokens].reverse() })(`${gateway.base}/quote`);
        expect(reversed.receipt).to.deep.include({ scheme: "exact", token: token("usdc") });
        expect(await walletBalance("usdt", a.address)).to.equal(1_000_000n - 2_000n);
        expect(await walletBalance("usdc", a.address)).to.equal(1_000_000n - 2_000n);
      });

      it("follows the scheme order within a token, skipping a scheme it cannot fund", async () => {
        const a = await agent({ usdc: 1_000_000n });
        // Escrow first, but nothing deposited: falls through to exact.
        const payFetch = payFetchFor(a, { tokens: [{ address: token("usdc"), maxPrice: 5_000n }], schemes: ["escrow", "exact"] });
        const { receipt } = await payFetch(`${gateway.base}/quote`);
        expect(receipt?.scheme).to.equal("exact");
      });

      it("refuses an offer above the maximum price without sending any payment", async () => {
        const a = await agent({ usdc: 1_000_000n });
        const seen = usdcOnly.requests.length;
        const error = await rejection(payFetchFor(a, { tokens: [{ address: token("usdc"), maxPrice: 1_999n }] })(`${usdcOnly.base}/quote`));
        expect(error.code).to.equal("price_too_high");
        expect(usdcOnly.requests.slice(seen).every((r) => r.payment === undefined)).to.equal(true);
        expect(usdcOnly.requests.length - seen).to.equal(1);
        expect(await walletBalance("usdc", a.address)).to.equal(1_000_000n);
      });

      it("refuses when nothing offered is acceptable, naming each offer's reason", async () => {
        const a = await agent({ weth: 10n ** 18n });
        const error = await rejection(payFetchFor(a, { tokens: [{ address: token("weth"), maxPrice: 10n ** 18n }] })(`${usdcOnly.base}/quote`));
        expect(error.code).to.equal("no_acceptable_offer");
        expect(error.details?.["rejected"]).to.deep.equal([
          { scheme: "exact", network: "eip155:324705682", asset: token("usdc"), amount: "2000", stage: "not_acceptable", reason: `token ${token("usdc")} is not allowed` },
        ]);
      });

      it("refuses with insufficient_funds when no acceptable offer is covered", async () => {
        const a = await agent({});
        const error = await rejection(payFetchFor(a, { tokens: [{ address: token("usdc"), maxPrice: 5_000n }] })(`${gateway.base}/quote`));
        expect(error.code).to.equal("insufficient_funds");
      });
    });

    describe("daily budget", () => {
      it("refuses the payment that would exceed the budget, remembered across runs through the JSON file", async () => {
        const dir = mkdtempSync(path.join(tmpdir(), "agent-budget-"));
        dirs.push(dir);
        const file = path.join(dir, "budget.json");
        const a = await agent({ usdc: 1_000_000n });
        const policy: PaymentPolicy = { tokens: [{ address: token("usdc"), maxPrice: 5_000n, dailyBudget: 5_000n }] };
        const run = () => payFetchFor(a, policy, { budget: new DailyBudget(jsonFileBudgetStore(file)) });

        const first = run();
        expect((await first(`${gateway.base}/quote`)).response.status).to.equal(200);
        expect((await first(`${gateway.base}/quote`)).response.status).to.equal(200);
        expect((await rejection(first(`${gateway.base}/quote`))).code).to.equal("budget_exceeded");
        // A new process with the same file has the same memory of today.
        expect((await rejection(run()(`${gateway.base}/quote`))).code).to.equal("budget_exceeded");
        expect(await walletBalance("usdc", a.address)).to.equal(1_000_000n - 4_000n);
        expect(await new DailyBudget(jsonFileBudgetStore(file)).usedToday(`${s.chainId}:${token("usdc").toLowerCase()}`)).to.equal(4_000n);
      });

      it("does not count a payment the server says was not charged (upstream failure)", async () => {
        const a = await agent({ usdc: 1_000_000n });
        const budget = new DailyBudget();
        const payFetch = payFetchFor(a, { tokens: [{ address: token("usdc"), maxPrice: 5_000n, dailyBudget: 2_000n }] }, { budget });
        const failed = await payFetch(`${gateway.base}/fail`);
        expect(failed.response.status).to.equal(502);
        expect(failed.receipt).to.deep.include({ charged: false });
        expect(failed.receipt?.settlement?.success).to.equal(false);
        expect(await walletBalance("usdc", a.address)).to.equal(1_000_000n);
        // The whole budget is still there for a request that succeeds.
        expect((await payFetch(`${gateway.base}/quote`)).response.status).to.equal(200);
        expect((await rejection(payFetch(`${gateway.base}/quote`))).code).to.equal("budget_exceeded");
      });
    });

    describe("misbehaving servers", () => {
      let server: Server;
      let base: string;
      let hits = 0;
      let mode: "always402" | "garbage402" = "always402";

      before(async () => {
        server = createServer((req, res) => {
          hits += 1;
          if (mode === "garbage402") {
            res.writeHead(402, { "content-type": "application/json" }).end(JSON.stringify({ error: "pay me" }));
            return;
          }
          const challenge = {
            x402Version: 2,
            resource: { url: `${base}/thing`, description: "thing", mimeType: "application/json" },
            accepts: [
              {
                scheme: "exact",
                network: `eip155:${s.chainId}`,
                amount: "1000",
                asset: token("usdc"),
                payTo: gateway.payTo,
                maxTimeoutSeconds: 300,
                extra: { name: "Bridged USDC (SKALE Bridge)", version: "2" },
              },
            ],
          };
          res.writeHead(402, { "content-type": "application/json", "PAYMENT-REQUIRED": encodeHeaderJson(challenge) });
          res.end(JSON.stringify({ error: req.headers["payment-signature"] === undefined ? "payment_required" : "invalid_signature", message: "no" }));
        });
        server.listen(0, "127.0.0.1");
        await new Promise<void>((resolve) => server.once("listening", resolve));
        base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      });

      after(() => new Promise<void>((resolve) => server.close(() => resolve())));

      it("pays once and throws payment_rejected when the server answers 402 again, without counting it", async () => {
        mode = "always402";
        hits = 0;
        const a = await agent({ usdc: 1_000_000n });
        const budget = new DailyBudget();
        const payFetch = payFetchFor(a, { tokens: [{ address: token("usdc"), maxPrice: 5_000n, dailyBudget: 1_000n }] }, { budget });
        const error = await rejection(payFetch(`${base}/thing`));
        expect(error.code).to.equal("payment_rejected");
        expect(error.details?.["serverError"]).to.equal("invalid_signature");
        expect(hits).to.equal(2);
        // Refused payments do not use up the budget: the same call is allowed (and refused) again.
        expect((await rejection(payFetch(`${base}/thing`))).code).to.equal("payment_rejected");
        expect(hits).to.equal(4);
      });

      it("throws invalid_challenge for a 402 without any x402 challenge", async () => {
        mode = "garbage402";
        hits = 0;
        const a = await agent({});
        const error = await rejection(payFetchFor(a, { tokens: [{ address: token("usdc"), maxPrice: 5_000n }] })(`${base}/thing`));
        expect(error.code).to.equal("invalid_challenge");
        expect(hits).to.equal(1);
      });
    });
  });
}
