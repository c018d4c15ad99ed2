/**
 * Transfer proofs through HTTP: the agent pays with a plain ERC-20 transfer and presents the
 * transaction. The money is on chain before the request arrives, so an upstream failure cannot
 * un-charge it: the payment is kept, unserved, and the same request with the same proof is
 * served once the upstream works (docs/gateway-design.md, "Upstream failure").
 */
import { network } from "hardhat";
import { expect } from "chai";
import { getAddress } from "viem";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import type { PaidRoute } from "../../gateway/payments/index.js";
import { parseUsd } from "../../gateway/pricing/index.js";
import { decodeSettlementResponse } from "../../gateway/x402/index.js";
import {
  type FlowSystem,
  PRICE,
  type RunningApp,
  deployFlowSystem,
  offerFor,
  paymentRows,
  receiptOf,
  startApp,
  transferHeader,
} from "./flow-fixture.js";

const { viem } = await network.create();

after(closeTestBackends);

const route: PaidRoute = { priceUsd: parseUsd("0.01"), description: "Quote", mimeType: "application/json" };

for (const backend of testBackends()) {
  describe(`flow: transfer proofs over HTTP [${backend.name}]`, function () {
    this.timeout(120_000);

    let s: FlowSystem;
    let db: TestDatabase;
    let app: RunningApp;
    let upstreamCalls = 0;
    let upstream: "up" | "throws" | "500" | "slow" = "up";
    let release: (() => void) | undefined;

    before(async () => {
      s = await deployFlowSystem(viem);
      db = await backend.fresh();
      app = await startApp(s, db, [
        {
          path: "/quote",
          route,
          handler: async ({ ctx }) => {
            upstreamCalls += 1;
            if (upstream === "throws") throw new Error("upstream down");
            if (upstream === "500") return { status: 500, body: { error: "boom" } };
            if (upstream === "slow") await new Promise<void>((resolve) => (release = resolve));
            return { body: { symbol: ctx.query["symbol"] ?? "SKL", call: upstreamCalls } };
          },
        },
      ]);
    });

    after(async () => {
      await app.close();
      await db.close();
    });

    beforeEach(() => {
      upstream = "up";
    });

    const lastRow = async () => (await paymentRows(db, "transfer")).at(-1)!;

    it("serves a USDT transfer proof and records the payer's own transaction; the payee holds the money", async () => {
      const accept = await offerFor(`${app.base}/quote?symbol=ETH`, "transfer", s.usdt.address);
      const payeeBefore = await s.usdt.read.balanceOf([s.payTo]);
      const { header, transaction } = await transferHeader(s, s.agent, accept);
      expect(await s.usdt.read.balanceOf([s.payTo])).to.equal(payeeBefore + PRICE.usdt);

      const res = await fetch(`${app.base}/quote?symbol=ETH`, { headers: { "X-PAYMENT": header } });
      expect(res.status).to.equal(200);
      expect(await res.json()).to.include({ symbol: "ETH" });
      const receipt = decodeSettlementResponse(res.headers.get("x-payment-response")!, 1);
      expect(receipt).to.include({ success: true, transaction, payer: getAddress(s.agent.account.address) });
      expect(await lastRow()).to.include({ state: "confirmed", tx_hash: transaction, amount: PRICE.usdt.toString(), response_status: 200 });
      // The gateway sent nothing: the payee got exactly the one transfer.
      expect(await s.usdt.read.balanceOf([s.payTo])).to.equal(payeeBefore + PRICE.usdt);
    });

    it("replays the stored response to the same request and refuses the proof for another with transfer_already_used", async () => {
      const accept = await offerFor(`${app.base}/quote?symbol=BTC`, "transfer", s.skl.address);
      const { header } = await transferHeader(s, s.agent, accept);
      const first = await fetch(`${app.base}/quote?symbol=BTC`, { headers: { "X-PAYMENT": header } });
      expect(first.status).to.equal(200);
      const body = await first.text();
      const calls = upstreamCalls;

      const again = await fetch(`${app.base}/quote?symbol=BTC`, { headers: { "X-PAYMENT": header } });
      expect(again.status).to.equal(200);
      expect(await again.text()).to.equal(body);
      expect(upstreamCalls).to.equal(calls);

      const other = await fetch(`${app.base}/quote?symbol=DOGE`, { headers: { "X-PAYMENT": header } });
      expect(other.status).to.equal(402);
      expect(((await other.json()) as { error: string }).error).to.equal("transfer_already_used");
      expect(upstreamCalls).to.equal(calls);
    });

    it("keeps a transfer whose upstream failed, and serves the same request with the same proof later", async () => {
      const accept = await offerFor(`${app.base}/quote?symbol=SOL`, "transfer", s.usdc.address);
      const { header, transaction } = await transferHeader(s, s.agent, accept);

      upstream = "throws";
      const failed = await fetch(`${app.base}/quote?symbol=SOL`, { headers: { "X-PAYMENT": header } });
      expect(failed.status).to.equal(502);
      const failure = (await failed.json()) as { error: string; message: string; details?: { retrySamePayment?: boolean } };
      expect(failure.error).to.equal("upstream_failed");
      expect(failure.details?.retrySamePayment).to.equal(true);
      // The receipt does not pretend otherwise: the transfer is on chain and was charged.
      expect(receiptOf(failed)).to.include({ success: true, transaction });
      expect(await lastRow()).to.include({ state: "confirmed", tx_hash: transaction, response_status: null });
      expect((await lastRow()).failure_reason).to.match(/^unserved/);

      // Still down (now answering 500): still kept.
      upstream = "500";
      const stillDown = await fetch(`${app.base}/quote?symbol=SOL`, { headers: { "X-PAYMENT": header } });
      expect(stillDown.status).to.equal(502);
      expect(await lastRow()).to.include({ response_status: null });

      // Another request cannot take the kept payment.
      upstream = "up";
      const other = await fetch(`${app.base}/quote?symbol=ADA`, { headers: { "X-PAYMENT": header } });
      expect(((await other.json()) as { error: string }).error).to.equal("transfer_already_used");

      const served = await fetch(`${app.base}/quote?symbol=SOL`, { headers: { "X-PAYMENT": header } });
      expect(served.status).to.equal(200);
      expect(await served.json()).to.include({ symbol: "SOL" });
      expect(receiptOf(served)).to.include({ success: true, transaction });
      const row = await lastRow();
      expect(row).to.include({ state: "confirmed", response_status: 200, failure_reason: null });

      // From now on it is an ordinary served payment: replayed, never served twice.
      const calls = upstreamCalls;
      const replay = await fetch(`${app.base}/quote?symbol=SOL`, { headers: { "X-PAYMENT": header } });
      expect(replay.status).to.equal(200);
      expect(upstreamCalls).to.equal(calls);
      expect((await paymentRows(db, "transfer")).filter((r) => r.tx_hash === transaction)).to.have.length(1);
    });

    it("lets one of two concurrent retries of a kept transfer be served; the other is told it is in flight", async () => {
      const accept = await offerFor(`${app.base}/quote?symbol=XRP`, "transfer", s.usdt.address);
      const { header } = await transferHeader(s, s.agent, accept);
      upstream = "throws";
      expect((await fetch(`${app.base}/quote?symbol=XRP`, { headers: { "X-PAYMENT": header } })).status).to.equal(502);

      upstream = "slow";
      const calls = upstreamCalls;
      const first = fetch(`${app.base}/quote?symbol=XRP`, { headers: { "X-PAYMENT": header } });
      while (release === undefined || upstreamCalls === calls) await new Promise((resolve) => setTimeout(resolve, 10));
      const second = await fetch(`${app.base}/quote?symbol=XRP`, { headers: { "X-PAYMENT": header } });
      expect(second.status).to.equal(409);
      expect(((await second.json()) as { error: string }).error).to.equal("payment_in_flight");
      release();
      release = undefined;
      expect((await first).status).to.equal(200);
      expect(upstreamCalls).to.equal(calls + 1);
    });

    it("refuses a proof whose transaction was swapped after signing", async () => {
      const accept = await offerFor(`${app.base}/quote`, "transfer", s.usdt.address);
      const { header } = await transferHeader(s, s.agent, accept);
      const decoded = JSON.parse(Buffer.from(header, "base64").toString()) as { payload: { transaction: string } };
      decoded.payload.transaction = `0x${"12".repeat(32)}`;
      const res = await fetch(`${app.base}/quote`, { headers: { "X-PAYMENT": Buffer.from(JSON.stringify(decoded)).toString("base64") } });
      expect(res.status).to.equal(402);
      // The signature covers the transaction: changing it breaks the proof first.
      expect(((await res.json()) as { error: string }).error).to.equal("invalid_signature");
    });
  });
}
