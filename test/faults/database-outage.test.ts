/**
 * PostgreSQL goes away and comes back, between requests and in the middle of one. The gateway
 * reaches it through a loopback TCP proxy the test cuts, so the outage is real (connections reset,
 * new ones refused) while the test still reads the database directly. Nothing verified is lost,
 * nothing is served without a recorded payment (503 database_unavailable), and the ledger agrees
 * with the chain once the database is back. PostgreSQL only: PGlite lives inside the gateway's
 * process and cannot fail on its own.
 */
import { network } from "hardhat";
import { expect } from "chai";
import { getAddress } from "viem";
import { type Database, openPostgres } from "../../gateway/db/index.js";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { type FaultChain, type FaultGateway, deployFaultChain, ledgerAgainstChain, owed, startFaultGateway, statesOf, until } from "./helpers/stack.js";
import { type TcpProxy, startTcpProxy } from "./helpers/tcp-proxy.js";

const postgres = testBackends().find((b) => b.name === "postgres");

describe("faults: PostgreSQL outage [postgres]", function () {
  this.timeout(90_000);
  if (postgres === undefined) {
    it("needs PostgreSQL: set TEST_DATABASE_URL (PGlite runs inside the gateway's process and cannot go down on its own)", function () {
      this.skip();
    });
    return;
  }
  const backend = postgres;
  let chain: FaultChain;
  let direct: TestDatabase;
  let proxy: TcpProxy;
  let viaProxy: Database;
  let gateway: FaultGateway;

  before(async function () {
    this.timeout(120_000);
    chain = await deployFaultChain(await network.create());
  });
  after(async () => {
    await chain?.close();
    await closeTestBackends();
  });

  beforeEach(async () => {
    direct = await backend.fresh();
    const url = new URL(backend.url!);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.hostname = "127.0.0.1";
    url.port = String(proxy.port);
    viaProxy = await openPostgres(url.toString(), { schema: direct.schema, connectionTimeoutMs: 1_000, max: 5, logger: { warn: () => undefined } });
  });
  afterEach(async () => {
    await proxy.up();
    await gateway?.close();
    await viaProxy.close();
    await proxy.close();
    await direct.close();
  });

  it("refuses paid requests with 503 while it is down, loses no verified payment, and settles them once it is back", async () => {
    const fromBlock = await chain.s.publicClient.getBlockNumber();
    let cutDuringServe = false;
    gateway = await startFaultGateway({
      chain,
      db: viaProxy,
      signerKey: await chain.signer(),
      schemes: "exact,escrow",
      onServe: async () => {
        if (cutDuringServe) await proxy.down();
      },
    });
    const agent = await chain.agent();
    const escrowPay = agent.payFetch(["escrow"], ["usdc"]);
    const exactPay = agent.payFetch(["exact"], ["usdc"]);
    for (let i = 0; i < 3; i++) expect((await escrowPay(`${gateway.url}/quote`)).response.status).to.equal(200);
    expect(await statesOf(direct)).to.deep.equal({ "escrow:verified": 3 });
    const served = gateway.served();

    await proxy.down();
    gateway.parts.engine!.start();
    for (const pay of [escrowPay, exactPay, escrowPay]) {
      const { response } = await pay(`${gateway.url}/quote`);
      expect(response.status).to.equal(503);
      expect(((await response.json()) as { error: string }).error).to.equal("database_unavailable");
    }
    // The first credit payment is served first and recorded after (one write, not two): its
    // upstream call happens, its recording fails, and its response is withheld. From then on the
    // gateway checks before calling upstreams until a recording succeeds again.
    expect(gateway.served(), "one upstream call while the database is down, none sold").to.equal(served + 1);
    // The engine's cycles fail too; the verified rows wait untouched.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await statesOf(direct)).to.deep.equal({ "escrow:verified": 3 });

    // Back up; then it fails again in the middle of a request, after the upstream answered and
    // before the payment was recorded as served: the answer is withheld, so nothing was sold.
    await proxy.up();
    cutDuringServe = true;
    const { response: midway } = await escrowPay(`${gateway.url}/quote`);
    cutDuringServe = false;
    expect(midway.status).to.equal(503);
    expect(((await midway.json()) as { error: string }).error).to.equal("database_unavailable");
    await proxy.up();

    await until(async () => (await owed(direct)) === 0, "the verified payments to settle after the outage", 60_000);
    await gateway.engine()!.stop();
    // The withheld one is still reserved (its authorization is valid and unused): never settled.
    expect(await statesOf(direct)).to.deep.equal({ "escrow:confirmed": 3, "escrow:reserved": 1 });
    const report = await ledgerAgainstChain(chain, direct, fromBlock, [agent.address]);
    expect(report.problems).to.deep.equal([]);
    expect(report.settledOnChain).to.deep.equal({ [`escrow:${getAddress(chain.s.usdc.address)}`]: { count: 3, amount: 30_000n } });
    expect(report.served).to.equal(3);
  });
});
