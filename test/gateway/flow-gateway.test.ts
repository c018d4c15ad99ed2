/**
 * createGateway (what startGateway runs once the database and chain clients are open) against the
 * in-process chain: the registry's four tokens priced from configuration, the three schemes, the
 * escrow deployment check, and the settlement engine wired to the recorded escrow.
 */
import type { AddressInfo } from "node:net";
import { network } from "hardhat";
import { expect } from "chai";
import { getAddress } from "viem";
import { loadConfig } from "../../gateway/config/index.js";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { type SettlementEngineOptions, StartupError, createGateway } from "../../gateway/http/index.js";
import { silentLogger } from "../../gateway/log.js";
import { parseUsd } from "../../gateway/pricing/index.js";
import { deployEscrowSystem } from "../contracts/helpers/escrow.js";

const { viem } = await network.create();

after(closeTestBackends);

const [backend] = testBackends();

describe("flow: createGateway wiring", function () {
  this.timeout(60_000);
  let s: Awaited<ReturnType<typeof deployEscrowSystem>>;
  let db: TestDatabase;

  before(async () => {
    s = await deployEscrowSystem(viem);
    db = await backend!.fresh();
  });

  after(async () => {
    await db.close();
  });

  function config(env: Record<string, string> = {}) {
    return loadConfig({
      RPC_URL: "http://127.0.0.1:1/unused",
      CHAIN_ID: String(s.chainId),
      DEPLOYMENTS_FILE: "deployments/local.json",
      PAY_TO: s.payee.account.address,
      SIGNER_PRIVATE_KEY: `0x${"11".repeat(32)}`,
      SETTLEMENT_HORIZON_SECONDS: "120",
      PRICE_SOURCES: JSON.stringify({
        SKL: { kind: "fixed", usd: "0.02", updatedAt: new Date().toISOString(), maxAgeSeconds: 3600 },
        [s.weth.address]: { kind: "fixed", usd: "2500", updatedAt: new Date().toISOString(), maxAgeSeconds: 3600, label: "WETH by hand" },
      }),
      ...env,
    });
  }

  it("offers all four tokens under their schemes and hands the engine the recorded escrow", async () => {
    const engines: SettlementEngineOptions[] = [];
    let stopped = 0;
    const parts = await createGateway({
      config: config(),
      logger: silentLogger(),
      db,
      publicClient: s.publicClient,
      walletClient: s.operator,
      contracts: { registry: s.registry.address, escrow: s.escrow.address },
      routes: (router, { paid }) => router.get("/quote", paid({ priceUsd: parseUsd("0.01"), description: "Quote", mimeType: "application/json" }, async () => ({ body: {} }))),
      settlementEngine: (options) => {
        engines.push(options);
        return { start: () => undefined, stop: async () => void (stopped += 1), runOnce: async () => undefined };
      },
    });
    const server = parts.app.listen(0, "127.0.0.1");
    try {
      await new Promise<void>((resolve) => server.once("listening", resolve));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect((await fetch(`${base}/health`)).status).to.equal(200);
      const res = await fetch(`${base}/quote`);
      expect(res.status).to.equal(402);
      const { accepts } = JSON.parse(Buffer.from(res.headers.get("payment-required")!, "base64").toString()) as {
        accepts: { scheme: string; asset: string; amount: string }[];
      };
      const assets = (scheme: string) => accepts.filter((a) => a.scheme === scheme).map((a) => getAddress(a.asset));
      const all = [s.usdc, s.usdt, s.skl, s.weth].map((t) => getAddress(t.address));
      expect(assets("escrow")).to.have.members(all);
      expect(assets("transfer")).to.have.members(all);
      expect(assets("exact")).to.deep.equal([getAddress(s.usdc.address)]);
      // $0.01 at the configured $0.02 per SKL is 0.5 SKL.
      expect(accepts.find((a) => a.scheme === "escrow" && getAddress(a.asset) === getAddress(s.skl.address))?.amount).to.equal(
        (5n * 10n ** 17n).toString(),
      );
      expect(engines).to.have.length(1);
      expect(engines[0]).to.include({ db, intervalMs: 5_000, batchMax: 200 });
      expect(engines[0]!.chains).to.deep.equal([{ chainId: s.chainId, publicClient: s.publicClient, walletClient: s.operator, escrow: s.escrow.address }]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await parts.close();
    }
    expect(stopped).to.equal(1);
  });

  it("leaves a token without a price source out, and builds the real settlement engine by default", async () => {
    const parts = await createGateway({
      config: config({ PRICE_SOURCES: "{}", SCHEMES: "escrow" }),
      logger: silentLogger(),
      db,
      publicClient: s.publicClient,
      walletClient: s.operator,
      contracts: { registry: s.registry.address, escrow: s.escrow.address },
    });
    try {
      expect(parts.schemes.map((scheme) => scheme.name)).to.deep.equal(["escrow"]);
      const offers = await parts.flow.quote({ priceUsd: parseUsd("0.01"), description: "q", mimeType: "application/json" }, { url: "http://x/q", description: "q", mimeType: "application/json" });
      expect(offers.map((o) => o.token.symbol)).to.have.members(["USDC", "USDT"]);
      expect(parts.engine).to.not.equal(undefined);
      expect(parts.engine!.runOnce).to.be.a("function");
    } finally {
      await parts.close();
    }
  });

  it("refuses to start without an escrow when the escrow scheme is configured", async () => {
    let error: unknown;
    try {
      await createGateway({
        config: config(),
        logger: silentLogger(),
        db,
        publicClient: s.publicClient,
        walletClient: s.operator,
        contracts: { registry: s.registry.address, escrow: undefined },
        settlementEngine: null,
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).to.be.instanceOf(StartupError);
    expect((error as Error).message).to.match(/records no SettlementEscrow/);
  });

  it("refuses an escrow address that does not answer as a SettlementEscrow", async () => {
    let error: unknown;
    try {
      await createGateway({
        config: config(),
        logger: silentLogger(),
        db,
        publicClient: s.publicClient,
        walletClient: s.operator,
        contracts: { registry: s.registry.address, escrow: s.registry.address },
        settlementEngine: null,
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).to.be.instanceOf(StartupError);
  });
});
