/**
 * The unsettled-amount ledger over the `payments` table (gateway/ledger/unsettled.ts): which
 * rows count, exact sums beyond 2^256, every filter, and that the query is one the partial
 * index `payments_unsettled_idx` can answer.
 */
import { expect } from "chai";
import type { Address } from "viem";
import type { Queryable } from "../../gateway/db/database.js";
import { closeTestBackends, testBackends } from "../../gateway/db/testing.js";
import type { TestDatabase } from "../../gateway/db/testing.js";
import {
  UNSETTLED_STATES,
  createUnsettledLedger,
  unsettledAmountSql,
  unsettledParams,
} from "../../gateway/ledger/index.js";

after(closeTestBackends);

const CHAIN_ID = 324705682;
const OTHER_CHAIN_ID = 1187947933;
// Checksummed, as the scheme passes them; stored lower case.
const TOKEN = "0x2e08028E3C4c2356572E096d8EF835cD5C6030bD" as Address;
const OTHER_TOKEN = "0x0000000000000000000000000000000000000Fee" as Address;
const PAYER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" as Address;
const OTHER_PAYER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC" as Address;
const PAYEE = "0x90F79bf6EB2c4f870365E785982E1f101E93b906" as Address;
const OTHER_PAYEE = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65" as Address;
const UINT256_MAX = 2n ** 256n - 1n;

interface Row {
  scheme?: string;
  chainId?: number;
  token?: Address;
  payer?: Address;
  payee?: Address;
  amount: bigint;
  state?: string;
  key?: string;
}

let seq = 0;

/** Inserts a payment row the way the gateway's ledger will (every constraint applies). */
async function insert(q: Queryable, row: Row): Promise<string> {
  seq += 1;
  const scheme = row.scheme ?? "escrow";
  const chainId = row.chainId ?? CHAIN_ID;
  const payer = (row.payer ?? PAYER).toLowerCase();
  const key = row.key ?? `${scheme}:${chainId}:0xescrow:${payer}:${seq}`;
  const state = row.state ?? "verified";
  const settled = state === "submitted" || state === "confirmed";
  await q.query(
    `INSERT INTO payments (payment_key, scheme, network, chain_id, token, payer, payee, amount, nonce,
                           request_fingerprint, state, failure_reason, tx_hash, payload)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    [
      key,
      scheme,
      `eip155:${chainId}`,
      chainId,
      (row.token ?? TOKEN).toLowerCase(),
      payer,
      (row.payee ?? PAYEE).toLowerCase(),
      row.amount,
      String(seq),
      "GET /weather",
      state,
      state === "failed" ? "expired" : null,
      settled ? `0x${seq.toString(16).padStart(64, "0")}` : null,
      { signature: "0x00" },
    ],
  );
  return key;
}

const base = { chainId: CHAIN_ID, token: TOKEN, payer: PAYER, payee: PAYEE };

for (const backend of testBackends()) {
  describe(`unsettled ledger [${backend.name}]`, () => {
    let db: TestDatabase;

    beforeEach(async () => {
      db = await backend.fresh();
    });

    afterEach(async () => {
      await db.close();
    });

    it("is 0 with no payments", async () => {
      expect(await createUnsettledLedger(db).unsettledAmount(base)).to.equal(0n);
    });

    it("sums reserved, verified and submitted payments, and nothing settled, failed or released", async () => {
      const amounts: Record<string, bigint> = {
        reserved: 1n,
        verified: 20n,
        submitted: 300n,
        confirmed: 4_000n,
        failed: 50_000n,
        released: 600_000n,
      };
      for (const [state, amount] of Object.entries(amounts)) await insert(db, { state, amount });
      await insert(db, { state: "verified", amount: 7n });
      expect(await createUnsettledLedger(db).unsettledAmount(base)).to.equal(1n + 20n + 300n + 7n);
      expect(UNSETTLED_STATES).to.deep.equal(["reserved", "verified", "submitted"]);
    });

    it("counts only the given chain, token, payer and payee, whatever the address casing", async () => {
      await insert(db, { amount: 1n });
      await insert(db, { amount: 10n, chainId: OTHER_CHAIN_ID });
      await insert(db, { amount: 100n, token: OTHER_TOKEN });
      await insert(db, { amount: 1_000n, payer: OTHER_PAYER });
      await insert(db, { amount: 10_000n, payee: OTHER_PAYEE });
      const ledger = createUnsettledLedger(db);
      expect(await ledger.unsettledAmount(base)).to.equal(1n);
      const lower = { chainId: CHAIN_ID, token: TOKEN.toLowerCase(), payer: PAYER.toLowerCase(), payee: PAYEE.toLowerCase() };
      expect(await ledger.unsettledAmount(lower as typeof base)).to.equal(1n);
      expect(await ledger.unsettledAmount({ ...base, chainId: OTHER_CHAIN_ID })).to.equal(10n);
      expect(await ledger.unsettledAmount({ ...base, token: OTHER_TOKEN })).to.equal(100n);
      expect(await ledger.unsettledAmount({ ...base, payer: OTHER_PAYER })).to.equal(1_000n);
      expect(await ledger.unsettledAmount({ ...base, payee: OTHER_PAYEE })).to.equal(10_000n);
    });

    it("filters by scheme and leaves out the payment being verified", async () => {
      const own = await insert(db, { amount: 1n, state: "reserved" });
      await insert(db, { amount: 20n });
      await insert(db, { amount: 300n, scheme: "exact" });
      const ledger = createUnsettledLedger(db);
      expect(await ledger.unsettledAmount(base)).to.equal(321n);
      expect(await ledger.unsettledAmount({ ...base, scheme: "escrow" })).to.equal(21n);
      expect(await ledger.unsettledAmount({ ...base, scheme: "exact" })).to.equal(300n);
      expect(await ledger.unsettledAmount({ ...base, scheme: "escrow", excludePaymentKey: own })).to.equal(20n);
      // Keys are lower case; any spelling excludes the same row.
      expect(await ledger.unsettledAmount({ ...base, scheme: "escrow", excludePaymentKey: own.toUpperCase() })).to.equal(20n);
      expect(await ledger.unsettledAmount({ ...base, excludePaymentKey: "escrow:nothing" })).to.equal(321n);
    });

    it("sums exactly beyond uint256, and a state change is seen at once", async () => {
      const key = await insert(db, { amount: UINT256_MAX });
      await insert(db, { amount: UINT256_MAX, state: "submitted" });
      const ledger = createUnsettledLedger(db);
      expect(await ledger.unsettledAmount(base)).to.equal(2n * UINT256_MAX);
      await db.query(`UPDATE payments SET state = 'released' WHERE payment_key = $1`, [key]);
      expect(await ledger.unsettledAmount(base)).to.equal(UINT256_MAX);
    });

    it("reads inside a transaction, seeing its uncommitted rows", async () => {
      await insert(db, { amount: 5n });
      const inside = await db.transaction(async (tx) => {
        await insert(tx, { amount: 6n, state: "reserved" });
        return createUnsettledLedger(tx).unsettledAmount(base);
      });
      expect(inside).to.equal(11n);
    });

    it("is a query the partial index payments_unsettled_idx answers", async () => {
      await insert(db, { amount: 1n });
      const plan = await db.transaction(async (tx) => {
        // Tiny tables make a sequential scan cheaper; forbidding it shows the index is usable.
        await tx.query("SET LOCAL enable_seqscan = off");
        const { rows } = await tx.query<{ "QUERY PLAN": string }>(`EXPLAIN ${unsettledAmountSql}`, unsettledParams(base));
        return rows.map((row) => row["QUERY PLAN"]).join("\n");
      });
      expect(plan).to.contain("payments_unsettled_idx");
    });

    it("refuses inputs that are not addresses or chain ids", async () => {
      const ledger = createUnsettledLedger(db);
      let error: unknown;
      try {
        await ledger.unsettledAmount({ ...base, payer: "0x1234" as Address });
      } catch (e) {
        error = e;
      }
      expect(error).to.be.instanceOf(TypeError);
      expect(() => unsettledParams({ ...base, chainId: 0 })).to.throw(RangeError);
      expect(() => unsettledParams({ ...base, chainId: 1.5 })).to.throw(RangeError);
    });
  });
}
