/**
 * Two gateway replicas (child processes) share one PostgreSQL and one settlement key. Both serve
 * paid requests; replica A's settlement worker claims the whole queue, stores its first batch and
 * is SIGKILLed before broadcasting it. Replica B leaves A's rows alone while A's lease runs, then
 * takes them over through the engine's `FOR UPDATE SKIP LOCKED` claims and lease expiry: it
 * broadcasts A's stored transaction (same hash, same nonce) and settles the rest in a new batch.
 * PostgreSQL only: several processes cannot share PGlite.
 */
import { network } from "hardhat";
import { expect } from "chai";
import { type Hash, getAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { type GatewayChild, startGatewayChild } from "./helpers/child.js";
import { type FaultChain, deployFaultChain, ledgerAgainstChain, statesOf } from "./helpers/stack.js";

const postgres = testBackends().find((b) => b.name === "postgres");

/** Short enough for a test, and still more than the receipt wait + 10 s the engine requires. */
const LEASE_MS = 11_000;

describe("faults: two replicas on one PostgreSQL, one worker crashes [postgres]", function () {
  this.timeout(120_000);
  if (postgres === undefined) {
    it("needs PostgreSQL: set TEST_DATABASE_URL (replicas cannot share PGlite)", function () {
      this.skip();
    });
    return;
  }
  const backend = postgres;
  let chain: FaultChain;
  let db: TestDatabase;
  const children: GatewayChild[] = [];

  before(async function () {
    this.timeout(120_000);
    chain = await deployFaultChain(await network.create());
    db = await backend.fresh();
  });
  after(async () => {
    for (const child of children) await child.stop();
    await db?.close();
    await chain?.close();
    await closeTestBackends();
  });

  it("the surviving replica takes over the dead worker's batch and rows once its lease passes; each payment settles once", async () => {
    const fromBlock = await chain.s.publicClient.getBlockNumber();
    const signerKey = await chain.signer();
    const common = {
      RPC_URL: chain.rpc.url,
      CHAIN_ID: String(chain.s.chainId),
      REGISTRY: getAddress(chain.s.registry.address),
      ESCROW: chain.escrow,
      PAY_TO: chain.payTo,
      SIGNER_PRIVATE_KEY: signerKey,
      DATABASE_URL: backend.url!,
      DB_SCHEMA: db.schema,
      LEASE_MS: String(LEASE_MS),
      RECEIPT_TIMEOUT_MS: "500",
    };
    const a = startGatewayChild({ ...common, WORKER_ID: "replica-a", KILL_AT: "before-broadcast" });
    const b = startGatewayChild({ ...common, WORKER_ID: "replica-b" });
    children.push(a, b);
    const [urlA, urlB] = await Promise.all([a.url(), b.url()]);

    const agent = await chain.agent();
    const usdc = agent.payFetch(["escrow"], ["usdc"]);
    const usdt = agent.payFetch(["escrow"], ["usdt"]);
    for (const [pay, url] of [[usdc, urlA], [usdc, urlB], [usdc, urlA], [usdt, urlB], [usdt, urlA], [usdt, urlB]] as const) {
      expect((await pay(`${url}/quote`)).response.status).to.equal(200);
    }
    expect(await statesOf(db)).to.deep.equal({ "escrow:verified": 6 });

    // A claims all six, stores its first batch, and dies before anything leaves the process.
    await fetch(`${urlA}/__test/settle`, { method: "POST" }).catch(() => undefined);
    expect((await a.exited).signal).to.equal("SIGKILL");
    const crashedAt = Date.now();
    const stored = (await db.query<{ id: string; tx_hash: string; state: string }>("SELECT id, tx_hash, state FROM settlement_batches")).rows;
    expect(stored.map((s) => s.state)).to.deep.equal(["sending"]);
    expect(await chain.s.publicClient.getTransactionCount({ address: privateKeyToAccount(signerKey).address })).to.equal(0);
    const leased = (await db.query<{ locked_by: string }>("SELECT DISTINCT locked_by FROM payments")).rows.map((r) => r.locked_by);
    expect(leased).to.deep.equal(["replica-a"]);

    // While A's lease runs, B's cycles skip its rows and its batch.
    const early = (await (await fetch(`${urlB}/__test/settle`, { method: "POST" })).json()) as { claimed: number; resumed: number };
    expect(early).to.deep.include({ claimed: 0, resumed: 0 });

    await fetch(`${urlB}/__test/start`, { method: "POST" });
    const deadline = Date.now() + 60_000;
    while ((await statesOf(db))["escrow:confirmed"] !== 6) {
      if (Date.now() > deadline) throw new Error(`B did not take over: ${JSON.stringify(await statesOf(db))}\n${b.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(Date.now() - crashedAt, "B waited for A's lease").to.be.greaterThan(LEASE_MS - 2_000);

    const batches = (await db.query<{ tx_hash: string; state: string }>("SELECT tx_hash, state FROM settlement_batches ORDER BY id")).rows;
    expect(batches.map((x) => x.state)).to.deep.equal(["confirmed", "confirmed"]);
    // A's stored transaction is the one that was mined for its payments.
    expect(batches[0]!.tx_hash).to.equal(stored[0]!.tx_hash);
    expect((await chain.s.publicClient.getTransactionReceipt({ hash: stored[0]!.tx_hash as Hash })).status).to.equal("success");
    expect(await chain.s.publicClient.getTransactionCount({ address: privateKeyToAccount(signerKey).address })).to.equal(2);
    const report = await ledgerAgainstChain(chain, db, fromBlock, [agent.address]);
    expect(report.problems).to.deep.equal([]);
    expect(report.served).to.equal(6);
  });
});
