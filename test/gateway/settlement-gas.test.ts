/**
 * The settlement engine's bounded gas limit (docs/settlement-engine.md, "Gas"): the bound's value,
 * its worst cases measured against the real escrow on Hardhat's chain (EOA payers whose payments
 * touch every slot they can, contract-wallet payers at the ERC-1271 budget), and the engine's use
 * of it on both database backends: no `eth_estimateGas` for an ordinary batch, the estimated path
 * for a bound above the cap, after a reverted batch and when the signer cannot pay for the bound,
 * and payers that turn out to have code.
 */
import { network } from "hardhat";
import { expect } from "chai";
import { type Address, type Hash, type Hex, encodeFunctionData, getAddress, hexToBytes } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type TestDatabase, closeTestBackends, testBackends } from "../../gateway/db/testing.js";
import {
  ESCROW_BATCH_GAS,
  type EscrowBatchEntry,
  MAX_TRANSACTION_GAS,
  type PaymentScheme,
  type VerifiedPayment,
  batchOutcomes,
  escrowBatchCall,
  escrowBatchGasLimit,
  escrowSettlementData,
  prepareEscrowBatch,
  settlementEscrowAbi,
} from "../../gateway/schemes/index.js";
import { capFor } from "../../gateway/settlement/gas.js";
import {
  queuePayments,
  type ChainFaults,
  PRICE,
  type SettlementFixture,
  ahead,
  batchesOf,
  deploySettlementFixture,
  engineFor,
  escrowScheme,
  insertPayment,
  noFaults,
  rawPayment,
  rowsOf,
  signedBy,
  verifiedPayment,
} from "./settlement-fixture.js";

const connection = await network.create();
after(closeTestBackends);

let f: SettlementFixture;
before(async function () {
  this.timeout(120_000);
  f = await deploySettlementFixture(connection);
});

type Entry = Pick<EscrowBatchEntry, "data">;

const entryOf = (payment: VerifiedPayment): Entry & { payment: VerifiedPayment } => ({ payment, data: escrowSettlementData(payment, f.chainId) });

function calldataGas(data: Hex): bigint {
  let gas = 0n;
  for (const byte of hexToBytes(data)) gas += byte === 0 ? 4n : 16n;
  return gas;
}

function encoded(entries: readonly Entry[]): Hex {
  return encodeFunctionData({ abi: settlementEscrowAbi, ...escrowBatchCall(entries) });
}

const lower = (addresses: readonly Address[]) => new Set(addresses.map((a) => a.toLowerCase()));

/** A fresh EOA payer with `deposit` in the escrow (paid in by the agent), and gas money. */
async function eoaPayer(deposit: bigint) {
  const account = privateKeyToAccount(generatePrivateKey());
  await connection.networkHelpers.setBalance(account.address, 10n ** 18n);
  await f.escrow.write.depositFor([f.tokens.usdc.address, account.address, deposit], { account: f.agent.account });
  return account;
}

/** A contract "wallet" payer (contracts/test-helpers) with a deposit. */
async function walletPayer(name: "ReturnBombWallet" | "GasBurningWallet", deposit: bigint): Promise<Address> {
  const wallet = await connection.viem.deployContract(name, []);
  await f.escrow.write.depositFor([f.tokens.usdc.address, wallet.address, deposit], { account: f.agent.account });
  return getAddress(wallet.address);
}

/** Any well-formed compact signature: a contract wallet decides for itself what it accepts. */
const anySignature = (message: Parameters<ReturnType<typeof signedBy>>[0]) => signedBy(f, privateKeyToAccount(generatePrivateKey()))(message);

/** Sends `entries` as the engine would, with exactly `gas`; the receipt and each entry's outcome. */
async function mineAt(entries: readonly (Entry & { payment: VerifiedPayment })[], gas: bigint) {
  const hash = await f.operator.sendTransaction({ to: f.escrowAddress, data: encoded(entries), gas });
  const receipt = await f.publicClient.waitForTransactionReceipt({ hash });
  const outcomes = batchOutcomes(receipt, { chainId: f.chainId, escrow: f.escrowAddress, entries, rejected: [] });
  return { receipt, outcomes };
}

/** The least gas limit the node lets the batch succeed with (refunds counted as needed). */
async function required(entries: readonly Entry[]): Promise<bigint> {
  return f.publicClient.estimateGas({ account: f.operator.account, to: f.escrowAddress, data: encoded(entries) });
}

describe("escrowBatchGasLimit", function () {
  this.timeout(60_000);

  async function someEntries(count: number): Promise<(Entry & { payment: VerifiedPayment })[]> {
    const payer = privateKeyToAccount(generatePrivateKey());
    const entries = [];
    for (let i = 0; i < count; i++) entries.push(entryOf(await rawPayment(f, payer.address, signedBy(f, payer))));
    return entries;
  }

  it("is the calldata's intrinsic cost plus the base, an EOA bound per entry and the memory they leave", async () => {
    const g = ESCROW_BATCH_GAS;
    for (const count of [1, 10, 200]) {
      const entries = await someEntries(count);
      const data = encoded(entries);
      const words = 64n + g.entryMemoryWords * BigInt(count);
      const expected = 21_000n + calldataGas(data) + g.base + g.eoaEntry * BigInt(count) + (words * words) / 512n;
      expect(escrowBatchGasLimit(entries, data)).to.equal(expected);
    }
  });

  it("counts a payer with code at the ERC-1271 bound", async () => {
    const entries = await someEntries(5);
    const data = encoded(entries);
    const contracts = lower([entries[1]!.data.authorization.payer]);
    // All five entries have the one payer: each is counted as a contract's.
    expect(escrowBatchGasLimit(entries, data, contracts) - escrowBatchGasLimit(entries, data)).to.equal(
      5n * (ESCROW_BATCH_GAS.contractEntry - ESCROW_BATCH_GAS.eoaEntry),
    );
    // The contract bound holds the whole ERC-1271 budget and the 1/64 kept back to forward it.
    expect(ESCROW_BATCH_GAS.contractEntry - ESCROW_BATCH_GAS.eoaEntry > 100_000n + 100_000n / 63n).to.equal(true);
  });

  it("adds another payee's and token's credit, a token change, and long signatures for settleBatch", async () => {
    const [a, b] = await someEntries(2);
    const other = entryOf(await rawPayment(f, a!.data.authorization.payer, async () => `0x${"11".repeat(200)}` as Hex, { token: "usdt", payee: f.payees[1] }));
    const entries = [a!, other, b!];
    const data = encoded(entries);
    expect(escrowBatchCall(entries).functionName).to.equal("settleBatch");
    const g = ESCROW_BATCH_GAS;
    const extraWords = 7n - 3n; // 200 bytes is 7 words; 65 bytes (3 words) are in the entry bound
    const words = 64n + 3n * g.entryMemoryWords + 2n * extraWords;
    const expected =
      21_000n + calldataGas(data) + g.base + 3n * g.eoaEntry + g.newPayee + g.newToken + 2n * g.tokenSwitch + extraWords * g.signatureWord + (words * words) / 512n;
    expect(escrowBatchGasLimit(entries, data)).to.equal(expected);
  });

  it("is capped at half the block gas limit and 2^24, or the configured value, never above the block's", () => {
    expect(MAX_TRANSACTION_GAS).to.equal(16_777_216n);
    expect(capFor(60_000_000n, undefined)).to.equal(MAX_TRANSACTION_GAS);
    expect(capFor(20_000_000n, undefined)).to.equal(10_000_000n);
    expect(capFor(60_000_000n, 5_000_000n)).to.equal(5_000_000n);
    expect(capFor(300_000_000n, 40_000_000n)).to.equal(40_000_000n);
    expect(capFor(30_000_000n, 40_000_000n)).to.equal(30_000_000n);
  });
});

describe("bounded gas against the escrow's worst cases", function () {
  this.timeout(120_000);

  it("EOA payers: a fresh nonce word each, paid from commitment, balance and pending withdrawal at once", async () => {
    // Commitment 300, balance 300, pending withdrawal 400: a payment of 1,000 empties all three,
    // the most storage an entry can write; each payer is new to the batch, so every read is cold.
    const entries = [];
    for (let i = 0; i < 20; i++) {
      const payer = await eoaPayer(1_000n);
      await f.escrow.write.commit([f.tokens.usdc.address, f.payees[0], 300n], { account: payer });
      await f.escrow.write.requestWithdrawal([f.tokens.usdc.address, 400n], { account: payer });
      entries.push(entryOf(await rawPayment(f, payer.address, signedBy(f, payer), { amount: 1_000n })));
    }
    const bound = escrowBatchGasLimit(entries, encoded(entries));
    const need = await required(entries);
    expect(need < bound).to.equal(true);
    // Per entry the bound keeps a margin over what the node needs (measured ~58k an entry).
    expect(need / 20n < ESCROW_BATCH_GAS.eoaEntry).to.equal(true);
    const { receipt, outcomes } = await mineAt(entries, bound);
    expect(receipt.status).to.equal("success");
    expect(outcomes.every((o) => o.status === "settled")).to.equal(true);
    for (const entry of entries) {
      const payer = entry.data.authorization.payer;
      expect(await f.escrow.read.balanceOf([f.tokens.usdc.address, payer])).to.equal(0n);
    }
  });

  it("contract payers at the ERC-1271 budget: each ReturnBombWallet entry gets all of it and settles", async () => {
    // ReturnBombWallet spends ~95k of its 100k budget building a 200 KB answer that starts with
    // the magic value: the dearest contract payer that still says yes.
    const entries = [];
    for (let i = 0; i < 6; i++) entries.push(entryOf(await rawPayment(f, await walletPayer("ReturnBombWallet", PRICE), anySignature)));
    const data = encoded(entries);
    const payers = lower(entries.map((e) => e.data.authorization.payer));
    const bound = escrowBatchGasLimit(entries, data, payers);
    expect(await required(entries) < bound).to.equal(true);
    const { receipt, outcomes } = await mineAt(entries, bound);
    expect(receipt.status).to.equal("success");
    expect(outcomes.every((o) => o.status === "settled")).to.equal(true);
  });

  it("a GasBurningWallet payer burns its whole budget and fails alone; the EOA entries around it settle", async () => {
    // EDR will not even estimate this batch ("an internal call runs out of gas regardless of the
    // transaction's gas limit"): the bound is what lets it be sent at all.
    const burner = await walletPayer("GasBurningWallet", PRICE);
    const eoa = await eoaPayer(10n * PRICE);
    const entries = [
      entryOf(await rawPayment(f, eoa.address, signedBy(f, eoa))),
      entryOf(await rawPayment(f, burner, anySignature)),
      entryOf(await rawPayment(f, eoa.address, signedBy(f, eoa))),
    ];
    const bound = escrowBatchGasLimit(entries, encoded(entries), lower([burner]));
    const { receipt, outcomes } = await mineAt(entries, bound);
    expect(receipt.status).to.equal("success");
    expect(outcomes.map((o) => o.status)).to.deep.equal(["settled", "failed", "settled"]);
    expect(outcomes[1]).to.include({ failure: "InvalidSignature" });
    expect(receipt.gasUsed < bound).to.equal(true);
  });

  it("contract payers counted as EOAs do not pass a simulation run at that bound", async () => {
    const entries = [];
    for (let i = 0; i < 3; i++) entries.push(entryOf(await rawPayment(f, await walletPayer("ReturnBombWallet", PRICE), anySignature)));
    const payments = entries.map((e) => e.payment);
    // With the full budget they settle…
    const full = await prepareEscrowBatch({ publicClient: f.publicClient, escrow: f.escrowAddress, sender: f.settler.address, payments });
    expect(full.rejected).to.deep.equal([]);
    // …at a bound that counts them as EOAs, the simulation says they would not: starved
    // (InvalidSignature) or out of gas (a revert), never a clean pass.
    let starved = false;
    try {
      const capped = await prepareEscrowBatch({
        publicClient: f.publicClient,
        escrow: f.escrowAddress,
        sender: f.settler.address,
        payments,
        gasLimit: (candidates, data) => escrowBatchGasLimit(candidates, data),
      });
      starved = capped.rejected.some((o) => o.status !== "settled" && o.failure === "InvalidSignature");
    } catch {
      starved = true;
    }
    expect(starved).to.equal(true);
  });
});

for (const backend of testBackends()) {
  describe(`settlement engine, bounded gas [${backend.name}]`, function () {
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

    /** One payment each from `count` new ReturnBombWallet payers: contract wallets that answer valid. */
    async function queueWalletPayments(count: number): Promise<{ ids: string[]; payments: VerifiedPayment[] }> {
      const payments: VerifiedPayment[] = [];
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const payment = await rawPayment(f, await walletPayer("ReturnBombWallet", PRICE), anySignature);
        payments.push(payment);
        ids.push(await insertPayment(db, payment));
      }
      return { ids, payments };
    }

    function recording(faults: ChainFaults = noFaults()): ChainFaults & { calls: string[] } {
      return Object.assign(faults, { calls: [] as string[] });
    }

    async function sentGas(txHash: string | null | undefined): Promise<{ gas: bigint; input: Hex }> {
      const tx = await f.publicClient.getTransaction({ hash: txHash as Hash });
      return { gas: tx.gas, input: tx.input };
    }

    it("sends an ordinary batch with its bounded limit, simulated at that limit, without eth_estimateGas", async () => {
      const { ids, payments } = await queue(5);
      const faults = recording();
      faults.failing.add("eth_estimateGas");
      const summary = await engineFor(f, db, { publicClient: f.faultyClient(faults), simulation: "always" }).runOnce();
      expect(summary).to.deep.include({ claimed: 5, batches: 1, confirmed: 5 });
      expect(faults.calls).to.not.include("eth_estimateGas");
      expect(faults.calls.filter((m) => m === "eth_call")).to.have.length(1);
      const [row] = await rowsOf(db, ids);
      const { gas, input } = await sentGas(row?.tx_hash);
      expect(gas).to.equal(escrowBatchGasLimit(payments.map(entryOf), input));
    });

    it("estimates a batch whose bound is above maxBatchGas", async () => {
      const { ids, payments } = await queue(20);
      const faults = recording();
      const summary = await engineFor(f, db, { publicClient: f.faultyClient(faults), maxBatchGas: 1_000_000n }).runOnce();
      expect(summary).to.deep.include({ batches: 1, confirmed: 20 });
      expect(faults.calls).to.include("eth_estimateGas");
      const [row] = await rowsOf(db, ids);
      const { gas, input } = await sentGas(row?.tx_hash);
      expect(escrowBatchGasLimit(payments.map(entryOf), input) > 1_000_000n).to.equal(true);
      expect(gas < 1_000_000n).to.equal(true);
    });

    it("finds payers with code in a batch that starves them, and sends it with their ERC-1271 bound", async () => {
      // Payers that got their code after verification (what an EIP-7702 delegation does): the
      // first simulation, at the EOA bound, starves them; the engine looks them up and retries.
      const { ids, payments } = await queueWalletPayments(3);
      const faults = recording();
      faults.failing.add("eth_estimateGas");
      const summary = await engineFor(f, db, { publicClient: f.faultyClient(faults), simulation: "always" }).runOnce();
      expect(summary).to.deep.include({ claimed: 3, batches: 1, confirmed: 3, failed: 0 });
      expect(faults.calls.filter((m) => m === "eth_getCode").length > 0).to.equal(true);
      const [row] = await rowsOf(db, ids);
      const { gas, input } = await sentGas(row?.tx_hash);
      expect(gas).to.equal(escrowBatchGasLimit(payments.map(entryOf), input, lower(payments.map((p) => p.payer))));
    });

    it("unsimulated: looks each new payer up once and sends payers with code at their ERC-1271 bound", async () => {
      const { ids, payments } = await queueWalletPayments(3);
      const eoa = await queue(2);
      const faults = recording();
      faults.failing.add("eth_estimateGas");
      const engine = engineFor(f, db, { publicClient: f.faultyClient(faults) });
      expect(await engine.runOnce()).to.deep.include({ claimed: 5, batches: 1, confirmed: 5, failed: 0 });
      // Three wallets and the fixture's one EOA agent, each looked up once; no simulation.
      expect(faults.calls.filter((m) => m === "eth_getCode")).to.have.length(4);
      expect(faults.calls.filter((m) => m === "eth_call")).to.have.length(1); // the cycle's paused() check
      const [row] = await rowsOf(db, ids);
      const { gas, input } = await sentGas(row?.tx_hash);
      expect(gas).to.equal(escrowBatchGasLimit([...payments, ...eoa.payments].map(entryOf), input, lower(payments.map((p) => p.payer))));

      // Known from now on: the same engine does not look them up again.
      await queue(1);
      faults.calls.length = 0;
      expect(await engine.runOnce()).to.deep.include({ confirmed: 1 });
      expect(faults.calls).to.not.include("eth_getCode");
    });

    it("unsimulated: a payer that gained code after it was looked up is looked up again once its batch reverted", async () => {
      const payer = await eoaPayer(10n * PRICE);
      let offsetMs = 0;
      const faults = recording();
      const engine = engineFor(f, db, { publicClient: f.faultyClient(faults), now: () => new Date(Date.now() + offsetMs) });
      await insertPayment(db, await rawPayment(f, payer.address, signedBy(f, payer)));
      expect(await engine.runOnce()).to.deep.include({ confirmed: 1 }); // looked up: no code

      // Then it gets code (an EIP-7702 delegation) whose ERC-1271 answer takes ~95k gas each.
      const wallet = await connection.viem.deployContract("ReturnBombWallet", []);
      await connection.networkHelpers.setCode(payer.address, (await f.publicClient.getCode({ address: wallet.address })) as Hex);
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push(await insertPayment(db, await rawPayment(f, payer.address, anySignature)));
      // Sent unsimulated at the EOA bound: the batch runs out of gas and reverts.
      expect(await engine.runOnce()).to.deep.include({ batches: 1, confirmed: 0 });
      offsetMs = 10_000; // Hardhat answers a reverting send with an error: the receipt is read on this cycle.
      expect(await engine.runOnce()).to.deep.include({ resumed: 1, retried: 3 });
      expect((await batchesOf(db)).map((b) => b.error)).to.deep.equal([null, "reverted"]);
      offsetMs = 30_000; // The reverted payments go out estimated.
      expect(await engine.runOnce()).to.deep.include({ claimed: 3, confirmed: 3 });

      // A minute after the revert its next payment goes unsimulated again, looked up first this time.
      const nextPayment = await rawPayment(f, payer.address, anySignature);
      const next = await insertPayment(db, nextPayment);
      offsetMs = 75_000;
      faults.calls.length = 0;
      expect(await engine.runOnce()).to.deep.include({ claimed: 1, batches: 1, confirmed: 1 });
      expect(faults.calls).to.include("eth_getCode");
      expect(faults.calls).to.not.include("eth_estimateGas");
      const [row] = await rowsOf(db, [next]);
      const { gas, input } = await sentGas(row?.tx_hash);
      expect(gas).to.equal(escrowBatchGasLimit([entryOf(nextPayment)], input, lower([payer.address])));
      expect((await rowsOf(db, ids)).every((r) => r.state === "confirmed")).to.equal(true);
    });

    it("simulates again, before failing it, a payment the mined batch reports InvalidSignature for", async () => {
      const payer = await eoaPayer(10n * PRICE);
      const turning = await rawPayment(f, payer.address, signedBy(f, payer));
      const turningId = await insertPayment(db, turning);
      const { ids } = await queue(1);
      const burner = await connection.viem.deployContract("GasBurningWallet", []);
      const burnerCode = await f.publicClient.getCode({ address: burner.address });
      const faults = noFaults();
      // Between the simulation and the send, the payer's account gets code that refuses everything.
      faults.beforeSend = async () => {
        faults.beforeSend = undefined;
        await connection.networkHelpers.setCode(payer.address, burnerCode as Hex);
      };
      const publicClient = f.faultyClient(faults);
      const first = await engineFor(f, db, { publicClient }).runOnce();
      expect(first).to.deep.include({ batches: 1, confirmed: 1, failed: 0, retried: 1 });
      expect((await rowsOf(db, ids))[0]?.state).to.equal("confirmed");
      const [afterMined] = await rowsOf(db, [turningId]);
      expect(afterMined).to.deep.include({ state: "verified", attempts: 1 });
      expect(afterMined?.failure_reason).to.match(/^invalid_signature: InvalidSignature in the mined batch/);

      // Simulated again (its code found and counted at the contract bound): refused for good.
      const second = await engineFor(f, db, { publicClient, now: ahead(60_000) }).runOnce();
      expect(second).to.deep.include({ claimed: 1, batches: 0, failed: 1 });
      expect((await rowsOf(db, [turningId]))[0]).to.deep.include({ state: "failed", failure_reason: "invalid_signature: InvalidSignature" });
    });

    it("retries the payments of a reverted batch once on the estimated path, apart from fresh ones", async () => {
      const { ids } = await queue(2);
      const faults = noFaults();
      // Paused between signing and broadcast: the mined transaction reverts (EnforcedPause).
      faults.beforeSend = async () => {
        faults.beforeSend = undefined;
        await f.escrow.write.pause({ account: f.admin.account });
      };
      try {
        await engineFor(f, db, { publicClient: f.faultyClient(faults) }).runOnce();
      } finally {
        await f.escrow.write.unpause({ account: f.admin.account });
      }
      // Hardhat answers the send of a reverting transaction with an error; the receipt is read here.
      await engineFor(f, db, { publicClient: f.faultyClient(noFaults()), now: ahead(10_000) }).runOnce();
      expect((await batchesOf(db))[0]).to.deep.include({ state: "failed", error: "reverted" });
      expect((await rowsOf(db, ids)).every((r) => r.state === "verified" && /^settlement_failed: batch 0x[0-9a-f]+ reverted$/.test(r.failure_reason ?? ""))).to.equal(true);

      const fresh = await queue(1);
      const recorded = recording();
      const summary = await engineFor(f, db, { publicClient: f.faultyClient(recorded), now: ahead(60_000) }).runOnce();
      expect(summary).to.deep.include({ claimed: 3, batches: 2, confirmed: 3, failed: 0 });
      expect(recorded.calls.filter((m) => m === "eth_estimateGas")).to.have.length(1);
      const retried = await rowsOf(db, ids);
      const [freshRow] = await rowsOf(db, fresh.ids);
      expect(retried[0]?.tx_hash).to.equal(retried[1]?.tx_hash);
      expect(freshRow?.tx_hash).to.not.equal(retried[0]?.tx_hash);
    });

    it("checks the signer can pay for the limit: estimates when it cannot pay the bound, waits when it cannot pay at all", async () => {
      const { ids, payments } = await queue(2);
      const gasPrice = await f.publicClient.getGasPrice();
      const bound = escrowBatchGasLimit(payments.map(entryOf), encoded(payments.map(entryOf)));
      const before = await f.publicClient.getBalance({ address: f.settler.address });
      try {
        // Not even the estimate: nothing is stored (a node would refuse it), the payments wait.
        await connection.networkHelpers.setBalance(f.settler.address, 1_000n * gasPrice);
        const broke = await engineFor(f, db).runOnce();
        expect(broke).to.deep.include({ batches: 0, retried: 2 });
        expect(await batchesOf(db)).to.deep.equal([]);
        expect((await rowsOf(db, ids))[0]?.failure_reason).to.match(/^chain_unavailable: the settlement signer's balance/);

        // Enough for the estimate, not for the bound.
        await connection.networkHelpers.setBalance(f.settler.address, (bound * gasPrice * 3n) / 4n);
        const faults = recording();
        const summary = await engineFor(f, db, { publicClient: f.faultyClient(faults), now: ahead(60_000) }).runOnce();
        expect(summary).to.deep.include({ batches: 1, confirmed: 2 });
        expect(faults.calls).to.include("eth_estimateGas");
        const { gas } = await sentGas((await rowsOf(db, ids))[0]?.tx_hash);
        expect(gas < bound).to.equal(true);
      } finally {
        await connection.networkHelpers.setBalance(f.settler.address, before);
      }
    });
  });
}

describe("settlement engine gas options", () => {
  it("refuses a maxBatchGas too small for any batch", () => {
    expect(() => engineFor(f, undefined as never, { maxBatchGas: 100_000n })).to.throw(RangeError, /maxBatchGas/);
  });
});
