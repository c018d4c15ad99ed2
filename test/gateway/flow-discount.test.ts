/**
 * Reputation discounts in the payment flow, through HTTP with the real escrow and transfer schemes
 * on Hardhat's in-process chain: a request naming a wallet (`X-Payer-Address`) is quoted that
 * wallet's discount, and only that wallet, verified, may pay the discounted amount.
 * (test/gateway/gateway-composed.test.ts covers the same with `exact` and the real reputation table.)
 */
import { network } from "hardhat";
import { expect } from "chai";
import { type Address, getAddress } from "viem";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import type { PaidRoute } from "../../gateway/payments/index.js";
import { parseUsd } from "../../gateway/pricing/index.js";
import { decodePaymentRequired } from "../../gateway/x402/index.js";
import { type FlowSystem, PRICE, type RunningApp, type V1Accept, deployFlowSystem, escrowHeader, offerFor, paymentRows, startApp, transferHeader } from "./flow-fixture.js";

const { viem } = await network.create();

after(closeTestBackends);

const route: PaidRoute = { priceUsd: parseUsd("0.01"), description: "Weather", mimeType: "application/json" };
/** Gold: 10 % off. */
const GOLD_BPS = 1_000;
const BROKEN = getAddress("0x00000000000000000000000000000000000000b0");

for (const backend of testBackends()) {
  describe(`flow: reputation discounts [${backend.name}]`, function () {
    this.timeout(120_000);

    let s: FlowSystem;
    let db: TestDatabase;
    let app: RunningApp;
    let gold: Address;
    const warnings: string[] = [];

    before(async () => {
      s = await deployFlowSystem(viem);
      gold = getAddress(s.agent.account.address);
      // Both agents have credit with the payee, so only the discount rule can refuse agent2.
      for (const agent of [s.agent, s.agent2]) {
        await s.escrow.write.deposit([s.usdc.address, PRICE.usdc * 1_000n], { account: agent.account });
        await s.escrow.write.commit([s.usdc.address, s.payTo, PRICE.usdc * 100n], { account: agent.account });
      }
      db = await backend.fresh();
      app = await startApp(s, db, [{ path: "/weather", route, handler: async () => ({ body: { tempC: 21 } }) }], undefined, {
        discountFor: async (payer) => {
          if (payer === BROKEN) throw new Error("reputation table unavailable");
          return { discountBps: payer === gold ? GOLD_BPS : 0 };
        },
        log: { error: () => undefined, warn: (_details, message) => void warnings.push(message) },
      });
    });

    after(async () => {
      await app.close();
      await db.close();
    });

    const url = () => `${app.base}/weather`;
    const named = (payer: Address) => ({ headers: { "X-Payer-Address": payer } });

    it("quotes every token 10 % less to a request naming the gold wallet, in v1 and v2", async () => {
      const usdc = await offerFor(url(), "escrow", s.usdc.address, named(gold));
      expect(usdc.maxAmountRequired).to.equal(((PRICE.usdc * 9n) / 10n).toString());
      const skl = await offerFor(url(), "escrow", s.skl.address, named(gold));
      expect(skl.maxAmountRequired).to.equal(((PRICE.skl * 9n) / 10n).toString());
      // In any spelling of the address.
      const lower = await offerFor(url(), "escrow", s.usdc.address, { headers: { "X-Payer-Address": gold.toLowerCase() } });
      expect(lower.maxAmountRequired).to.equal(usdc.maxAmountRequired);

      const res = await fetch(url(), named(gold));
      const body = (await res.json()) as { accepts: V1Accept[] };
      // Only the discounted offers are listed; their list-price twins are accepted silently.
      expect(body.accepts.filter((a) => getAddress(a.asset) === getAddress(s.usdc.address)).map((a) => a.maxAmountRequired)).to.satisfy((amounts: string[]) =>
        amounts.every((amount) => amount === ((PRICE.usdc * 9n) / 10n).toString()),
      );
      const v2 = decodePaymentRequired(res.headers.get("payment-required")!);
      // v1 lists only the exact offers; v2 lists every scheme.
      expect(v2.accepts.filter((a) => a.scheme === "exact").length).to.equal(body.accepts.length);
      expect(v2.accepts.find((a) => a.scheme === "escrow" && getAddress(a.asset) === getAddress(s.usdc.address))?.amount).to.equal((PRICE.usdc * 9n) / 10n);

      const anonymous = await offerFor(url(), "escrow", s.usdc.address);
      expect(anonymous.maxAmountRequired).to.equal(PRICE.usdc.toString());
    });

    it("serves the gold wallet at the discounted amount, and at the list price too", async () => {
      const discounted = await offerFor(url(), "escrow", s.usdc.address, named(gold));
      const res = await fetch(url(), { headers: { ...named(gold).headers, "X-PAYMENT": await escrowHeader(s, s.agent, discounted) } });
      expect(res.status, await res.clone().text()).to.equal(200);
      expect((await paymentRows(db, "escrow")).at(-1)).to.include({ amount: ((PRICE.usdc * 9n) / 10n).toString() });

      const list = await offerFor(url(), "escrow", s.usdc.address);
      const again = await fetch(url(), { headers: { ...named(gold).headers, "X-PAYMENT": await escrowHeader(s, s.agent, list) } });
      expect(again.status, await again.clone().text()).to.equal(200);
      expect((await paymentRows(db, "escrow")).at(-1)).to.include({ amount: PRICE.usdc.toString() });
    });

    it("refuses the discounted escrow amount from another payer with amount_mismatch, reserving nothing", async () => {
      const discounted = await offerFor(url(), "escrow", s.usdc.address, named(gold));
      const rows = (await paymentRows(db)).length;
      const res = await fetch(url(), { headers: { ...named(gold).headers, "X-PAYMENT": await escrowHeader(s, s.agent2, discounted) } });
      expect(res.status).to.equal(402);
      const body = (await res.json()) as { error: string; details: Record<string, string>; accepts: V1Accept[] };
      expect(body.error).to.equal("amount_mismatch");
      expect(body.details).to.include({ payer: getAddress(s.agent2.account.address), expected: PRICE.usdc.toString() });
      // The refusal carries the same challenge again.
      expect(body.accepts.length).to.be.greaterThan(0);
      expect((await paymentRows(db)).length).to.equal(rows);
    });

    it("does not count another payer's transfer of the discounted amount", async () => {
      const discounted = await offerFor(url(), "transfer", s.usdt.address, named(gold));
      const { header } = await transferHeader(s, s.agent2, discounted);
      const res = await fetch(url(), { headers: { ...named(gold).headers, "X-PAYMENT": header } });
      expect(res.status).to.equal(402);
      expect(((await res.json()) as { error: string }).error).to.equal("amount_mismatch");
      expect(await paymentRows(db, "transfer")).to.deep.equal([]);
    });

    it("quotes the list price when the discount cannot be read, and refuses a malformed address", async () => {
      const offer = await offerFor(url(), "escrow", s.usdc.address, named(BROKEN));
      expect(offer.maxAmountRequired).to.equal(PRICE.usdc.toString());
      expect(warnings).to.include("could not read the payer's discount; quoting the list price");
      const bad = await fetch(url(), { headers: { "X-Payer-Address": "not-an-address" } });
      expect(bad.status).to.equal(400);
      expect(((await bad.json()) as { error: string }).error).to.equal("invalid_request");
    });
  });
}
