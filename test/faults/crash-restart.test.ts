/**
 * The gateway process is SIGKILLed in the middle of a settlement batch, right after the node
 * accepted the transaction and before the engine recorded it, then restarted on the same
 * database: it reconciles (finds the mined transaction by its stored hash and records it), settles
 * the rest, and the ledger agrees with the chain — every payment settled exactly once, one
 * transaction per batch, none sent twice. The gateway runs as a real child process
 * (helpers/gateway-child.ts) against the test's chain over HTTP.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { network } from "hardhat";
import { expect } from "chai";
import { type Hash, getAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { type Database, openPGlite } from "../../gateway/db/index.js";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { startGatewayChild } from "./helpers/child.js";
import { type FaultChain, deployFaultChain, ledgerAgainstChain, statesOf } from "./helpers/stack.js";

const connection = await network.create();
after(closeTestBackends);

let chain: FaultChain;
before(async function () {
  this.timeout(120_000);
  chain = await deployFaultChain(connection);
});
after(async () => chain?.close());

/** Where a child finds its database, and how the test looks at it while no child runs. */
interface ChildDatabase {
  readonly env: Record<string, string>;
  inspect<T>(fn: (db: Database) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

async function childDatabase(backend: ReturnType<typeof testBackends>[number]): Promise<ChildDatabase> {
  if (backend.name === "postgres") {
    const db: TestDatabase = await backend.fresh();
    return { env: { DATABASE_URL: backend.url!, DB_SCHEMA: db.schema }, inspect: (fn) => fn(db), close: () => db.close() };
  }
  // PGlite belongs to one process at a time: the test opens the directory only between children.
  const dir = mkdtempSync(path.join(tmpdir(), "ppa-crash-"));
  const dataDir = path.join(dir, "pglite");
  return {
    env: { DATABASE_URL: "", DATA_DIR: dataDir },
    async inspect(fn) {
      const db = await openPGlite({ dataDir });
      try {
        return await fn(db);
      } finally {
        await db.close();
      }
    },
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

interface BatchView {
  id: string;
  state: string;
  tx_hash: string;
  tx_nonce: string;
}

const batchesOf = async (db: Database) =>
  (await db.query<BatchView>("SELECT id, state, tx_hash, tx_nonce FROM settlement_batches ORDER BY id")).rows;

for (const backend of testBackends()) {
  describe(`faults: gateway SIGKILLed mid-batch, restarted [${backend.name}]`, function () {
    this.timeout(120_000);
    let store: ChildDatabase;

    beforeEach(async () => {
      store = await childDatabase(backend);
    });
    afterEach(async () => {
      await store.close();
    });

    it("reconciles the broadcast-but-unrecorded batch after a restart: nothing settled twice, nothing forgotten", async () => {
      const fromBlock = await chain.s.publicClient.getBlockNumber();
      const signerKey = await chain.signer();
      const signer = privateKeyToAccount(signerKey).address;
      const common = {
        RPC_URL: chain.rpc.url,
        CHAIN_ID: String(chain.s.chainId),
        REGISTRY: getAddress(chain.s.registry.address),
        ESCROW: chain.escrow,
        PAY_TO: chain.payTo,
        SIGNER_PRIVATE_KEY: signerKey,
        // A stable replica name (a pod name): the restarted process owns its predecessor's leases.
        WORKER_ID: "replica-1",
        ...store.env,
      };

      const first = startGatewayChild({ ...common, KILL_AT: "after-broadcast" });
      const url = await first.url();
      const agent = await chain.agent();
      const usdc = agent.payFetch(["escrow"], ["usdc"]);
      const usdt = agent.payFetch(["escrow"], ["usdt"]);
      for (const pay of [usdc, usdc, usdc, usdc, usdt, usdt]) expect((await pay(`${url}/quote`)).response.status).to.equal(200);

      // One settlement cycle: two batches (USDC, USDT); the process dies at the first broadcast.
      const cycle = await fetch(`${url}/__test/settle`, { method: "POST" }).then(
        (r) => `answered ${r.status}`,
        () => "connection lost",
      );
      expect(cycle).to.equal("connection lost");
      expect((await first.exited).signal).to.equal("SIGKILL");

      // The database says "sent, outcome unknown"; the chain has already mined it.
      const crashed = await store.inspect(async (db) => ({
        batches: await batchesOf(db),
        states: await statesOf(db),
        // Consistent so far: what the chain spent is in flight in the ledger.
        report: await ledgerAgainstChain(chain, db, fromBlock, [agent.address], false),
      }));
      expect(crashed.batches).to.have.length(1);
      expect(crashed.batches[0]!.state).to.equal("sending");
      const mined = await chain.s.publicClient.getTransactionReceipt({ hash: crashed.batches[0]!.tx_hash as Hash });
      expect(mined.status).to.equal("success");
      const submitted = crashed.states["escrow:submitted"] ?? 0;
      expect(submitted === 4 || submitted === 2, `one batch's payments are submitted: ${JSON.stringify(crashed.states)}`).to.equal(true);
      expect(crashed.states["escrow:verified"]).to.equal(6 - submitted);
      expect(crashed.report.problems).to.deep.equal([]);

      // Restart on the same database: reconciliation at start, then the queue.
      const second = startGatewayChild({ ...common, START_ENGINE: "1", WAIT_DRAINED: "1" });
      await second.waitFor(/^DRAINED$/);
      await second.stop();

      const final = await store.inspect(async (db) => ({
        batches: await batchesOf(db),
        states: await statesOf(db),
        report: await ledgerAgainstChain(chain, db, fromBlock, [agent.address]),
      }));
      expect(final.states).to.deep.equal({ "escrow:confirmed": 6 });
      expect(final.report.problems).to.deep.equal([]);
      expect(final.batches.map((b) => b.state)).to.deep.equal(["confirmed", "confirmed"]);
      // The crashed batch was recorded from the chain, not sent again: same hash, and the signer
      // sent exactly one transaction per batch.
      expect(final.batches[0]!.tx_hash).to.equal(crashed.batches[0]!.tx_hash);
      expect(await chain.s.publicClient.getTransactionCount({ address: signer })).to.equal(2);
    });
  });
}
