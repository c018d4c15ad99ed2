/**
 * An upstream API fails or hangs behind a paid catalogue route, with real payments: each failed
 * call answers 502 upstream_failed and its payment is released (the escrow authorization is never
 * settled, the EIP-3009 one never sent); after the configured number of failures the breaker
 * opens and the route answers 503 upstream_unavailable before any payment is asked for. The
 * ledger and the chain agree that only the call that was served was charged.
 */
import { network } from "hardhat";
import { expect } from "chai";
import { getAddress } from "viem";
import { createCatalog, parseCatalogConfig } from "../../gateway/catalog/index.js";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { mountCatalog } from "../../gateway/http/index.js";
import { type FakeUpstream, startFakeUpstream } from "../../gateway/upstreams/fake-server.js";
import { TEST_ENV, fakeCatalogConfig } from "../services/helpers.js";
import { type FaultChain, type FaultGateway, deployFaultChain, ledgerAgainstChain, owed, startFaultGateway, statesOf, until } from "./helpers/stack.js";

const connection = await network.create();
after(closeTestBackends);

let chain: FaultChain;
let fake: FakeUpstream;
before(async function () {
  this.timeout(120_000);
  chain = await deployFaultChain(connection);
  fake = await startFakeUpstream();
});
after(async () => {
  await chain?.close();
  await fake?.close();
});

for (const backend of testBackends()) {
  describe(`faults: upstream fails or hangs [${backend.name}]`, function () {
    this.timeout(60_000);
    let db: TestDatabase;
    let gateway: FaultGateway | undefined;

    beforeEach(async () => {
      fake.clear();
      db = await backend.fresh();
    });
    afterEach(async () => {
      await gateway?.close();
      gateway = undefined;
      await db.close();
    });

    it("releases every failed call's payment, opens the breaker, and charges only what was served", async () => {
      const fromBlock = await chain.s.publicClient.getBlockNumber();
      const catalog = createCatalog(
        parseCatalogConfig(
          fakeCatalogConfig(fake, { upstreams: { openweather: { timeoutMs: 500, breaker: { failures: 3, windowMs: 60_000, openMs: 60_000 } } } }),
        ),
        { env: TEST_ENV },
      );
      gateway = await startFaultGateway({
        chain,
        db,
        signerKey: await chain.signer(),
        schemes: "exact,escrow",
        routes: (router, helpers) => mountCatalog(router, catalog, helpers),
      });
      gateway.parts.engine!.start();
      const agent = await chain.agent();
      const escrowPay = agent.payFetch(["escrow"], ["usdc"]);
      const exactPay = agent.payFetch(["exact"], ["usdc"]);

      const ok = await escrowPay(`${gateway.url}/api/weather?city=Tokyo`);
      expect(ok.response.status).to.equal(200);

      // Two 500s and a hang (cut by the 500 ms timeout): three failures, each paid, none charged.
      fake.fail("openweather", { kind: "status", status: 500, times: 2 });
      fake.fail("openweather", { kind: "hang", times: 1 });
      for (const pay of [escrowPay, exactPay, escrowPay]) {
        const { response, receipt } = await pay(`${gateway.url}/api/weather?city=London`);
        expect(response.status).to.equal(502);
        expect(((await response.json()) as { error: string }).error).to.equal("upstream_failed");
        expect(receipt?.charged, `${receipt?.scheme} receipt`).to.equal(false);
      }
      expect(fake.count("openweather")).to.equal(4);

      // Open: refused before payment, the upstream is not called, and nothing is signed.
      const refused = await exactPay(`${gateway.url}/api/weather?city=London`);
      expect(refused.response.status).to.equal(503);
      expect(refused.receipt).to.equal(undefined);
      expect(((await refused.response.json()) as { error: string }).error).to.equal("upstream_unavailable");
      expect(refused.response.headers.get("retry-after")).to.match(/^\d+$/);
      expect(fake.count("openweather")).to.equal(4);

      await until(async () => (await owed(db)) === 0, "the served call to settle");
      await gateway.engine()!.stop();
      // The escrow payments were served first (recorded only with a response): their failed calls
      // wrote nothing. The exact one was reserved first and released.
      expect(await statesOf(db)).to.deep.equal({ "escrow:confirmed": 1, "exact:released": 1 });
      const report = await ledgerAgainstChain(chain, db, fromBlock, [agent.address]);
      expect(report.problems).to.deep.equal([]);
      expect(report.settledOnChain).to.deep.equal({ [`escrow:${getAddress(chain.s.usdc.address)}`]: { count: 1, amount: 1_000n } });
    });
  });
}
