/**
 * `reservePaymentAgainstFunds` and the SQL behind it (`record_payment`, migrations 006 and 007), on
 * both backends: the form chosen from what is unsettled, nothing written when refused, a taken key,
 * recently confirmed payments still counted, a batch of concurrent reservations seeing each
 * other, a payment recorded once with its response when served on credit, and the isolation
 * level the lock argument needs.
 */
import { expect } from "chai";
import type { Address } from "viem";
import type { Queryable } from "../../gateway/db/database.js";
import { closeTestBackends, testBackends } from "../../gateway/db/testing.js";
import type { TestDatabase } from "../../gateway/db/testing.js";
import { RECENT_SLACK_MS } from "../../gateway/ledger/index.js";
import { reservePaymentAgainstFunds } from "../../gateway/payments/store.js";
import type { FundsCondition, VerifiedPayment } from "../../gateway/schemes/types.js";

after(closeTestBackends);

const CHAIN_ID = 324705682;
const TOKEN = "0x2e08028E3C4c2356572E096d8EF835cD5C6030bD" as Address;
const PAYER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" as Address;
const PAYEE = "0x90F79bf6EB2c4f870365E785982E1f101E93b906" as Address;

let seq = 0;

/** An escrow-shaped payment of `amount` that may go async while at most `asyncMax` is unsettled, sync up to `syncMax`. */
function payment(amount: bigint, asyncMax: bigint, syncMax: bigint, stateMaxAgeMs = 0): VerifiedPayment & { funds: FundsCondition } {
  seq += 1;
  const data = (mode: string) => ({ mode, nonce: String(seq) });
  return {
    scheme: "escrow",
    chainId: CHAIN_ID,
    payer: PAYER,
    payee: PAYEE,
    token: TOKEN,
    amount,
    paymentKey: `escrow:${CHAIN_ID}:0xescrow:${PAYER.toLowerCase()}:${seq}`,
    nonce: String(seq),
    validBefore: 4_000_000_000n,
    settlementData: data("async"),
    funds: {
      account: { chainId: CHAIN_ID, scheme: "escrow", token: TOKEN, payer: PAYER, payee: PAYEE },
      stateMaxAgeMs,
      forms: [
        { maxUnsettled: asyncMax, settlementData: data("async") },
        { maxUnsettled: syncMax, settlementData: data("sync") },
      ],
      refusal: () => new Error("refused"),
    },
  };
}

for (const backend of testBackends()) {
  describe(`reserve_payment [${backend.name}]`, () => {
    let db: TestDatabase;

    beforeEach(async () => {
      db = await backend.fresh();
    });

    afterEach(async () => {
      await db.close();
    });

    const rows = async () =>
      (await db.query<{ amount: string; payload: { mode: string } }>("SELECT amount, payload FROM payments ORDER BY id")).rows.map((r) => [
        r.amount,
        r.payload.mode,
      ]);

    it("records each payment in the first form its account's unsettled amount allows, and refuses past every bound", async () => {
      const first = await reservePaymentAgainstFunds(db, payment(40n, 60n, 100n), "GET /a");
      expect(first).to.include({ kind: "reserved", unsettled: 0n });
      const second = await reservePaymentAgainstFunds(db, payment(40n, 60n, 100n), "GET /b");
      expect(second).to.include({ kind: "reserved", unsettled: 40n });
      const third = await reservePaymentAgainstFunds(db, payment(40n, 60n, 100n), "GET /c");
      expect(third).to.include({ kind: "reserved", unsettled: 80n });
      if (third.kind !== "reserved") throw new Error("unreachable");
      expect(third.payment.settlementData).to.deep.include({ mode: "sync" });
      expect(third.payment).to.not.have.property("funds");
      expect(await reservePaymentAgainstFunds(db, payment(40n, 60n, 100n), "GET /d")).to.deep.equal({ kind: "refused", unsettled: 120n });
      // The refused one wrote nothing.
      expect(await rows()).to.deep.equal([
        ["40", "async"],
        ["40", "async"],
        ["40", "sync"],
      ]);
    });

    it("answers conflict for a key that is already taken, without a second row", async () => {
      const p = payment(10n, 100n, 100n);
      expect((await reservePaymentAgainstFunds(db, p, "GET /a")).kind).to.equal("reserved");
      expect(await reservePaymentAgainstFunds(db, p, "GET /a")).to.deep.equal({ kind: "conflict" });
      expect(await rows()).to.have.length(1);
    });

    it("lets the reservations of one batch see each other", async () => {
      // Sent together, they go out as one statement; the bound admits two of the three.
      const results = await Promise.all([1, 2, 3].map(() => reservePaymentAgainstFunds(db, payment(50n, 50n, 50n), "GET /x")));
      expect(results.map((r) => r.kind).sort()).to.deep.equal(["refused", "reserved", "reserved"]);
    });

    it("still counts a payment confirmed within the state's age (plus the slack), and only then", async () => {
      const settled = await reservePaymentAgainstFunds(db, payment(70n, 100n, 100n), "GET /a");
      if (settled.kind !== "reserved") throw new Error("expected a reservation");
      await db.query(
        `UPDATE payments SET state = 'confirmed', tx_hash = '0x${"ab".repeat(32)}' WHERE id = $1`,
        [settled.id],
      );
      // The chain state the next payment is judged on may predate that settlement.
      expect(await reservePaymentAgainstFunds(db, payment(50n, 50n, 50n), "GET /b")).to.deep.equal({ kind: "refused", unsettled: 70n });
      await new Promise((resolve) => setTimeout(resolve, RECENT_SLACK_MS + 150));
      expect(await reservePaymentAgainstFunds(db, payment(50n, 50n, 50n), "GET /c")).to.include({ kind: "reserved", unsettled: 0n });
    });

    describe("with the response it bought (recorded once, when served on credit)", () => {
      const response = { status: 200, headers: { "content-type": "application/json" }, body: new Uint8Array(Buffer.from('{"ok":true}')) };
      const served = { response, onCredit: (form: { settlementData: { [key: string]: unknown } }) => form.settlementData["mode"] === "async" };
      const stored = async () =>
        (
          await db.query<{ state: string; payload: { mode: string }; response_status: number | null; response_headers: unknown; response_body: Uint8Array | null }>(
            "SELECT state, payload, response_status, response_headers, response_body FROM payments ORDER BY id",
          )
        ).rows.map((r) => [r.state, r.payload.mode, r.response_status, r.response_headers, r.response_body === null ? null : Buffer.from(r.response_body).toString()]);

      it("writes a payment the funds allow on credit as verified, with its response, in the one statement", async () => {
        const result = await reservePaymentAgainstFunds(db, payment(40n, 60n, 100n), "GET /a", served);
        expect(result).to.include({ kind: "reserved", served: true, unsettled: 0n });
        expect(await stored()).to.deep.equal([["verified", "async", 200, { "content-type": "application/json" }, '{"ok":true}']]);
      });

      it("writes a payment allowed only in a form that settles first as reserved, without the response", async () => {
        await reservePaymentAgainstFunds(db, payment(40n, 60n, 100n), "GET /a", served);
        await reservePaymentAgainstFunds(db, payment(40n, 60n, 100n), "GET /b", served);
        const third = await reservePaymentAgainstFunds(db, payment(40n, 60n, 100n), "GET /c", served);
        expect(third).to.include({ kind: "reserved", served: false, unsettled: 80n });
        expect((await stored())[2]).to.deep.equal(["reserved", "sync", null, null, null]);
      });

      it("records the same row from a lone statement as from a batch", async () => {
        // A spy handle (with a coalescer of its own) that notes which statement each call sent.
        const sent: string[] = [];
        const spy: Queryable = {
          query: (sql, params, options) => {
            sent.push(options?.prepareAs ?? "unnamed");
            return db.query(sql, params, options);
          },
          exec: (sql) => db.exec(sql),
        };
        const alone = await reservePaymentAgainstFunds(spy, payment(40n, 100n, 100n), "GET /a", served);
        const together = await Promise.all([1, 2].map(() => reservePaymentAgainstFunds(spy, payment(40n, 100n, 100n), "GET /a", served)));
        expect(sent).to.deep.equal(["record_payment_one", "record_payment_batch"]);
        expect(alone).to.include({ kind: "reserved", served: true, unsettled: 0n });
        expect(together.map((r) => (r.kind === "reserved" ? r.unsettled : r.kind)).sort()).to.deep.equal([40n, 80n]);
        const columns = await db.query<Record<string, unknown>>(
          `SELECT state, scheme, network, chain_id, token, payer, payee, amount, valid_before, request_fingerprint, tx_hash,
                  payload->>'mode' AS mode, response_status, response_headers, response_body
             FROM payments ORDER BY id`,
        );
        expect(columns.rows).to.have.length(3);
        expect(columns.rows[0]).to.include({ state: "verified", mode: "async", amount: "40", response_status: 200 });
        expect(columns.rows[0]?.["valid_before"]).to.deep.equal(new Date(4_000_000_000_000));
        expect(Buffer.from(columns.rows[0]?.["response_body"] as Uint8Array).toString()).to.equal('{"ok":true}');
        expect(columns.rows[1]).to.deep.equal(columns.rows[0]);
        expect(columns.rows[2]).to.deep.equal(columns.rows[0]);

        // Without an expiry and without a response (reserved, not served), alone and in a batch.
        const plain = () => ({ ...payment(40n, 1_000n, 1_000n), validBefore: null });
        await reservePaymentAgainstFunds(spy, plain(), "GET /b");
        await Promise.all([1, 2].map(() => reservePaymentAgainstFunds(spy, plain(), "GET /b")));
        expect(sent.slice(2)).to.deep.equal(["record_payment_one", "record_payment_batch"]);
        const unserved = await db.query<Record<string, unknown>>(
          `SELECT state, valid_before, response_status, response_headers, response_body FROM payments WHERE request_fingerprint = 'GET /b'`,
        );
        expect(unserved.rows).to.deep.equal(
          Array.from({ length: 3 }, () => ({ state: "reserved", valid_before: null, response_status: null, response_headers: null, response_body: null })),
        );
      });

      it("answers conflict for a taken key inside a batch, and records the rest of it", async () => {
        const taken = payment(10n, 100n, 100n);
        expect((await reservePaymentAgainstFunds(db, taken, "GET /a", served)).kind).to.equal("reserved");
        const [again, fresh] = await Promise.all([
          reservePaymentAgainstFunds(db, taken, "GET /a", served),
          reservePaymentAgainstFunds(db, payment(10n, 100n, 100n), "GET /c", served),
        ]);
        expect(again).to.deep.equal({ kind: "conflict" });
        expect(fresh).to.include({ kind: "reserved", served: true, unsettled: 10n });
        expect(await stored()).to.have.length(2);
      });

      it("writes nothing when refused, and nothing over a taken key", async () => {
        const p = payment(40n, 39n, 39n);
        await reservePaymentAgainstFunds(db, p, "GET /a", served);
        expect(await reservePaymentAgainstFunds(db, p, "GET /a", served)).to.deep.equal({ kind: "conflict" });
        expect(await reservePaymentAgainstFunds(db, payment(40n, 39n, 39n), "GET /b", served)).to.deep.equal({ kind: "refused", unsettled: 40n });
        expect(await stored()).to.have.length(1);
      });

      it("refuses a served form without a response rather than record a served payment with none", async () => {
        const forms = JSON.stringify([{ maxUnsettled: "100", settlementData: { mode: "async" }, served: true }]);
        const failure = await db
          .query(
            `SELECT * FROM record_payment('k1', 'escrow', 'eip155:1', 1, $1, $2, $3, 1, '1', NULL, 'f', NULL, $4::jsonb, NULL, NULL, NULL, NULL)`,
            [TOKEN.toLowerCase(), PAYER.toLowerCase(), PAYEE.toLowerCase(), forms],
          )
          .catch((error: unknown) => error);
        expect(String((failure as Error).message)).to.match(/needs the response/);
        expect(await stored()).to.deep.equal([]);
      });
    });

    it("refuses to run under an isolation level that would take its snapshot before the lock", async () => {
      let failure: unknown;
      await db
        .transaction(async (tx) => {
          await tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
          await reservePaymentAgainstFunds(tx, payment(1n, 10n, 10n), "GET /a");
        })
        .catch((error: unknown) => (failure = error));
      expect(String((failure as Error)?.message)).to.match(/READ COMMITTED/);
    });
  });
}
