/**
 * Escrow credit under concurrency: a payer whose commitment covers K payments sends N > K
 * different payments at once, split over two gateway instances on one database (two pools on
 * PostgreSQL; one shared Database object on PGlite, which one process owns). Exactly K are served
 * on credit; the rest are refused, never served against funds already spoken for.
 */
import { readFileSync } from "node:fs";
import { network } from "hardhat";
import { expect } from "chai";
import type { WalletClient } from "@nomicfoundation/hardhat-viem/types";
import { type Database, openPostgres } from "../../gateway/db/index.js";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { createUnsettledLedger } from "../../gateway/ledger/index.js";
import type { PaidRoute, PaymentFlowDeps } from "../../gateway/payments/index.js";
import { parseUsd } from "../../gateway/pricing/index.js";
import {
  type FlowSystem,
  PRICE,
  type RunningApp,
  deployFlowSystem,
  escrowHeader,
  offerFor,
  paymentRows,
  receiptOf,
  startApp,
} from "./flow-fixture.js";
import type { PaymentScheme } from "../../gateway/schemes/index.js";

const { viem, networkHelpers } = await network.create();

after(closeTestBackends);

const route: PaidRoute = { priceUsd: parseUsd("0.01"), description: "Quote", mimeType: "application/json" };
const K = 3n;
const N = 8;

for (const backend of testBackends()) {
  describe(`flow: concurrent escrow payments across two instances [${backend.name}]`, function () {
    this.timeout(180_000);

    let s: FlowSystem;
    let db: TestDatabase;
    let second: Database;
    let apps: RunningApp[] = [];
    let upstreamCalls = 0;

    before(async () => {
      s = await deployFlowSystem(viem);
      db = await backend.fresh();
      second = backend.url === undefined ? db : await openPostgres(backend.url, { schema: db.schema, max: 4 });
    });

    after(async () => {
      for (const app of apps) await app.close();
      if (second !== db) await second.close();
      await db.close();
    });

    afterEach(async () => {
      for (const app of apps) await app.close();
      apps = [];
    });

    /** A new payer with a large deposit of which only K payments' worth is committed to the payee. */
    async function creditedPayer(index: number): Promise<WalletClient> {
      const payer = (await viem.getWalletClients())[index]!;
      await networkHelpers.setBalance(payer.account.address, 10n ** 20n);
      await s.usdc.write.mint([payer.account.address, PRICE.usdc * 1_000n]);
      await s.usdc.write.approve([s.escrow.address, 2n ** 255n], { account: payer.account });
      await s.escrow.write.deposit([s.usdc.address, PRICE.usdc * 1_000n], { account: payer.account });
      const current = await s.escrow.read.commitmentOf([s.usdc.address, payer.account.address, s.payTo]);
      await s.escrow.write.commit([s.usdc.address, s.payTo, PRICE.usdc * K - current.amount], { account: payer.account });
      return payer;
    }

    async function burst(
      payer: WalletClient,
      dbs: readonly [Database, Database],
      schemes?: (db: Database) => PaymentScheme[],
      flowDeps: Partial<PaymentFlowDeps> = {},
    ) {
      const paths = [{ path: "/quote", route, handler: async () => ({ body: { ok: true, call: ++upstreamCalls } }) }];
      apps = [await startApp(s, dbs[0], paths, schemes?.(dbs[0]), flowDeps)];
      apps.push(await startApp(s, dbs[1], paths, schemes?.(dbs[1]), flowDeps));
      const before = (await paymentRows(db, "escrow")).length;
      // Every payment is signed first, then all are sent at once, alternating instances.
      const headers: { base: string; header: string }[] = [];
      for (let i = 0; i < N; i++) {
        const base = apps[i % 2]!.base;
        const accept = await offerFor(`${base}/quote?i=${i}`, "escrow", s.usdc.address);
        headers.push({ base, header: await escrowHeader(s, payer, accept) });
      }
      const responses = await Promise.all(headers.map(({ base, header }, i) => fetch(`${base}/quote?i=${i}`, { headers: { "X-PAYMENT": header } })));
      const bodies = await Promise.all(responses.map(async (res) => ({ status: res.status, body: (await res.json()) as { error?: string }, res })));
      const rows = (await paymentRows(db, "escrow")).slice(before);
      return { bodies, rows };
    }

    for (const [mode, payerIndex] of [["reserved first", 8], ["served first, recorded once", 10]] as const) {
      it(`serves exactly ${K} of ${N} concurrent payments against a commitment covering ${K} (${mode})`, async () => {
        const serveBeforeRecording = mode !== "reserved first";
        const payer = await creditedPayer(payerIndex);
        const { bodies, rows } = await burst(payer, [db, second], undefined, { serveBeforeRecording });
        const served = bodies.filter((b) => b.status === 200);
        expect(served).to.have.length(Number(K));
        for (const b of served) expect(receiptOf(b.res)).to.include({ success: true, transaction: "" });
        for (const b of bodies.filter((x) => x.status !== 200)) {
          expect(b.status).to.equal(402);
          expect(b.body.error).to.equal("insufficient_funds");
        }
        // Only the served ones were ever written, all of them waiting for the engine on credit.
        expect(rows.map((r) => r.state)).to.deep.equal(Array(Number(K)).fill("verified"));
        const owed = await createUnsettledLedger(db).unsettledAmount({
          chainId: s.chainId,
          token: s.usdc.address,
          payer: payer.account.address,
          payee: s.payTo,
          scheme: "escrow",
        });
        const committed = (await s.escrow.read.commitmentOf([s.usdc.address, payer.account.address, s.payTo])).amount;
        expect(owed).to.equal(committed);

        // Served first, all N were in flight before any was recorded, so the refused ones were
        // refused after their upstream call. Each instance has now seen the credit spent: the next
        // payment is checked before its upstream is called, as every payment is when reserved first.
        const calls = upstreamCalls;
        const accept = await offerFor(`${apps[0]!.base}/quote?i=late`, "escrow", s.usdc.address);
        const late = await fetch(`${apps[0]!.base}/quote?i=late`, { headers: { "X-PAYMENT": await escrowHeader(s, payer, accept) } });
        expect(late.status).to.equal(402);
        expect(((await late.json()) as { error: string }).error).to.equal("insufficient_funds");
        expect(upstreamCalls, "no upstream call for a payer known to be out of credit").to.equal(calls);
      });
    }

    it("would serve more than the commitment covers without the lock (the test above can fail)", async function () {
      // PGlite runs one statement at a time on its single connection, so the reservation cannot
      // race there at all; the lock matters where statements run side by side.
      if (backend.url === undefined) this.skip();
      const payer = await creditedPayer(9);
      // The shipped reservation, minus its advisory lock and with a pause between the sum and the
      // insert, so that every concurrent reservation sums before any has inserted.
      const shipped = readFileSync(new URL("../../gateway/db/migrations/007_record_on_serve.sql", import.meta.url), "utf8");
      const body = shipped.slice(shipped.indexOf("CREATE FUNCTION record_payment("), shipped.indexOf("CREATE OR REPLACE FUNCTION reserve_payment("));
      const lockStatement = /  PERFORM pg_advisory_xact_lock\([\s\S]*?\);\n/;
      expect(body).to.match(lockStatement);
      const unlocked = body
        .replace("CREATE FUNCTION record_payment(", "CREATE FUNCTION record_payment_unlocked(")
        .replace(lockStatement, "")
        .replace("  SELECT min(f.ord) INTO v_form", "  PERFORM pg_sleep(1);\n  SELECT min(f.ord) INTO v_form");
      await db.exec(unlocked);
      const racing = (d: Database): Database => ({
        ...d,
        query: (sql, params) => d.query(sql.replace(/\brecord_payment\(/g, "record_payment_unlocked("), params),
      });
      const { bodies } = await burst(payer, [racing(db), racing(second)]);
      // Payments one instance sends in one batch see each other (one transaction); the two
      // instances' batches do not, so together they serve more than the commitment covers.
      expect(bodies.filter((b) => b.status === 200).length).to.be.greaterThan(Number(K));
    });
  });
}
