/**
 * Crash recovery: an engine "dies" (a client call that never returns) at each point where the
 * database and the chain can disagree, and a new engine's reconciliation settles every payment
 * exactly once, with the stored transaction and never a second one for the same nonce. Also
 * payments a request abandoned (`reserved`) or gave up on (`failed`) are resolved from the chain,
 * and two engines sharing one PostgreSQL settle everything exactly once.
 */
import { network } from "hardhat";
import { expect } from "chai";
import { type Hash, type Hex, getAddress, parseEventLogs, toHex } from "viem";
import { openPostgres } from "../../gateway/db/index.js";
import { type TestDatabase, closeTestBackends, testBackends } from "../../gateway/db/testing.js";
import {
  type PaymentScheme,
  type VerifiedPayment,
  encodeExactPayload,
  exactPaymentKey,
  exactPayloadSchema,
  settlementEscrowAbi,
  transferWithAuthorizationArgs,
  transferWithAuthorizationTypes,
} from "../../gateway/schemes/index.js";
import { settlementBacklog } from "../../gateway/settlement/index.js";
import { USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION } from "../contracts/helpers/escrow.js";
import {
  queuePayments,
  PRICE,
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

let f: SettlementFixture;
before(async function () {
  this.timeout(120_000);
  f = await deploySettlementFixture(connection);
});

const LEASE_PASSED = 61_000;

/** The escrow authorization of a verified payment, as `settle` takes it. */
function authorizationOf(payment: VerifiedPayment) {
  const data = payment.settlementData as { authorization: Record<string, string>; signature: Hash };
  return { authorization: storedAuthorization(data.authorization), signature: data.signature };
}

for (const backend of testBackends()) {
  describe(`settlement reconciliation [${backend.name}]`, function () {
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

    const queue = (count: number) => queuePayments(f, scheme, db, count);

    /** Each payment's escrow nonce is spent, and exactly one PaymentSettled names it. */
    async function expectSettledOnce(payments: readonly VerifiedPayment[], fromBlock: bigint): Promise<void> {
      const logs = parseEventLogs({
        abi: settlementEscrowAbi,
        eventName: "PaymentSettled",
        logs: await f.publicClient.getLogs({ address: f.escrowAddress, fromBlock }),
      });
      for (const payment of payments) {
        const { authorization } = authorizationOf(payment);
        expect(await f.escrow.read.isNonceUsed([authorization.payer, authorization.nonce])).to.equal(true);
        expect(logs.filter((log) => log.args.payer === authorization.payer && log.args.nonce === authorization.nonce)).to.have.length(1);
      }
    }

    it("dies after storing the batch, before broadcasting: the stored transaction is sent and settles once", async () => {
      const { ids, payments } = await queue(3);
      const before = await balances(f, "usdc");
      const startBlock = await f.publicClient.getBlockNumber();
      const sentBefore = await f.publicClient.getTransactionCount({ address: f.settler.address });
      const faults = noFaults();
      faults.hanging.add("eth_sendRawTransaction");
      void engineFor(f, db, { publicClient: f.faultyClient(faults), workerId: "dead" }).runOnce();
      await until(async () => (await batchesOf(db)).length === 1, "the stored batch");
      const [stored] = await batchesOf(db);
      expect(stored?.state).to.equal("sending");
      expect(await f.publicClient.getTransactionCount({ address: f.settler.address })).to.equal(sentBefore);

      // The lease protects the dead worker's batch from a live one until it passes.
      const early = await engineFor(f, db, { workerId: "new" }).reconcile();
      expect(early.batches).to.equal(0);

      const summary = await engineFor(f, db, { workerId: "new", now: ahead(LEASE_PASSED) }).reconcile();
      expect(summary).to.deep.include({ batches: 1, rebroadcast: 1, confirmed: 3 });
      const [batch] = await batchesOf(db);
      expect(batch).to.deep.include({ id: stored?.id, state: "confirmed", tx_hash: stored?.tx_hash, tx_nonce: stored?.tx_nonce });
      const rows = await rowsOf(db, ids);
      expect(rows.every((r) => r.state === "confirmed" && r.tx_hash === stored?.tx_hash)).to.equal(true);
      // One transaction, at the stored nonce, with the stored hash.
      expect(await f.publicClient.getTransactionCount({ address: f.settler.address })).to.equal(sentBefore + 1);
      expect((await f.publicClient.getTransaction({ hash: stored?.tx_hash as Hash })).nonce).to.equal(Number(stored?.tx_nonce));
      await expectSettledOnce(payments, startBlock);
      const after = await balances(f, "usdc");
      expect(after.earnings - before.earnings).to.equal(3n * PRICE);
    });

    it("dies after broadcasting, before recording the receipt: a restart with the same id records it", async () => {
      const { ids, payments } = await queue(2);
      const startBlock = await f.publicClient.getBlockNumber();
      const sentBefore = await f.publicClient.getTransactionCount({ address: f.settler.address });
      const faults = noFaults();
      faults.hangingAfter.add("eth_sendRawTransaction");
      void engineFor(f, db, { publicClient: f.faultyClient(faults), workerId: "host-1" }).runOnce();
      await until(async () => (await f.publicClient.getTransactionCount({ address: f.settler.address })) === sentBefore + 1, "the broadcast");
      const [stored] = await batchesOf(db);
      expect(stored?.state).to.equal("sending"); // the node has it; the database never heard back
      expect((await rowsOf(db, ids)).every((r) => r.state === "submitted")).to.equal(true);

      // Same worker id, real clock: the previous process's leases are taken at once.
      const summary = await engineFor(f, db, { workerId: "host-1" }).reconcile();
      expect(summary).to.deep.include({ batches: 1, rebroadcast: 0, confirmed: 2 });
      expect((await batchesOf(db))[0]).to.deep.include({ state: "confirmed", tx_hash: stored?.tx_hash });
      expect((await rowsOf(db, ids)).every((r) => r.state === "confirmed" && r.tx_hash === stored?.tx_hash)).to.equal(true);
      expect(await f.publicClient.getTransactionCount({ address: f.settler.address })).to.equal(sentBefore + 1);
      await expectSettledOnce(payments, startBlock);
      expect(await settlementBacklog(db)).to.deep.equal({ pending: 0, oldestSeconds: null });
    });

    it("a stored batch whose nonce went to another transaction is failed and its payments settled anew", async () => {
      const { ids, payments } = await queue(3);
      const before = await balances(f, "usdc");
      const startBlock = await f.publicClient.getBlockNumber();
      const faults = noFaults();
      faults.hanging.add("eth_sendRawTransaction");
      void engineFor(f, db, { publicClient: f.faultyClient(faults), workerId: "dead" }).runOnce();
      await until(async () => (await batchesOf(db)).length === 1, "the stored batch");
      const [stored] = await batchesOf(db);

      // The same key sends something else at that nonce (an operator, another tool)...
      const other = await f.wallet.sendTransaction({ to: f.settler.address, value: 0n, nonce: Number(stored?.tx_nonce), chain: null });
      // ...and one of the payments gets settled by somebody else meanwhile.
      const first = payments[0] as VerifiedPayment;
      const { authorization, signature } = authorizationOf(first);
      const direct = await f.escrow.write.settle([authorization, signature], { account: f.operator.account });

      const engine = engineFor(f, db, { workerId: "new", now: ahead(LEASE_PASSED) });
      const summary = await engine.reconcile();
      expect(summary).to.deep.include({ batches: 1, rebroadcast: 0, confirmed: 1, requeued: 2 });
      const [replaced] = await batchesOf(db);
      expect(replaced).to.deep.include({ state: "failed", error: `nonce ${stored?.tx_nonce} was consumed by another transaction` });
      expect((await f.publicClient.getTransaction({ hash: other })).nonce).to.equal(Number(stored?.tx_nonce));
      let rows = await rowsOf(db, ids);
      expect(rows[0]).to.deep.include({ state: "confirmed", tx_hash: direct.toLowerCase() });
      expect(rows.slice(1).every((r) => r.state === "verified" && r.batch_id === null && r.tx_hash === null)).to.equal(true);

      expect(await engine.runOnce()).to.deep.include({ batches: 1, confirmed: 2 });
      const batches = await batchesOf(db);
      expect(batches).to.have.length(2);
      expect(batches[1]).to.deep.include({ state: "confirmed" });
      expect(Number(batches[1]?.tx_nonce)).to.be.greaterThan(Number(stored?.tx_nonce));
      rows = await rowsOf(db, ids);
      expect(rows.slice(1).every((r) => r.state === "confirmed" && r.tx_hash === batches[1]?.tx_hash)).to.equal(true);
      await expectSettledOnce(payments, startBlock);
      expect((await balances(f, "usdc")).earnings - before.earnings).to.equal(3n * PRICE);
    });

    describe("payments a request left behind", () => {
      /** An EIP-3009 payment from the agent's wallet USDC, as the exact scheme would have verified it. */
      async function exactPayment(validFor: bigint): Promise<{ payment: VerifiedPayment; args: ReturnType<typeof transferWithAuthorizationArgs> }> {
        const now = (await f.publicClient.getBlock()).timestamp;
        const message = {
          from: getAddress(f.agent.account.address),
          to: f.payees[0],
          value: PRICE,
          validAfter: 0n,
          validBefore: now + validFor,
          nonce: toHex(crypto.getRandomValues(new Uint8Array(32))) as Hex,
        };
        const signature = await f.agent.signTypedData({
          account: f.agent.account,
          domain: { name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION, chainId: f.chainId, verifyingContract: f.tokens.usdc.address },
          types: transferWithAuthorizationTypes,
          primaryType: "TransferWithAuthorization",
          message,
        });
        const payload = exactPayloadSchema.parse({
          signature,
          authorization: { ...message, value: message.value.toString(), validAfter: "0", validBefore: message.validBefore.toString() },
        });
        const payment: VerifiedPayment = {
          scheme: "exact",
          chainId: f.chainId,
          payer: message.from,
          payee: message.to,
          token: f.tokens.usdc.address,
          amount: PRICE,
          paymentKey: exactPaymentKey(f.chainId, f.tokens.usdc.address, payload.authorization),
          nonce: message.nonce,
          validBefore: message.validBefore,
          settlementData: encodeExactPayload(payload),
        };
        return { payment, args: transferWithAuthorizationArgs(payload) };
      }

      it("resolves abandoned reserved rows from the chain: spent → confirmed, expired unused → released, still valid → kept", async () => {
        const spent = await exactPayment(600n);
        const spentId = await insertPayment(db, spent.payment, "reserved");
        const settledTx = await f.usdc.write.transferWithAuthorization(spent.args as never, { account: f.stranger.account });
        const expiring = await exactPayment(60n);
        const expiringId = await insertPayment(db, expiring.payment, "reserved");
        const valid = await exactPayment(86_400n);
        const validId = await insertPayment(db, valid.payment, "reserved");
        const escrowPaid = await verifiedPayment(f, scheme);
        const escrowId = await insertPayment(db, escrowPaid, "reserved");
        const { authorization, signature } = authorizationOf(escrowPaid);
        const escrowTx = await f.escrow.write.settle([authorization, signature], { account: f.operator.account });

        // Within the grace period a reserved row belongs to its request: nothing is touched.
        const young = await engineFor(f, db).reconcile();
        expect(young).to.deep.include({ confirmed: 0, released: 0, undecided: 0 });
        expect((await rowsOf(db, [spentId, expiringId, validId, escrowId])).every((r) => r.state === "reserved")).to.equal(true);

        // An hour later (grace 10 min; the short authorization expired, the long one did not).
        const summary = await engineFor(f, db, { now: ahead(3_600_000) }).reconcile();
        expect(summary).to.deep.include({ confirmed: 2, released: 1, undecided: 1, failed: 0 });
        const [spentRow, expiringRow, validRow, escrowRow] = await rowsOf(db, [spentId, expiringId, validId, escrowId]);
        expect(spentRow).to.deep.include({ state: "confirmed", tx_hash: settledTx.toLowerCase() });
        expect(expiringRow).to.deep.include({ state: "released" });
        expect(expiringRow?.failure_reason).to.match(/expired unused/);
        expect(validRow).to.deep.include({ state: "reserved" });
        expect(escrowRow).to.deep.include({ state: "confirmed", tx_hash: escrowTx.toLowerCase() });
        // The undecided one is looked at again later, not on every pass.
        expect(validRow?.next_attempt_at.getTime()).to.be.greaterThan(Date.now() + 3_600_000);
        expect(await engineFor(f, db, { now: ahead(3_600_000) }).reconcile()).to.deep.include({ undecided: 0 });
      });

      it("confirms a failed payment whose settlement was mined after all, and leaves an unspent one failed", async () => {
        const mined = await verifiedPayment(f, scheme);
        const minedId = await insertPayment(db, mined, "failed");
        const { authorization, signature } = authorizationOf(mined);
        const tx = await f.escrow.write.settle([authorization, signature], { account: f.operator.account });
        const unspent = await verifiedPayment(f, scheme);
        const unspentId = await insertPayment(db, unspent, "failed");

        const summary = await engineFor(f, db).reconcile();
        expect(summary).to.deep.include({ confirmed: 1, undecided: 1 });
        const [minedRow, unspentRow] = await rowsOf(db, [minedId, unspentId]);
        expect(minedRow).to.deep.include({ state: "confirmed", tx_hash: tx.toLowerCase() });
        expect(unspentRow).to.deep.include({ state: "failed" });

        // Once expired and still unspent, it is checked one last time and then left alone.
        const late = engineFor(f, db, { now: ahead(3_600_000) });
        expect(await late.reconcile()).to.deep.include({ confirmed: 0, undecided: 0 });
        expect((await rowsOf(db, [unspentId]))[0]).to.deep.include({ state: "failed" });
        const { rows } = await db.query<{ n: string }>(
          `SELECT count(*) AS n FROM payments WHERE id = $1 AND next_attempt_at > valid_before`,
          [unspentId],
        );
        expect(rows[0]?.n).to.equal("1");
      });
    });

    const twoEngines = "two engines on one PostgreSQL settle every payment exactly once";
    if (backend.name !== "postgres") {
      it.skip(`${twoEngines} (PostgreSQL only: PGlite is one in-process connection, so two engines cannot race on it)`);
      return;
    }
    it(twoEngines, async () => {
      const second = await openPostgres(backend.url as string, { schema: db.schema, max: 5 });
      try {
        const { ids, payments } = await queue(24);
        const startBlock = await f.publicClient.getBlockNumber();
        const before = await balances(f, "usdc");
        const a = engineFor(f, db, { workerId: "a", batchMax: 2, batchesPerCycle: 8 });
        const b = engineFor(f, second, { workerId: "b", batchMax: 2, batchesPerCycle: 8 });
        // Claims of at most 2 × 8 = 16 rows per cycle: both engines necessarily get work.
        const claimed = { a: 0, b: 0 };
        for (let round = 0; round < 10 && (await settlementBacklog(db)).pending > 0; round++) {
          const [ra, rb] = await Promise.all([a.runOnce(), b.runOnce()]);
          claimed.a += ra.claimed;
          claimed.b += rb.claimed;
        }
        expect(claimed.a).to.be.greaterThan(0);
        expect(claimed.b).to.be.greaterThan(0);
        expect(claimed.a + claimed.b).to.equal(24);
        const rows = await rowsOf(db, ids);
        expect(rows.every((r) => r.state === "confirmed")).to.equal(true);
        const batches = await batchesOf(db);
        expect(batches.every((batch) => batch.state === "confirmed")).to.equal(true);
        expect(new Set(batches.map((batch) => batch.tx_nonce)).size).to.equal(batches.length);
        await expectSettledOnce(payments, startBlock);
        // No payment rode in two transactions: every entry of every batch settled, none was skipped.
        let entries = 0;
        for (const batch of batches) {
          const receipt = await f.publicClient.getTransactionReceipt({ hash: batch.tx_hash as Hash });
          expect(parseEventLogs({ abi: settlementEscrowAbi, eventName: "PaymentFailed", logs: receipt.logs })).to.have.length(0);
          entries += parseEventLogs({ abi: settlementEscrowAbi, eventName: "PaymentSettled", logs: receipt.logs }).length;
        }
        expect(entries).to.equal(24);
        expect((await balances(f, "usdc")).earnings - before.earnings).to.equal(24n * PRICE);
      } finally {
        await second.close();
      }
    });
  });
}
