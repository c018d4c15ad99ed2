/**
 * The escrow scheme through HTTP: createApp in front of the real schemes on Hardhat's in-process
 * chain. Async (served on credit, left `verified` for the settlement engine), sync (settled before
 * the answer), replays, and an upstream failure that charges nothing.
 */
import { network } from "hardhat";
import { expect } from "chai";
import { type Hex, getAddress } from "viem";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { createUnsettledLedger } from "../../gateway/ledger/index.js";
import { type PaidRoute, type PaymentRow, rowPayment } from "../../gateway/payments/index.js";
import { parseUsd } from "../../gateway/pricing/index.js";
import { decodeSettlementResponse } from "../../gateway/x402/index.js";
import {
  type FlowSystem,
  PRICE,
  type RunningApp,
  deployFlowSystem,
  escrowHeader,
  offerFor,
  paymentRows,
  realSchemes,
  receiptOf,
  startApp,
} from "./flow-fixture.js";

const { viem } = await network.create();

after(closeTestBackends);

const route: PaidRoute = { priceUsd: parseUsd("0.01"), description: "Weather", mimeType: "application/json" };
const syncRoute: PaidRoute = { ...route, settlement: "sync" };

for (const backend of testBackends()) {
  describe(`flow: escrow payments over HTTP [${backend.name}]`, function () {
    this.timeout(120_000);

    let s: FlowSystem;
    let db: TestDatabase;
    let app: RunningApp;
    let upstreamCalls = 0;
    let upstreamDown = false;
    const handler = async ({ ctx }: { ctx: { query: Record<string, unknown> } }) => {
      upstreamCalls += 1;
      if (upstreamDown) throw new Error("upstream down");
      return { body: { city: ctx.query["city"] ?? "Lisbon", call: upstreamCalls } };
    };

    before(async () => {
      s = await deployFlowSystem(viem);
      // `agent` has credit: a deposit and a commitment to the payee; `agent2` only a deposit.
      for (const [token, amount] of [[s.usdc.address, PRICE.usdc], [s.skl.address, PRICE.skl]] as const) {
        await s.escrow.write.deposit([token, amount * 1_000n], { account: s.agent.account });
        await s.escrow.write.commit([token, s.payTo, amount * 100n], { account: s.agent.account });
        await s.escrow.write.deposit([token, amount * 1_000n], { account: s.agent2.account });
      }
      db = await backend.fresh();
      app = await startApp(s, db, [
        { path: "/weather", route, handler },
        { path: "/weather-sync", route: syncRoute, handler },
      ]);
    });

    after(async () => {
      await app.close();
      await db.close();
    });

    beforeEach(() => {
      upstreamDown = false;
    });

    const escrowBalance = (token: Hex, who: Hex) => s.escrow.read.balanceOf([token, who]);
    const commitment = async (token: Hex, who: Hex) => (await s.escrow.read.commitmentOf([token, who, s.payTo])).amount;
    const unsettled = (token: Hex, payer: Hex) =>
      createUnsettledLedger(db).unsettledAmount({ chainId: s.chainId, token, payer, payee: s.payTo, scheme: "escrow" });
    const lastRow = async () => (await paymentRows(db, "escrow")).at(-1)!;

    it("offers all four tokens under the escrow scheme, async by default and sync on a sync route", async () => {
      const res = await fetch(`${app.base}/weather`);
      // Escrow and transfer offers are announced in the v2 header only (v1 clients know just "exact").
      const { accepts } = JSON.parse(Buffer.from(res.headers.get("payment-required")!, "base64").toString()) as {
        accepts: { scheme: string; asset: string; extra: { settlement?: string } }[];
      };
      const v1 = (await res.json()) as { accepts: { scheme: string }[] };
      expect(v1.accepts.map((a) => a.scheme)).to.have.members(["exact"]);
      const escrowAssets = accepts.filter((a) => a.scheme === "escrow").map((a) => getAddress(a.asset));
      expect(escrowAssets).to.have.members([s.usdc, s.usdt, s.skl, s.weth].map((t) => getAddress(t.address)));
      expect(accepts.filter((a) => a.scheme === "escrow").every((a) => a.extra.settlement === "async")).to.equal(true);
      expect(accepts.map((a) => a.scheme)).to.include.members(["exact", "escrow", "transfer"]);
      const sync = await offerFor(`${app.base}/weather-sync`, "escrow", s.usdc.address);
      expect(sync.extra["settlement"]).to.equal("sync");
    });

    it("serves a committed payer at once and leaves the payment verified for the engine; the stored payment settles", async () => {
      const usdc = s.usdc.address;
      const payer = s.agent.account.address;
      const accept = await offerFor(`${app.base}/weather?city=Porto`, "escrow", usdc);
      const header = await escrowHeader(s, s.agent, accept);
      const [balanceBefore, commitmentBefore] = [await escrowBalance(usdc, payer), await commitment(usdc, payer)];

      const res = await fetch(`${app.base}/weather?city=Porto`, { headers: { "X-PAYMENT": header } });
      expect(res.status).to.equal(200);
      expect(await res.json()).to.include({ city: "Porto" });
      // Accepted on credit: a success naming no transaction, since none exists yet.
      expect(receiptOf(res)).to.deep.equal({ success: true, transaction: "", network: "skale-base-sepolia", payer: getAddress(payer) });

      const row = await lastRow();
      expect(row).to.include({ state: "verified", amount: PRICE.usdc.toString(), tx_hash: null, response_status: 200 });
      expect(await unsettled(usdc, payer)).to.equal(PRICE.usdc);
      // Nothing moved on chain yet.
      expect(await escrowBalance(usdc, payer)).to.equal(balanceBefore);
      expect(await commitment(usdc, payer)).to.equal(commitmentBefore);

      // What the row keeps is all the engine needs: settling it moves exactly the price.
      const { rows } = await db.query<PaymentRow>(
        `SELECT id, payment_key, scheme, chain_id, token, payer, payee, amount, nonce, state, tx_hash, request_fingerprint, payload,
                valid_before, response_status, response_headers, response_body FROM payments WHERE id = $1`,
        [row.id],
      );
      const escrow = realSchemes(s, db).find((scheme) => scheme.name === "escrow")!;
      await escrow.settle(rowPayment(rows[0]!));
      expect(await commitment(usdc, payer)).to.equal(commitmentBefore - PRICE.usdc);
      expect((await s.escrow.read.earningsOf([usdc, s.payTo])) > 0n).to.equal(true);

      // The nonce is now spent on chain, yet an identical retry still gets its stored response.
      const retry = await fetch(`${app.base}/weather?city=Porto`, { headers: { "X-PAYMENT": header } });
      expect(retry.status).to.equal(200);
      expect(await retry.json()).to.include({ city: "Porto" });
    });

    it("settles before answering when the payer has no commitment (sync), balances checked on chain", async () => {
      const usdc = s.usdc.address;
      const payer = s.agent2.account.address;
      const accept = await offerFor(`${app.base}/weather`, "escrow", usdc);
      const header = await escrowHeader(s, s.agent2, accept);
      const before = await escrowBalance(usdc, payer);
      const res = await fetch(`${app.base}/weather`, { headers: { "X-PAYMENT": header } });
      expect(res.status).to.equal(200);
      const receipt = decodeSettlementResponse(res.headers.get("x-payment-response")!, 1);
      expect(receipt).to.include({ success: true, payer: getAddress(payer) });
      const tx = await s.publicClient.getTransactionReceipt({ hash: receipt.transaction as Hex });
      expect(tx.status).to.equal("success");
      expect(await escrowBalance(usdc, payer)).to.equal(before - PRICE.usdc);
      expect(await lastRow()).to.include({ state: "confirmed", tx_hash: receipt.transaction, response_status: 200 });
      expect(await unsettled(usdc, payer)).to.equal(0n);
    });

    it("settles a committed payer synchronously on a sync route, in SKL", async () => {
      const skl = s.skl.address;
      const payer = s.agent.account.address;
      const accept = await offerFor(`${app.base}/weather-sync`, "escrow", skl);
      expect(BigInt(accept.maxAmountRequired)).to.equal(PRICE.skl);
      const header = await escrowHeader(s, s.agent, accept);
      const before = await commitment(skl, payer);
      const res = await fetch(`${app.base}/weather-sync`, { headers: { "X-PAYMENT": header } });
      expect(res.status).to.equal(200);
      expect(receiptOf(res).transaction).to.match(/^0x[0-9a-f]{64}$/);
      expect(await commitment(skl, payer)).to.equal(before - PRICE.skl);
      expect(await lastRow()).to.include({ state: "confirmed" });
    });

    it("replays the stored response to the same request and refuses the payment for another with nonce_used", async () => {
      const accept = await offerFor(`${app.base}/weather?city=Faro`, "escrow", s.usdc.address);
      const header = await escrowHeader(s, s.agent, accept);
      const first = await fetch(`${app.base}/weather?city=Faro`, { headers: { "X-PAYMENT": header } });
      expect(first.status).to.equal(200);
      const body = await first.text();
      const calls = upstreamCalls;
      const rowsBefore = (await paymentRows(db)).length;

      const again = await fetch(`${app.base}/weather?city=Faro`, { headers: { "X-PAYMENT": header } });
      expect(again.status).to.equal(200);
      expect(await again.text()).to.equal(body);
      expect(again.headers.get("x-payment-response")).to.equal(first.headers.get("x-payment-response"));
      expect(upstreamCalls).to.equal(calls);

      const other = await fetch(`${app.base}/weather?city=Braga`, { headers: { "X-PAYMENT": header } });
      expect(other.status).to.equal(402);
      expect(((await other.json()) as { error: string }).error).to.equal("nonce_used");
      expect((await paymentRows(db)).length).to.equal(rowsBefore);
    });

    it("charges nothing when the upstream fails: a payment served first is never written, and the same payment works once the upstream is back", async () => {
      const usdc = s.usdc.address;
      const payer = s.agent.account.address;
      const unsettledBefore = await unsettled(usdc, payer);
      const rowsBefore = (await paymentRows(db, "escrow")).length;
      const [balanceBefore, commitmentBefore] = [await escrowBalance(usdc, payer), await commitment(usdc, payer)];
      const serveFirst = await startApp(s, db, [{ path: "/weather", route, handler }], undefined, { serveBeforeRecording: true });
      try {
        const accept = await offerFor(`${serveFirst.base}/weather`, "escrow", usdc);
        const header = await escrowHeader(s, s.agent, accept);
        upstreamDown = true;
        const res = await fetch(`${serveFirst.base}/weather`, { headers: { "X-PAYMENT": header } });
        expect(res.status).to.equal(502);
        expect(((await res.json()) as { error: string; message: string }).message).to.match(/nothing was charged/);
        expect(receiptOf(res)).to.include({ success: false, transaction: "" });
        expect((await paymentRows(db, "escrow")).length, "nothing written").to.equal(rowsBefore);
        expect(await unsettled(usdc, payer)).to.equal(unsettledBefore);
        expect(await escrowBalance(usdc, payer)).to.equal(balanceBefore);
        expect(await commitment(usdc, payer)).to.equal(commitmentBefore);

        // Never recorded, so the authorization is unused: the same payment buys the retry, once.
        upstreamDown = false;
        const retry = await fetch(`${serveFirst.base}/weather`, { headers: { "X-PAYMENT": header } });
        expect(retry.status).to.equal(200);
        const rows = (await paymentRows(db, "escrow")).slice(rowsBefore);
        expect(rows.map((r) => r.state)).to.deep.equal(["verified"]);
        expect(await unsettled(usdc, payer)).to.equal(unsettledBefore + PRICE.usdc);

        // The same payment for another request: refused before its upstream is called.
        const calls = upstreamCalls;
        const other = await fetch(`${serveFirst.base}/weather?city=Braga`, { headers: { "X-PAYMENT": header } });
        expect(((await other.json()) as { error: string }).error).to.equal("nonce_used");
        expect(upstreamCalls).to.equal(calls);
      } finally {
        await serveFirst.close();
      }
    });

    it("lets a payment served first be retried when its response could not even be built", async () => {
      let broken = true;
      const serveFirst = await startApp(
        s,
        db,
        [{ path: "/weather", route, handler: async () => (broken ? { body: { unencodable: 1n } } : { body: { ok: true } }) }],
        undefined,
        { serveBeforeRecording: true },
      );
      try {
        const rowsBefore = (await paymentRows(db, "escrow")).length;
        const accept = await offerFor(`${serveFirst.base}/weather`, "escrow", s.usdc.address);
        const header = await escrowHeader(s, s.agent, accept);
        const first = await fetch(`${serveFirst.base}/weather`, { headers: { "X-PAYMENT": header } });
        expect(first.status).to.not.equal(200);
        expect((await paymentRows(db, "escrow")).length, "nothing written").to.equal(rowsBefore);
        // Not left "in flight": the same payment buys the retry.
        broken = false;
        const retry = await fetch(`${serveFirst.base}/weather`, { headers: { "X-PAYMENT": header } });
        expect(retry.status).to.equal(200);
        expect((await paymentRows(db, "escrow")).slice(rowsBefore).map((r) => r.state)).to.deep.equal(["verified"]);
      } finally {
        await serveFirst.close();
      }
    });

    it("answers a retry that reaches another instance while the upstream fails with the stored response, not 'nothing was charged'", async () => {
      // Two instances behind one public address, so each accepts the other's payments.
      const publicUrl = "https://gateway.example";
      const [a, b] = [
        await startApp(s, db, [{ path: "/weather", route, handler }], undefined, { serveBeforeRecording: true }, publicUrl),
        await startApp(s, db, [{ path: "/weather", route, handler }], undefined, { serveBeforeRecording: true }, publicUrl),
      ];
      try {
        const accept = await offerFor(`${a.base}/weather?city=Evora`, "escrow", s.usdc.address);
        const header = await escrowHeader(s, s.agent, accept);
        const first = await fetch(`${a.base}/weather?city=Evora`, { headers: { "X-PAYMENT": header } });
        expect(first.status).to.equal(200);
        const body = await first.text();
        const rowsBefore = (await paymentRows(db, "escrow")).length;

        // Instance b has never seen this key: it serves first, the upstream fails, and only then
        // does it find the payment recorded.
        upstreamDown = true;
        const callsBefore = upstreamCalls;
        const retry = await fetch(`${b.base}/weather?city=Evora`, { headers: { "X-PAYMENT": header } });
        expect(upstreamCalls, "served first on b").to.equal(callsBefore + 1);
        expect(retry.status).to.equal(200);
        expect(await retry.text()).to.equal(body);
        expect(retry.headers.get("x-payment-response")).to.equal(first.headers.get("x-payment-response"));
        const other = await fetch(`${b.base}/weather?city=Porto`, { headers: { "X-PAYMENT": header } });
        expect(other.status).to.equal(402);
        expect(((await other.json()) as { error: string }).error).to.equal("nonce_used");
        expect((await paymentRows(db, "escrow")).length).to.equal(rowsBefore);
      } finally {
        await a.close();
        await b.close();
      }
    });

    it("charges nothing when the upstream fails on a payment reserved first: the row is released and its key stays used", async () => {
      const usdc = s.usdc.address;
      const payer = s.agent.account.address;
      let calls = 0;
      const checkFirst = await startApp(s, db, [{ path: "/weather", route, handler: async () => {
        calls += 1;
        throw new Error("upstream down");
      } }], undefined, { serveBeforeRecording: false });
      try {
        const unsettledBefore = await unsettled(usdc, payer);
        const accept = await offerFor(`${checkFirst.base}/weather`, "escrow", usdc);
        const header = await escrowHeader(s, s.agent, accept);
        const res = await fetch(`${checkFirst.base}/weather`, { headers: { "X-PAYMENT": header } });
        expect(res.status).to.equal(502);
        expect(receiptOf(res)).to.include({ success: false, transaction: "" });
        expect(await lastRow()).to.include({ state: "released", response_status: null });
        expect(await unsettled(usdc, payer)).to.equal(unsettledBefore);
        expect(calls).to.equal(1);
        // The key stays used: the agent signs a new payment to try again.
        const retry = await fetch(`${checkFirst.base}/weather`, { headers: { "X-PAYMENT": header } });
        expect(((await retry.json()) as { error: string }).error).to.equal("nonce_used");
        expect(calls, "refused before the upstream").to.equal(1);
      } finally {
        await checkFirst.close();
      }
    });
  });
}
