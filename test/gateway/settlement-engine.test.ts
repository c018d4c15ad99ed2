/**
 * The settlement engine's normal operation against Hardhat's in-process chain and both database
 * backends: verified escrow payments become one `settleBatch` per (token, payee), refusals are
 * failed or retried without holding up the rest, a chain outage leaves everything queued with
 * backoff, and a dead worker's claim is taken over once its lease passes.
 */
import { network } from "hardhat";
import { expect } from "chai";
import { type Hash, getAddress, parseEventLogs, toFunctionSelector } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type TestDatabase, closeTestBackends, testBackends } from "../../gateway/db/testing.js";
import { type PaymentScheme, paymentAuthorizationTypes, settlementEscrowAbi } from "../../gateway/schemes/index.js";
import { type MinedBatchSummary, settlementBacklog } from "../../gateway/settlement/index.js";
import {
  PRICE,
  type ChainFaults,
  type SettlementFixture,
  ahead,
  balances,
  batchesOf,
  deploySettlementFixture,
  engineFor,
  escrowScheme,
  insertPayment,
  noFaults,
  rowsOf,
  storedAuthorization,
  until,
  verifiedPayment,
} from "./settlement-fixture.js";

const connection = await network.create();
after(closeTestBackends);

const BATCH_SELECTORS = new Set<string>(
  settlementEscrowAbi.flatMap((item) => (item.type === "function" && item.name.startsWith("settleBatch") ? [toFunctionSelector(item)] : [])),
);
const PAUSED_SELECTOR = toFunctionSelector("function paused()");

let f: SettlementFixture;
before(async function () {
  this.timeout(120_000);
  f = await deploySettlementFixture(connection);
});

for (const backend of testBackends()) {
  describe(`settlement engine [${backend.name}]`, function () {
    this.timeout(60_000);
    let db: TestDatabase;
    let scheme: PaymentScheme;

    beforeEach(async () => {
      db = await backend.fresh();
      scheme = escrowScheme(f);
    });
    afterEach(async () => {
      await db.close();
    });

    async function queue(count: number, options: Parameters<typeof verifiedPayment>[2] = {}): Promise<string[]> {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) ids.push(await insertPayment(db, await verifiedPayment(f, scheme, options)));
      return ids;
    }

    /** A verified payment stored with a signature that is not the payer's: the escrow reports InvalidSignature. */
    async function queueForged(): Promise<string> {
      const tampered = await verifiedPayment(f, scheme);
      const data = tampered.settlementData as { authorization: Record<string, string> };
      const other = privateKeyToAccount(generatePrivateKey());
      const forged = await other.signTypedData({
        domain: { name: "PayPerAgent Settlement Escrow", version: "1", chainId: f.chainId, verifyingContract: f.escrowAddress },
        types: paymentAuthorizationTypes,
        primaryType: "PaymentAuthorization",
        message: storedAuthorization(data.authorization),
      });
      return insertPayment(db, tampered, "verified", { ...tampered.settlementData, signature: forged });
    }

    /** Anyone holding a signed authorization can submit it; the payee is paid all the same. */
    async function settleElsewhere(stored: { authorization: Record<string, string>; signature: string } | undefined): Promise<Hash> {
      if (stored === undefined) throw new Error("no stored payment");
      return f.escrow.write.settle([storedAuthorization(stored.authorization), stored.signature as Hash], { account: f.operator.account });
    }

    it("settles N verified payments in one legacy settleBatch and records the hash on every row", async () => {
      const ids = await queue(5);
      const before = await balances(f, "usdc");
      const signerNonce = await f.publicClient.getTransactionCount({ address: f.settler.address });
      expect(await settlementBacklog(db)).to.deep.include({ pending: 5 });

      const summary = await engineFor(f, db).runOnce();
      expect(summary).to.deep.include({ claimed: 5, batches: 1, confirmed: 5, failed: 0, retried: 0 });

      const rows = await rowsOf(db, ids);
      const hashes = new Set(rows.map((r) => r.tx_hash));
      expect(rows.every((r) => r.state === "confirmed" && r.locked_by === null)).to.equal(true);
      expect(hashes.size).to.equal(1);
      const hash = [...hashes][0] as Hash;
      const [batch] = await batchesOf(db);
      expect(batch).to.deep.include({ state: "confirmed", tx_hash: hash, tx_nonce: String(signerNonce) });
      expect(rows.every((r) => r.batch_id === batch?.id)).to.equal(true);

      const tx = await f.publicClient.getTransaction({ hash });
      expect(tx.type).to.equal("legacy");
      expect(getAddress(tx.to ?? "0x")).to.equal(f.escrowAddress);
      const receipt = await f.publicClient.getTransactionReceipt({ hash });
      expect(receipt.status).to.equal("success");
      expect(String(receipt.blockNumber)).to.equal(batch?.block_number);
      const settled = parseEventLogs({ abi: settlementEscrowAbi, eventName: "PaymentSettled", logs: receipt.logs });
      expect(settled).to.have.length(5);

      const after = await balances(f, "usdc");
      const fees = settled.reduce((sum, log) => sum + log.args.fee, 0n);
      expect(after.earnings - before.earnings).to.equal(5n * PRICE - fees);
      expect(before.committed + before.balance - (after.committed + after.balance)).to.equal(5n * PRICE);
      const nonces = await db.query<{ next_nonce: string }>("SELECT next_nonce FROM signer_nonces");
      expect(nonces.rows[0]?.next_nonce).to.equal(String(signerNonce + 1));
      expect(await settlementBacklog(db)).to.deep.equal({ pending: 0, oldestSeconds: null });
    });

    it("forms one batch per (token, payee) and cuts groups at batchMax", async () => {
      const usdcA = await queue(3);
      const usdtA = await queue(2, { token: "usdt" });
      const usdcB = await queue(2, { payee: f.payees[1] });
      const before = { usdcA: await balances(f, "usdc"), usdtA: await balances(f, "usdt"), usdcB: await balances(f, "usdc", f.payees[1]) };

      const summary = await engineFor(f, db, { batchMax: 2 }).runOnce();
      // usdc→A is cut into 2 + 1; the other two groups fit one batch each.
      expect(summary).to.deep.include({ claimed: 7, batches: 4, confirmed: 7 });

      const batches = await batchesOf(db);
      expect(batches.every((b) => b.state === "confirmed")).to.equal(true);
      const pairs = batches.map((b) => `${b.token}:${b.payee}`);
      const pair = (token: string, payee: string) => `${token.toLowerCase()}:${payee.toLowerCase()}`;
      expect(pairs.filter((p) => p === pair(f.tokens.usdc.address, f.payees[0]))).to.have.length(2);
      expect(pairs.filter((p) => p === pair(f.tokens.usdt.address, f.payees[0]))).to.have.length(1);
      expect(pairs.filter((p) => p === pair(f.tokens.usdc.address, f.payees[1]))).to.have.length(1);
      // Distinct, consecutive signer nonces: one transaction each.
      const nonces = batches.map((b) => Number(b.tx_nonce)).sort((a, b) => a - b);
      expect(new Set(nonces).size).to.equal(4);
      expect((nonces.at(-1) ?? 0) - (nonces[0] ?? 0)).to.equal(3);

      for (const [ids, key, token, payee] of [
        [usdcA, "usdcA", "usdc", f.payees[0]],
        [usdtA, "usdtA", "usdt", f.payees[0]],
        [usdcB, "usdcB", "usdc", f.payees[1]],
      ] as const) {
        const rows = await rowsOf(db, ids);
        expect(rows.every((r) => r.state === "confirmed")).to.equal(true);
        const batchOfRow = batches.filter((b) => rows.some((r) => r.batch_id === b.id));
        expect(batchOfRow.every((b) => b.token === f.tokens[token].address.toLowerCase() && b.payee === payee.toLowerCase())).to.equal(true);
        const after = await balances(f, token, payee);
        expect(after.earnings - before[key].earnings).to.equal(BigInt(ids.length) * PRICE);
      }
    });

    it("simulating every batch: fails a payment the escrow refuses without holding up the others in its batch", async () => {
      const good = await queue(2);
      const badId = await queueForged();
      // Expires before the engine gets to it: Expired.
      const shortLived = await verifiedPayment(f, scheme, { validFor: 100n });
      const expiredId = await insertPayment(db, shortLived);
      await connection.networkHelpers.time.increase(200);
      const more = await queue(1);

      const summary = await engineFor(f, db, { simulation: "always" }).runOnce();
      expect(summary).to.deep.include({ claimed: 5, batches: 1, confirmed: 3, failed: 2 });
      const rows = await rowsOf(db, [...good, ...more]);
      expect(rows.every((r) => r.state === "confirmed")).to.equal(true);
      const [bad, expired] = await rowsOf(db, [badId, expiredId]);
      expect(bad).to.deep.include({ state: "failed", failure_reason: "invalid_signature: InvalidSignature", tx_hash: null });
      expect(expired).to.deep.include({ state: "failed", failure_reason: "expired: Expired", tx_hash: null });
    });

    it("simulating every batch: confirms, with the other transaction, a payment whose authorization someone else already settled", async () => {
      const payment = await verifiedPayment(f, scheme);
      const id = await insertPayment(db, payment);
      const elsewhere = await settleElsewhere(payment.settlementData as { authorization: Record<string, string>; signature: string });
      const summary = await engineFor(f, db, { simulation: "always" }).runOnce();
      expect(summary).to.deep.include({ claimed: 1, batches: 0, confirmed: 1 });
      const [row] = await rowsOf(db, [id]);
      expect(row).to.deep.include({ state: "confirmed", tx_hash: elsewhere.toLowerCase() });
      expect(await batchesOf(db)).to.deep.equal([]);
    });

    it("an entry the escrow skips in the mined batch (PaymentFailed) is resolved from the chain, the rest confirmed", async () => {
      const ids = await queue(3);
      const [first] = await rowsOf(db, ids);
      const stored = (await db.query<{ payload: { authorization: Record<string, string>; signature: Hash } }>(
        "SELECT payload FROM payments WHERE id = $1",
        [first?.id],
      )).rows[0]?.payload;
      const faults = noFaults();
      let direct: Hash | undefined;
      // Just before the batch goes out (after its simulation, if it has one) somebody else settles
      // the first payment.
      faults.beforeSend = async () => {
        faults.beforeSend = undefined;
        direct = await settleElsewhere(stored);
      };
      const before = await balances(f, "usdc");
      const summary = await engineFor(f, db, { publicClient: f.faultyClient(faults) }).runOnce();
      expect(summary).to.deep.include({ batches: 1, confirmed: 3, failed: 0 });
      const [batch] = await batchesOf(db);
      const receipt = await f.publicClient.getTransactionReceipt({ hash: batch?.tx_hash as Hash });
      const skipped = parseEventLogs({ abi: settlementEscrowAbi, eventName: "PaymentFailed", logs: receipt.logs });
      expect(skipped).to.have.length(1);
      const rows = await rowsOf(db, ids);
      expect(rows[0]).to.deep.include({ state: "confirmed", tx_hash: direct?.toLowerCase() });
      expect(rows.slice(1).every((r) => r.state === "confirmed" && r.tx_hash === batch?.tx_hash)).to.equal(true);
      // Paid once each: three payments, three prices.
      expect((await balances(f, "usdc")).earnings - before.earnings).to.equal(3n * PRICE);
    });

    describe("first attempts unsimulated (the default)", () => {
      /** Records every `eth_call` by selector: the escrow's batch calls are simulations, `paused()` is the cycle's check. */
      function watched(): ChainFaults & { callSelectors: string[]; calls: string[] } {
        return Object.assign(noFaults(), { callSelectors: [] as string[], calls: [] as string[] });
      }
      const simulations = (faults: { callSelectors: string[] }) => faults.callSelectors.filter((s) => BATCH_SELECTORS.has(s)).length;

      it("sends every entry without a simulation and resolves what the escrow skipped from the mined batch's events", async () => {
        const good = await queue(2);
        const badId = await queueForged();
        const expiredId = await insertPayment(db, await verifiedPayment(f, scheme, { validFor: 100n }));
        await connection.networkHelpers.time.increase(200);
        const more = await queue(1);

        const faults = watched();
        const mined: MinedBatchSummary[] = [];
        const summary = await engineFor(f, db, { publicClient: f.faultyClient(faults), onBatchMined: (b) => mined.push(b) }).runOnce();
        expect(summary).to.deep.include({ claimed: 5, batches: 1, confirmed: 3, failed: 1, retried: 1 });
        // What the gateway's metrics count: one batch, two of its five entries skipped.
        expect(mined).to.deep.equal([{ chainId: f.chainId, status: "success", payments: 5, skipped: 2 }]);
        expect(simulations(faults)).to.equal(0);
        expect(faults.calls).to.not.include("eth_estimateGas"); // which would execute the batch too
        expect(faults.callSelectors).to.include(PAUSED_SELECTOR);
        const [batch] = await batchesOf(db);
        const receipt = await f.publicClient.getTransactionReceipt({ hash: batch?.tx_hash as Hash });
        expect(parseEventLogs({ abi: settlementEscrowAbi, eventName: "PaymentFailed", logs: receipt.logs })).to.have.length(2);
        expect((await rowsOf(db, [...good, ...more])).every((r) => r.state === "confirmed" && r.tx_hash === batch?.tx_hash)).to.equal(true);
        const [expired] = await rowsOf(db, [expiredId]);
        // Failed with the hash of the batch that carried it, which shows what the escrow said.
        expect(expired).to.deep.include({ state: "failed", failure_reason: "expired: Expired", tx_hash: batch?.tx_hash });
        // The gateway checked the signature before serving: the next attempt is simulated before anything is failed.
        const [bad] = await rowsOf(db, [badId]);
        expect(bad).to.deep.include({ state: "verified", attempts: 1, batch_id: null });
        expect(bad?.failure_reason).to.match(/^invalid_signature: InvalidSignature in the mined batch/);

        const retry = watched();
        const second = await engineFor(f, db, { publicClient: f.faultyClient(retry), now: ahead(60_000) }).runOnce();
        expect(second).to.deep.include({ claimed: 1, batches: 0, failed: 1 });
        expect(simulations(retry)).to.equal(1);
        expect((await rowsOf(db, [badId]))[0]).to.deep.include({ state: "failed", failure_reason: "invalid_signature: InvalidSignature" });
        expect(retry.calls).to.not.include("eth_sendRawTransaction");
      });

      it("confirms, with the other transaction, a payment someone else settled first, from the NonceUsed it meets on chain", async () => {
        const payment = await verifiedPayment(f, scheme);
        const id = await insertPayment(db, payment);
        const elsewhere = await settleElsewhere(payment.settlementData as { authorization: Record<string, string>; signature: string });
        const before = await balances(f, "usdc");
        const summary = await engineFor(f, db).runOnce();
        expect(summary).to.deep.include({ claimed: 1, batches: 1, confirmed: 1, failed: 0 });
        expect((await rowsOf(db, [id]))[0]).to.deep.include({ state: "confirmed", tx_hash: elsewhere.toLowerCase() });
        // Paid once: the batch's entry was skipped.
        expect((await balances(f, "usdc")).earnings).to.equal(before.earnings);
      });

      it("simulates instead while the escrow is paused, so no batch goes out to revert", async () => {
        const ids = await queue(2);
        await f.escrow.write.pause({ account: f.admin.account });
        const faults = watched();
        try {
          const summary = await engineFor(f, db, { publicClient: f.faultyClient(faults) }).runOnce();
          expect(summary).to.deep.include({ claimed: 2, batches: 0, retried: 2 });
        } finally {
          await f.escrow.write.unpause({ account: f.admin.account });
        }
        expect(faults.calls).to.not.include("eth_sendRawTransaction");
        expect(await batchesOf(db)).to.deep.equal([]);
        expect((await rowsOf(db, ids)).every((r) => r.state === "verified" && /^chain_unavailable/.test(r.failure_reason ?? ""))).to.equal(true);
        expect(await engineFor(f, db, { now: ahead(60_000) }).runOnce()).to.deep.include({ confirmed: 2 });
      });

      it("after a batch reverted, simulates every batch for a minute", async () => {
        let offsetMs = 0;
        const faults = watched();
        const mined: MinedBatchSummary[] = [];
        const engine = engineFor(f, db, {
          publicClient: f.faultyClient(faults),
          now: () => new Date(Date.now() + offsetMs),
          onBatchMined: (b) => {
            mined.push(b);
            throw new Error("a broken observer changes nothing");
          },
        });
        const reverted = await queue(2);
        // Paused between signing and broadcast: the mined transaction reverts (EnforcedPause).
        faults.beforeSend = async () => {
          faults.beforeSend = undefined;
          await f.escrow.write.pause({ account: f.admin.account });
        };
        try {
          await engine.runOnce();
        } finally {
          await f.escrow.write.unpause({ account: f.admin.account });
        }
        offsetMs = 10_000; // Hardhat answers the reverting send with an error: the receipt is read on this cycle.
        await engine.runOnce();
        expect((await batchesOf(db))[0]).to.deep.include({ state: "failed", error: "reverted" });
        expect(mined).to.deep.equal([{ chainId: f.chainId, status: "reverted", payments: 2, skipped: 0 }]);

        const fresh = await queue(1);
        offsetMs = 40_000;
        faults.callSelectors.length = 0;
        expect(await engine.runOnce()).to.deep.include({ confirmed: 3 });
        // Both groups simulated: the reverted pair (estimated) and the fresh payment (bounded).
        expect(simulations(faults)).to.equal(2);
        expect((await rowsOf(db, [...reverted, ...fresh])).every((r) => r.state === "confirmed")).to.equal(true);

        const later = await queue(1);
        offsetMs = 75_000;
        faults.callSelectors.length = 0;
        expect(await engine.runOnce()).to.deep.include({ confirmed: 1 });
        expect(simulations(faults)).to.equal(0);
        expect((await rowsOf(db, later))[0]?.state).to.equal("confirmed");
      });
    });

    it("keeps payments queued with backoff while the chain is down, and settles them after recovery", async () => {
      const ids = await queue(3);
      const faults = noFaults();
      faults.down = true;
      const publicClient = f.faultyClient(faults);
      const engine = engineFor(f, db, { publicClient, intervalMs: 5_000 });

      const down = await engine.runOnce();
      expect(down).to.deep.include({ claimed: 3, batches: 0, retried: 3, confirmed: 0 });
      let rows = await rowsOf(db, ids);
      expect(rows.every((r) => r.state === "verified" && r.attempts === 1 && r.locked_by === null)).to.equal(true);
      expect(rows.every((r) => r.next_attempt_at.getTime() > Date.now())).to.equal(true);
      expect(rows[0]?.failure_reason).to.match(/^chain_unavailable/);
      // Not due yet: a second cycle right away touches nothing (no busy loop).
      expect(await engine.runOnce()).to.deep.include({ claimed: 0 });
      expect(await batchesOf(db)).to.deep.equal([]);

      faults.down = false;
      faults.callSelectors = [];
      const later = engineFor(f, db, { publicClient, now: ahead(10_000) });
      expect(await later.runOnce()).to.deep.include({ claimed: 3, batches: 1, confirmed: 3 });
      // Only deferred, never refused: still sent unsimulated, so a backlog drains at full speed.
      expect(faults.callSelectors.filter((s) => BATCH_SELECTORS.has(s))).to.deep.equal([]);
      rows = await rowsOf(db, ids);
      expect(rows.every((r) => r.state === "confirmed" && r.failure_reason === null)).to.equal(true);
    });

    it("a broadcast that fails leaves the stored batch to be sent again with the same hash", async () => {
      const ids = await queue(2);
      const faults = noFaults();
      faults.failing.add("eth_sendRawTransaction");
      const publicClient = f.faultyClient(faults);
      const first = await engineFor(f, db, { publicClient }).runOnce();
      expect(first).to.deep.include({ batches: 1, confirmed: 0 });
      const [stored] = await batchesOf(db);
      expect(stored?.state).to.equal("sending");
      expect((await rowsOf(db, ids)).every((r) => r.state === "submitted" && r.tx_hash === stored?.tx_hash)).to.equal(true);

      faults.failing.clear();
      const next = await engineFor(f, db, { publicClient, now: ahead(10_000) }).runOnce();
      expect(next).to.deep.include({ resumed: 1, claimed: 0, confirmed: 2 });
      const [batch] = await batchesOf(db);
      expect(batch).to.deep.include({ id: stored?.id, state: "confirmed", tx_hash: stored?.tx_hash });
      expect((await f.publicClient.getTransaction({ hash: stored?.tx_hash as Hash })).nonce).to.equal(Number(stored?.tx_nonce));
    });

    it("a batch that reverts settles nothing; its payments are retried after a backoff", async () => {
      const ids = await queue(2);
      const faults = noFaults();
      // Paused between signing and broadcast: the mined transaction reverts (EnforcedPause).
      faults.beforeSend = async () => {
        faults.beforeSend = undefined;
        await f.escrow.write.pause({ account: f.admin.account });
      };
      const publicClient = f.faultyClient(faults);
      try {
        await engineFor(f, db, { publicClient }).runOnce();
      } finally {
        await f.escrow.write.unpause({ account: f.admin.account });
      }
      // Hardhat mines the reverting transaction and still answers the send with an error, so the
      // outcome is recorded by whichever path (receipt wait or reconciliation) sees it first.
      await engineFor(f, db, { publicClient, now: ahead(10_000) }).runOnce();
      const [failedBatch] = await batchesOf(db);
      expect(failedBatch).to.deep.include({ state: "failed", error: "reverted" });
      let rows = await rowsOf(db, ids);
      expect(rows.every((r) => r.state === "verified" && r.batch_id === null && r.attempts === 1)).to.equal(true);

      expect(await engineFor(f, db, { publicClient, now: ahead(60_000) }).runOnce()).to.deep.include({ confirmed: 2 });
      rows = await rowsOf(db, ids);
      expect(rows.every((r) => r.state === "confirmed")).to.equal(true);
    });

    it("respects a live lease and takes over a stale one", async () => {
      const ids = await queue(2);
      const faults = noFaults();
      faults.hanging.add("eth_call"); // dies while simulating, its claim held
      const dying = engineFor(f, db, { publicClient: f.faultyClient(faults), workerId: "dies" });
      void dying.runOnce();
      await until(async () => (await rowsOf(db, ids)).every((r) => r.locked_by === "dies"), "the claim");

      const other = engineFor(f, db, { workerId: "other" });
      expect(await other.runOnce()).to.deep.include({ claimed: 0 });
      const afterLease = engineFor(f, db, { workerId: "other", now: ahead(61_000) });
      expect(await afterLease.runOnce()).to.deep.include({ claimed: 2, confirmed: 2 });
      expect((await rowsOf(db, ids)).every((r) => r.state === "confirmed")).to.equal(true);
    });

    it("runs on a timer once started and stops cleanly", async () => {
      const ids = await queue(2);
      const engine = engineFor(f, db, { intervalMs: 50 });
      engine.start();
      engine.start(); // idempotent
      try {
        await until(async () => (await rowsOf(db, ids)).every((r) => r.state === "confirmed"), "settlement by the timer loop");
      } finally {
        await engine.stop();
      }
      const late = await queue(1);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await rowsOf(db, late))[0]?.state).to.equal("verified");
    });
  });
}

describe("settlement engine options", () => {
  it("refuses a lease that does not outlast the receipt wait, and an empty worker id", () => {
    expect(() => engineFor(f, undefined as never, { leaseMs: 10_000, receiptTimeoutMs: 5_000 })).to.throw(RangeError, /leaseMs/);
    expect(() => engineFor(f, undefined as never, { workerId: " " })).to.throw(RangeError, /workerId/);
    expect(() => engineFor(f, undefined as never, { batchMax: 0 })).to.throw(RangeError, /batchMax/);
    expect(() => engineFor(f, undefined as never, { simulation: "sometimes" as never })).to.throw(RangeError, /simulation must be one of always, retries/);
  });
});
