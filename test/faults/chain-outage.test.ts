/**
 * The chain's RPC goes down, answers errors, or stops answering while the gateway settles. Paid
 * requests that cannot be checked are refused cleanly (503 chain_unavailable, nothing served,
 * nothing reserved), payments already served wait in the ledger and settle once the node is
 * back, and a settlement whose answer was lost in transit is found on chain and recorded, not
 * sent twice. Each case ends with the ledger checked against the chain.
 */
import { DEFAULT_HEAD_MAX_AGE_MS } from "../../gateway/chain/head.js";
import { network } from "hardhat";
import { expect } from "chai";
import { getAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { Database } from "../../gateway/db/index.js";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { type FaultChain, type FaultGateway, deployFaultChain, ledgerAgainstChain, owed, startFaultGateway, statesOf, until } from "./helpers/stack.js";
import type { RpcFault } from "./helpers/rpc-proxy.js";

const connection = await network.create();

const batchStates = async (db: Database) =>
  (await db.query<{ state: string }>("SELECT state FROM settlement_batches ORDER BY id")).rows.map((r) => r.state);
after(closeTestBackends);

let chain: FaultChain;
before(async function () {
  this.timeout(120_000);
  chain = await deployFaultChain(connection);
});
after(async () => chain?.close());

for (const backend of testBackends()) {
  describe(`faults: chain RPC outage during settlement [${backend.name}]`, function () {
    this.timeout(90_000);
    let db: TestDatabase;
    let gateway: FaultGateway | undefined;

    beforeEach(async () => {
      chain.rpc.heal();
      db = await backend.fresh();
    });
    afterEach(async () => {
      chain.rpc.heal();
      await gateway?.close();
      gateway = undefined;
      await db.close();
    });

    it("queues escrow payments through refused connections, errors and timeouts (also of broadcasts), refuses new ones with 503, and settles each once after recovery", async () => {
      const fromBlock = await chain.s.publicClient.getBlockNumber();
      const signerKey = await chain.signer();
      const signer = privateKeyToAccount(signerKey).address;
      gateway = await startFaultGateway({ chain, db, signerKey, schemes: "escrow" });
      const agent = await chain.agent();
      const usdc = agent.payFetch(["escrow"], ["usdc"]);
      const usdt = agent.payFetch(["escrow"], ["usdt"]);

      // Served on credit while the chain is fine; the engine is not running yet.
      for (const pay of [usdc, usdc, usdc, usdt, usdt]) {
        const { response, receipt } = await pay(`${gateway.url}/quote`);
        expect(response.status).to.equal(200);
        expect(receipt?.charged).to.equal(true);
      }
      expect(await statesOf(db)).to.deep.equal({ "escrow:verified": 5 });
      const servedBefore = gateway.served();

      const engine = gateway.engine()!;
      gateway.parts.engine!.start();
      for (const fault of ["refuse", "error", "hang"] as RpcFault[]) {
        chain.rpc.set(fault);
        // Escrow reads are cached per block for as long as the head seen last is trusted
        // (CHAIN_HEAD_MAX_AGE_MS, 250 ms by default); past that, the head must be read again,
        // and a new payment cannot be checked against the payer's funds: refused, never a 500.
        await new Promise((resolve) => setTimeout(resolve, DEFAULT_HEAD_MAX_AGE_MS + 100));
        const { response } = await usdc(`${gateway.url}/quote`);
        expect(response.status, `answer while the node is in "${fault}"`).to.equal(503);
        expect(((await response.json()) as { error: string }).error).to.equal("chain_unavailable");
        // The engine keeps trying; every attempt fails before anything is stored or sent.
        await new Promise((resolve) => setTimeout(resolve, 1_200));
        const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM settlement_batches");
        expect(Number(rows[0]?.n)).to.equal(0);
        expect(await owed(db)).to.equal(5);
      }
      expect(gateway.served()).to.equal(servedBefore);
      const attempts = await db.query<{ attempts: number }>("SELECT attempts FROM payments");
      expect(attempts.rows.every((r) => r.attempts >= 1), "every payment was tried during the outage").to.equal(true);
      // No request of the outage left a row behind: the refused payments were never reserved.
      expect(await statesOf(db)).to.deep.equal({ "escrow:verified": 5 });

      // The node comes back but refuses broadcasts: batches are signed and stored, never sent.
      chain.rpc.heal();
      chain.rpc.set("error", ["eth_sendRawTransaction"]);
      await until(async () => (await batchStates(db)).length === 2, "both batches (USDC, USDT) to be stored");
      expect(await batchStates(db)).to.deep.equal(["sending", "sending"]);
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(await chain.s.publicClient.getTransactionCount({ address: signer })).to.equal(0);
      expect(await owed(db)).to.equal(5);

      chain.rpc.heal();
      await until(async () => (await owed(db)) === 0, "the queue to drain after recovery", 60_000);
      await engine.stop();
      expect(await statesOf(db)).to.deep.equal({ "escrow:confirmed": 5 });
      // The stored transactions were sent again, not replaced: two batches, two transactions.
      expect(await batchStates(db)).to.deep.equal(["confirmed", "confirmed"]);
      expect(await chain.s.publicClient.getTransactionCount({ address: signer })).to.equal(2);
      const report = await ledgerAgainstChain(chain, db, fromBlock, [agent.address]);
      expect(report.problems).to.deep.equal([]);
      expect(report.settledOnChain[`escrow:${getAddress(chain.s.usdc.address)}`]?.count).to.equal(3);
      expect(report.settledOnChain[`escrow:${getAddress(chain.s.usdt.address)}`]?.count).to.equal(2);
    });

    it("an exact settlement whose answer is lost on the way back is found on chain and recorded, never sent twice", async () => {
      const fromBlock = await chain.s.publicClient.getBlockNumber();
      gateway = await startFaultGateway({ chain, db, signerKey: await chain.signer(), schemes: "exact" });
      const agent = await chain.agent();
      const pay = agent.payFetch(["exact"], ["usdc"]);

      // The node takes the transaction and mines it; the gateway never hears back.
      chain.rpc.set("drop-reply", ["eth_sendRawTransaction"]);
      const { response, receipt } = await pay(`${gateway.url}/quote`);
      expect(response.status).to.equal(503);
      expect(((await response.json()) as { error: string }).error).to.equal("chain_unavailable");
      // Outcome unknown: the agent's SDK counts the money as gone.
      expect(receipt?.settlement?.success).to.equal(false);
      expect(receipt?.charged).to.equal(true);
      const [row] = (await db.query<{ state: string }>("SELECT state FROM payments")).rows;
      expect(row?.state).to.equal("failed");
      // The ledger does not know yet what the chain did, and the check says so.
      const before = await ledgerAgainstChain(chain, db, fromBlock, [agent.address]);
      expect(before.problems.join("\n")).to.match(/did not record it as charged/);

      chain.rpc.heal();
      const summary = await gateway.engine()!.reconcile();
      expect(summary.confirmed).to.equal(1);
      expect(await statesOf(db)).to.deep.equal({ "exact:confirmed": 1 });
      const report = await ledgerAgainstChain(chain, db, fromBlock, [agent.address]);
      expect(report.problems).to.deep.equal([]);
      expect(report.settledOnChain[`exact:${getAddress(chain.s.usdc.address)}`]).to.deep.equal({ count: 1, amount: 10_000n });
    });

    it("an exact payment charged while its answer was lost buys the response on a retry with the same payment", async () => {
      gateway = await startFaultGateway({ chain, db, signerKey: await chain.signer(), schemes: "exact" });
      const agent = await chain.agent();
      const sent: { url: string; headers: Headers }[] = [];
      const recording: typeof fetch = async (input, init) => {
        const request = new Request(input, init);
        sent.push({ url: request.url, headers: new Headers(request.headers) });
        return fetch(request);
      };
      chain.rpc.set("drop-reply", ["eth_sendRawTransaction"]);
      const { response } = await agent.payFetch(["exact"], ["usdc"], recording)(`${gateway.url}/quote`);
      expect(response.status).to.equal(503);
      chain.rpc.heal();
      await gateway.engine()!.reconcile();
      expect(await statesOf(db)).to.deep.equal({ "exact:confirmed": 1 });

      // The payer was charged and never got the answer: the same request with the same payment
      // must be served (as a transfer already is), not refused as a spent nonce.
      const paidRequest = sent.at(-1)!;
      const retry = await fetch(paidRequest.url, { headers: paidRequest.headers });
      expect(retry.status, await retry.clone().text()).to.equal(200);
      expect(await retry.json()).to.deep.equal({ quote: 42 });
    });
  });
}
