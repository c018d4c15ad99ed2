/**
 * The token catalog against a real TokenRegistry on Hardhat's in-process chain: start-up load,
 * event-driven and timer-driven refresh, the "never Active after a withdrawal was seen" rule
 * (including failed reloads and lagging nodes), EIP-712 domain verification, failure reporting
 * and close(). The domain comparison itself is also tested on hand-made readings.
 */
import { expect } from "chai";
import hre, { network } from "hardhat";
import {
  type Abi,
  type AbiEvent,
  type AbiFunction,
  type Address,
  ContractFunctionZeroDataError,
  domainSeparator,
  getAddress,
  toEventSelector,
  toFunctionSelector,
  zeroHash,
} from "viem";
import {
  type CatalogToken,
  type TokenCatalog,
  type TokenCatalogClient,
  type TokenCatalogOptions,
  createTokenCatalog,
} from "../../gateway/chain/token-catalog.js";
import { type Erc5267Domain, type TokenDomainReadings, checkTokenDomain, eip712DomainAbi, readTokenDomain } from "../../gateway/chain/eip712-domain.js";
import { tokenRegistryEventsAbi, tokenRegistryReadAbi, tokenStatus } from "../../gateway/chain/token-registry-abi.js";
import { uniswapV2PairAbi } from "../../gateway/pricing/index.js";
import { LIMITS, TOKEN_METHODS, USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION, deployEscrowSystem } from "../contracts/helpers/escrow.js";

const { viem, networkHelpers } = await network.create();

const Status = { Active: 1, Deprecated: 2, Removed: 3 } as const;

async function system() {
  return deployEscrowSystem(viem);
}

/** Records what the catalog logs. */
function recordingLogger() {
  const warns: { details: Record<string, unknown>; message: string }[] = [];
  const infos: { details: Record<string, unknown>; message: string }[] = [];
  return {
    warns,
    infos,
    warn: (details: object, message: string) => void warns.push({ details: details as Record<string, unknown>, message }),
    info: (details: object, message: string) => void infos.push({ details: details as Record<string, unknown>, message }),
  };
}

/**
 * The public client with call counters and switchable faults: a failing registry read, a failing
 * token read, a dead node, or a node lagging at a fixed block.
 */
function spyClient(inner: TokenCatalogClient) {
  const calls = { getLogs: 0, allTokensAt: [] as (bigint | undefined)[] };
  const faults: { allTokens?: Error; tokenReads?: Error; node?: Error; blockNumber?: bigint } = {};
  const client: TokenCatalogClient = {
    getChainId: () => inner.getChainId(),
    getBlockNumber: (async (args?: object) => {
      if (faults.node) throw faults.node;
      return faults.blockNumber ?? inner.getBlockNumber(args as never);
    }) as TokenCatalogClient["getBlockNumber"],
    getLogs: (async (args: object) => {
      if (faults.node) throw faults.node;
      calls.getLogs += 1;
      return inner.getLogs(args as never);
    }) as TokenCatalogClient["getLogs"],
    readContract: (async (args: { functionName: string; blockNumber?: bigint }) => {
      if (faults.node) throw faults.node;
      if (args.functionName === "allTokens") {
        calls.allTokensAt.push(args.blockNumber);
        if (faults.allTokens) throw faults.allTokens;
      } else if (faults.tokenReads) {
        throw faults.tokenReads;
      }
      return inner.readContract(args as never);
    }) as TokenCatalogClient["readContract"],
  };
  return { client, calls, faults };
}

/** Retries `check` until it passes or `timeoutMs` runs out. */
async function eventually(check: () => void, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const symbols = (tokens: readonly CatalogToken[]) => tokens.map((t) => t.symbol);

describe("token catalog", () => {
  let catalog: TokenCatalog | undefined;
  let s: Awaited<ReturnType<typeof system>>;

  beforeEach(async () => {
    s = await networkHelpers.loadFixture(system);
  });

  afterEach(async () => {
    await catalog?.close();
    catalog = undefined;
  });

  /** A catalog with both timers off unless asked: tests drive it through poll() and refresh(). */
  async function open(overrides: Partial<TokenCatalogOptions> = {}) {
    const logger = recordingLogger();
    catalog = await createTokenCatalog({ client: s.publicClient, registry: s.registry.address, pollIntervalMs: 0, refreshIntervalMs: 0, logger, ...overrides });
    return { catalog, logger };
  }

  describe("ABIs", () => {
    type Param = { readonly type: string; readonly components?: readonly Param[] };
    /** Types only: names and internalType (enum and struct names) do not change the encoding. */
    const shape = (params: readonly Param[]): unknown[] => params.map((p) => (p.components ? { type: p.type, components: shape(p.components) } : { type: p.type }));

    async function expectInArtifact(name: string, items: readonly (AbiFunction | AbiEvent)[]) {
      const { abi } = (await hre.artifacts.readArtifact(name)) as unknown as { abi: Abi };
      for (const item of items) {
        const match = abi.find((a) => a.type === item.type && "name" in a && a.name === item.name) as AbiFunction | AbiEvent | undefined;
        expect(match, `${name}.${item.name}`).to.not.equal(undefined);
        if (item.type === "function") {
          const artifactFn = match as AbiFunction;
          expect(toFunctionSelector(item), `${name}.${item.name} selector`).to.equal(toFunctionSelector(artifactFn));
          expect(shape(item.outputs), `${name}.${item.name} outputs`).to.deep.equal(shape(artifactFn.outputs));
        } else {
          const artifactEvent = match as AbiEvent;
          expect(toEventSelector(item), `${name}.${item.name} selector`).to.equal(toEventSelector(artifactEvent));
          expect(item.inputs.map((i) => i.indexed ?? false), `${name}.${item.name} indexed`).to.deep.equal(artifactEvent.inputs.map((i) => i.indexed ?? false));
        }
      }
    }

    it("match the compiled contracts", async () => {
      await expectInArtifact("TokenRegistry", [...tokenRegistryReadAbi.filter((i) => i.type === "function"), ...tokenRegistryEventsAbi]);
      await expectInArtifact("MockUSDC", eip712DomainAbi.filter((i) => i.name !== "version"));
      await expectInArtifact("TestPair", uniswapV2PairAbi);
    });

    it("name the registry's status values", () => {
      expect([0, 1, 2, 3].map(tokenStatus)).to.deep.equal(["none", "active", "deprecated", "removed"]);
      expect(() => tokenStatus(4)).to.throw(RangeError);
    });
  });

  describe("loading", () => {
    it("loads every registered token with its registry data at start-up", async () => {
      const { catalog } = await open();
      expect(symbols(catalog.all())).to.deep.equal(["USDC", "USDT", "SKL", "WETH"]);
      expect(symbols(catalog.accepted())).to.deep.equal(["USDC", "USDT", "SKL", "WETH"]);
      const usdc = catalog.get(s.usdc.address);
      expect(usdc).to.deep.include({
        address: getAddress(s.usdc.address),
        symbol: "USDC",
        decimals: 6,
        collectionMethods: TOKEN_METHODS.usdc,
        status: "active",
        minAmount: LIMITS.usdc.min,
        maxAmount: LIMITS.usdc.max,
        accepted: true,
      });
      expect(usdc?.eip712).to.deep.equal({ name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION });
      expect(catalog.get(s.weth.address)).to.deep.include({ symbol: "WETH", decimals: 18, collectionMethods: TOKEN_METHODS.weth, maxAmount: LIMITS.weth.max });
      const health = catalog.health();
      expect(health.syncedBlock).to.equal(await s.publicClient.getBlockNumber());
      expect(health).to.deep.include({ chainId: s.chainId, consecutiveFailures: 0, lastError: undefined });
    });

    it("finds tokens by address in any case, and nothing else", async () => {
      const { catalog } = await open();
      const checksummed = getAddress(s.skl.address);
      expect(catalog.get(checksummed)?.symbol).to.equal("SKL");
      expect(catalog.get(checksummed.toLowerCase())?.symbol).to.equal("SKL");
      expect(catalog.get(`0x${checksummed.slice(2).toUpperCase()}`)?.symbol).to.equal("SKL");
      expect(catalog.get(s.escrow.address)).to.equal(undefined);
      expect(catalog.get("not an address")).to.equal(undefined);
    });

    it("hands out frozen objects", async () => {
      const { catalog } = await open();
      const usdc = catalog.get(s.usdc.address) as CatalogToken;
      expect(Object.isFrozen(usdc)).to.equal(true);
      expect(Object.isFrozen(usdc.eip712)).to.equal(true);
      expect(Object.isFrozen(catalog.all())).to.equal(true);
    });

    it("refuses to start when the registry cannot be read", async () => {
      const error = await createTokenCatalog({ client: s.publicClient, registry: s.usdt.address, pollIntervalMs: 0, refreshIntervalMs: 0, logger: recordingLogger() }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(Error);
      expect((error as Error).message).to.match(/allTokens/);
    });

    it("validates its options", async () => {
      const base = { client: s.publicClient, registry: s.registry.address, logger: recordingLogger() };
      for (const bad of [{ pollIntervalMs: -1 }, { refreshIntervalMs: 1.5 }, { pollIntervalMs: 2 ** 31 }, { maxLogBlockRange: 0n }]) {
        const error = await createTokenCatalog({ ...base, ...bad }).catch((e: unknown) => e);
        expect(error, JSON.stringify(bad, (_, v: unknown) => (typeof v === "bigint" ? `${v}` : v))).to.be.instanceOf(RangeError);
      }
    });
  });

  describe("event-driven refresh", () => {
    it("withdraws a deprecated token as soon as the poll timer sees its event", async () => {
      const { catalog } = await open({ pollIntervalMs: 20 });
      await s.registry.write.setStatus([s.usdt.address, Status.Deprecated]);
      await eventually(() => expect(catalog.get(s.usdt.address)?.status).to.equal("deprecated"));
      expect(symbols(catalog.accepted())).to.deep.equal(["USDC", "SKL", "WETH"]);
      expect(catalog.get(s.usdt.address)?.accepted).to.equal(false);
      expect(symbols(catalog.all())).to.have.length(4);
    });

    it("withdraws a removed token, and re-admits it once re-activated", async () => {
      const { catalog } = await open();
      await s.registry.write.setStatus([s.skl.address, Status.Removed]);
      await catalog.poll();
      expect(catalog.get(s.skl.address)?.status).to.equal("removed");
      expect(symbols(catalog.accepted())).to.not.include("SKL");
      await s.registry.write.setStatus([s.skl.address, Status.Active]);
      await catalog.poll();
      expect(catalog.get(s.skl.address)?.status).to.equal("active");
      expect(symbols(catalog.accepted())).to.include("SKL");
    });

    it("applies amount-limit and collection-method changes", async () => {
      const { catalog } = await open();
      await s.registry.write.setAmountLimits([s.usdc.address, 5_000n, 10_000_000n]);
      await s.registry.write.setCollectionMethods([s.usdc.address, 4]);
      await catalog.poll();
      expect(catalog.get(s.usdc.address)).to.deep.include({ minAmount: 5_000n, maxAmount: 10_000_000n, collectionMethods: 4, status: "active" });
      expect(catalog.health().syncedBlock).to.equal(await s.publicClient.getBlockNumber());
    });

    it("picks up a newly registered token", async () => {
      const { catalog } = await open();
      const dai = await viem.deployContract("RegistryTestERC20", ["Dai Stablecoin", "DAI", 18]);
      await s.registry.write.registerToken([
        { token: dai.address, symbol: "DAI", decimals: 18, collectionMethods: 4, status: 1, eip712Name: "", eip712Version: "", minAmount: 1n, maxAmount: 10n ** 24n },
      ]);
      await catalog.poll();
      expect(symbols(catalog.accepted())).to.deep.equal(["USDC", "USDT", "SKL", "WETH", "DAI"]);
    });

    it("advances past blocks without registry events without reloading", async () => {
      const spy = spyClient(s.publicClient);
      const { catalog } = await open({ client: spy.client });
      await s.usdc.write.mint([s.agent.account.address, 1n]); // a block with no registry event
      await catalog.poll();
      expect(spy.calls.getLogs).to.equal(1);
      expect(spy.calls.allTokensAt).to.have.length(1);
      expect(catalog.health().syncedBlock).to.equal(await s.publicClient.getBlockNumber());
    });

    it("reloads at the latest block instead of reading logs when too far behind", async () => {
      const spy = spyClient(s.publicClient);
      const { catalog } = await open({ client: spy.client, maxLogBlockRange: 2n });
      await s.registry.write.setStatus([s.weth.address, Status.Deprecated]);
      await networkHelpers.mine(3);
      await catalog.poll();
      expect(spy.calls.getLogs).to.equal(0);
      expect(catalog.get(s.weth.address)?.status).to.equal("deprecated");
    });
  });

  describe("never Active after a withdrawal was seen", () => {
    it("withdraws the token on its event even when the reload that follows fails", async () => {
      const spy = spyClient(s.publicClient);
      const { catalog } = await open({ client: spy.client });
      await s.registry.write.setStatus([s.usdc.address, Status.Deprecated]);
      spy.faults.allTokens = new Error("node overloaded");
      await catalog.poll().then(
        () => expect.fail("the reload should fail"),
        (e: Error) => expect(e.message).to.equal("node overloaded"),
      );
      expect(catalog.get(s.usdc.address)).to.deep.include({ status: "deprecated", accepted: false });
      expect(symbols(catalog.accepted())).to.deep.equal(["USDT", "SKL", "WETH"]);

      // The cursor did not move, so the next poll retries and completes the reload.
      spy.faults.allTokens = undefined;
      await s.registry.write.setAmountLimits([s.usdt.address, 2n, 3n]);
      await catalog.poll();
      expect(catalog.get(s.usdc.address)?.status).to.equal("deprecated");
      expect(catalog.get(s.usdt.address)?.maxAmount).to.equal(3n);
    });

    it("never reads the registry below a block whose events it has seen (lagging RPC node)", async () => {
      const spy = spyClient(s.publicClient);
      const { catalog } = await open({ client: spy.client });
      const before = await s.publicClient.getBlockNumber();
      await s.registry.write.setStatus([s.usdc.address, Status.Removed]);
      const seen = await s.publicClient.getBlockNumber();
      spy.faults.allTokens = new Error("timeout");
      await catalog.poll().catch(() => undefined);
      spy.faults.allTokens = undefined;

      // A load-balanced node that is behind answers with a block before the status change.
      spy.faults.blockNumber = before;
      await catalog.refresh();
      expect(spy.calls.allTokensAt.at(-1)).to.equal(seen);
      expect(catalog.get(s.usdc.address)).to.deep.include({ status: "removed", accepted: false });
      await catalog.poll();
      expect(catalog.get(s.usdc.address)?.status).to.equal("removed");
    });

    it("does not re-admit a re-activated token before a reload confirms it", async () => {
      const spy = spyClient(s.publicClient);
      const { catalog } = await open({ client: spy.client });
      await s.registry.write.setStatus([s.usdc.address, Status.Deprecated]);
      await catalog.poll();
      await s.registry.write.setStatus([s.usdc.address, Status.Active]);
      spy.faults.allTokens = new Error("timeout");
      await catalog.poll().catch(() => undefined);
      expect(catalog.get(s.usdc.address)?.status).to.equal("deprecated");
    });
  });

  describe("timer refresh", () => {
    it("reloads on its timer, without reading any logs", async () => {
      const spy = spyClient(s.publicClient);
      const { catalog } = await open({ client: spy.client, refreshIntervalMs: 30 });
      await s.registry.write.setAmountLimits([s.skl.address, 7n, 8n]);
      await s.registry.write.setStatus([s.skl.address, Status.Deprecated]);
      await eventually(() => expect(catalog.get(s.skl.address)).to.deep.include({ status: "deprecated", minAmount: 7n, maxAmount: 8n }));
      expect(spy.calls.getLogs).to.equal(0);
      expect(spy.calls.allTokensAt.length).to.be.greaterThan(1);
    });

    it("reloads on demand", async () => {
      const { catalog } = await open();
      await s.registry.write.setAmountLimits([s.weth.address, 9n, 99n]);
      await catalog.refresh();
      expect(catalog.get(s.weth.address)).to.deep.include({ minAmount: 9n, maxAmount: 99n });
    });
  });

  describe("failures", () => {
    it("keeps serving the last view when the node is down, reports it, and recovers", async () => {
      const spy = spyClient(s.publicClient);
      const { catalog, logger } = await open({ client: spy.client, pollIntervalMs: 10 });
      spy.faults.node = new Error("connect ECONNREFUSED");
      await eventually(() => expect(catalog.health().consecutiveFailures).to.be.at.least(4));
      expect(catalog.health().lastError).to.equal("connect ECONNREFUSED");
      expect(symbols(catalog.accepted())).to.deep.equal(["USDC", "USDT", "SKL", "WETH"]);
      // Logged on the 1st, 2nd, 4th… failure, not on every poll.
      const failures = catalog.health().consecutiveFailures;
      expect(logger.warns.length).to.be.at.most(Math.floor(Math.log2(failures)) + 1);
      expect(logger.warns[0]?.message).to.match(/could not read the registry/);

      spy.faults.node = undefined;
      await s.registry.write.setStatus([s.usdt.address, Status.Deprecated]);
      await eventually(() => expect(catalog.get(s.usdt.address)?.status).to.equal("deprecated"));
      await eventually(() => expect(catalog.health()).to.deep.include({ consecutiveFailures: 0, lastError: undefined }));
      expect(logger.infos.some((i) => /reached the registry again/.test(i.message))).to.equal(true);
    });

    it("fails a reload on a transport error reading a token's domain, keeping the last view", async () => {
      const spy = spyClient(s.publicClient);
      const { catalog } = await open({ client: spy.client });
      await s.registry.write.setAmountLimits([s.usdc.address, 2n, 3n]);
      spy.faults.tokenReads = new Error("socket hang up");
      await catalog.refresh().then(
        () => expect.fail("expected the refresh to fail"),
        (e: Error) => expect(e.message).to.equal("socket hang up"),
      );
      // Not mistaken for "the token has no domain", and the old limits stay.
      expect(catalog.get(s.usdc.address)).to.deep.include({ maxAmount: LIMITS.usdc.max, accepted: true });
      expect(catalog.get(s.usdc.address)?.domainCheck.result).to.equal("match");
    });
  });

  describe("EIP-712 domain verification", () => {
    it("verifies MockUSDC's domain through ERC-5267 and DOMAIN_SEPARATOR, and skips tokens without one", async () => {
      const { catalog, logger } = await open();
      expect(catalog.get(s.usdc.address)?.domainCheck).to.deep.equal({ result: "match", checkedBy: ["erc5267", "domain-separator"] });
      for (const token of [s.usdt, s.skl, s.weth]) {
        expect(catalog.get(token.address)?.domainCheck).to.deep.equal({ result: "not-applicable" });
      }
      expect(logger.warns).to.deep.equal([]);
    });

    it("excludes a token whose domain name contradicts the registry, warns once, and re-admits it when fixed", async () => {
      const { catalog, logger } = await open();
      await s.registry.write.setEip712Domain([s.usdc.address, "USD Coin", USDC_DOMAIN_VERSION]);
      await catalog.poll();
      const usdc = catalog.get(s.usdc.address) as CatalogToken;
      expect(usdc).to.deep.include({ status: "active", accepted: false });
      expect(usdc.domainCheck.result).to.equal("mismatch");
      expect(symbols(catalog.accepted())).to.deep.equal(["USDT", "SKL", "WETH"]);
      expect(logger.warns).to.have.length(1);
      expect(logger.warns[0]?.message).to.match(/does not match the registry/);
      expect(logger.warns[0]?.details).to.deep.include({ token: getAddress(s.usdc.address), symbol: "USDC" });
      expect((logger.warns[0]?.details.problems as string[]).join("\n")).to.match(/name is "Bridged USDC \(SKALE Bridge\)", the registry says "USD Coin"/);

      await catalog.refresh();
      expect(logger.warns, "a persisting mismatch is logged once").to.have.length(1);

      await s.registry.write.setEip712Domain([s.usdc.address, USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION]);
      await catalog.poll();
      expect(catalog.get(s.usdc.address)?.accepted).to.equal(true);
      expect(logger.infos.some((i) => /matches the registry again/.test(i.message))).to.equal(true);
    });

    it("excludes a token whose domain version contradicts the registry", async () => {
      const { catalog } = await open();
      await s.registry.write.setEip712Domain([s.usdc.address, USDC_DOMAIN_NAME, "1"]);
      await catalog.poll();
      const check = catalog.get(s.usdc.address)?.domainCheck;
      expect(check?.result).to.equal("mismatch");
      if (check?.result !== "mismatch") return;
      expect(check.problems.join("\n")).to.match(/version is "2", the registry says "1"/);
      expect(check.problems.join("\n")).to.match(/DOMAIN_SEPARATOR\(\)/);
    });

    it("keeps accepting a token whose recorded domain it cannot verify", async () => {
      const { catalog, logger } = await open();
      // MockUSDT answers name() but has no version(), eip712Domain() or DOMAIN_SEPARATOR().
      await s.registry.write.setEip712Domain([s.usdt.address, "Tether USD", "1"]);
      await catalog.poll();
      expect(catalog.get(s.usdt.address)).to.deep.include({ accepted: true, domainCheck: { result: "unverifiable" } });
      expect(logger.warns).to.deep.equal([]);
    });
  });

  describe("close()", () => {
    it("stops the timers, refuses further work and is idempotent", async () => {
      const spy = spyClient(s.publicClient);
      const { catalog } = await open({ client: spy.client, pollIntervalMs: 10, refreshIntervalMs: 10 });
      await networkHelpers.mine(1);
      await eventually(() => expect(spy.calls.getLogs).to.be.greaterThan(0));
      await eventually(() => expect(spy.calls.allTokensAt.length).to.be.greaterThan(1));
      await catalog.close();
      const logsAtClose = spy.calls.getLogs;
      const reloadsAtClose = spy.calls.allTokensAt.length;
      await s.registry.write.setStatus([s.usdt.address, Status.Deprecated]);
      await sleep(100);
      expect(spy.calls.getLogs).to.equal(logsAtClose);
      expect(spy.calls.allTokensAt).to.have.length(reloadsAtClose);
      expect(catalog.get(s.usdt.address)?.status).to.equal("active");
      await catalog.refresh().then(() => expect.fail("refresh after close"), (e: Error) => expect(e.message).to.match(/closed/));
      await catalog.poll().then(() => expect.fail("poll after close"), (e: Error) => expect(e.message).to.match(/closed/));
      await catalog.close();
    });

    it("waits for work in progress", async () => {
      const spy = spyClient(s.publicClient);
      const { catalog } = await open({ client: spy.client });
      await s.registry.write.setStatus([s.usdt.address, Status.Deprecated]);
      const polling = catalog.poll();
      await catalog.close();
      expect(catalog.get(s.usdt.address)?.status).to.equal("deprecated");
      await polling;
    });
  });
});

describe("EIP-712 domain check", () => {
  const chainId = 324705682;
  const token: Address = getAddress("0x2e08028e3c4c2356572e096d8ef835cd5c6030bd");
  const recorded = { name: "Bridged USDC (SKALE Bridge)", version: "2" };
  const none: TokenDomainReadings = { erc5267: null, domainSeparator: null, name: null, version: null };
  const erc5267: Erc5267Domain = { fields: 0x0f, name: recorded.name, version: recorded.version, chainId: BigInt(chainId), verifyingContract: token, salt: zeroHash, extensions: [] };
  const separator = (name: string, version: string) => domainSeparator({ domain: { name, version, chainId, verifyingContract: token } });
  const check = (readings: Partial<TokenDomainReadings>, rec = recorded) => checkTokenDomain(rec, { ...none, ...readings }, { chainId, token });

  it("has nothing to check when the registry records no domain", () => {
    expect(check({ erc5267 }, { name: "", version: "" })).to.deep.equal({ result: "not-applicable" });
  });

  it("is unverifiable when the token exposes nothing, or only a name", () => {
    expect(check({})).to.deep.equal({ result: "unverifiable" });
    expect(check({ name: recorded.name })).to.deep.equal({ result: "unverifiable" });
  });

  it("accepts a matching ERC-5267 domain, DOMAIN_SEPARATOR, or both", () => {
    expect(check({ erc5267 })).to.deep.equal({ result: "match", checkedBy: ["erc5267"] });
    expect(check({ domainSeparator: separator(recorded.name, recorded.version) })).to.deep.equal({ result: "match", checkedBy: ["domain-separator"] });
    expect(check({ erc5267, domainSeparator: separator(recorded.name, recorded.version), name: "other", version: "9" })).to.deep.equal({
      result: "match",
      checkedBy: ["erc5267", "domain-separator"],
    });
  });

  it("falls back to name() + version() only without a stronger view", () => {
    expect(check({ name: recorded.name, version: recorded.version })).to.deep.equal({ result: "match", checkedBy: ["name-version"] });
    const mismatch = check({ name: recorded.name, version: "1" });
    expect(mismatch).to.deep.equal({ result: "mismatch", checkedBy: ["name-version"], problems: ['version() is "1", the registry says "2"'] });
  });

  it("rejects every ERC-5267 domain a standard x402 signature would not verify against", () => {
    const problems = (d: Partial<Erc5267Domain>) => {
      const result = check({ erc5267: { ...erc5267, ...d } });
      expect(result.result).to.equal("mismatch");
      return result.result === "mismatch" ? result.problems.join("\n") : "";
    };
    expect(problems({ name: "USD Coin" })).to.match(/name is "USD Coin"/);
    expect(problems({ version: "1" })).to.match(/version is "1"/);
    expect(problems({ fields: 0x1f })).to.match(/fields are 0x1f/);
    expect(problems({ fields: 0x0e })).to.match(/fields are 0x0e/);
    expect(problems({ chainId: 1n })).to.match(/chainId is 1, this chain is 324705682/);
    expect(problems({ verifyingContract: getAddress("0x000000000000000000000000000000000000dead") })).to.match(/verifyingContract/);
    expect(problems({ extensions: [1n] })).to.match(/extensions 1/);
  });

  it("rejects a DOMAIN_SEPARATOR that disagrees, even when eip712Domain() agrees", () => {
    const result = check({ erc5267, domainSeparator: separator(recorded.name, "1") });
    expect(result.result).to.equal("mismatch");
    expect(result.result === "mismatch" && result.problems).to.have.length(1);
  });

  it("reads absent views as null and rethrows transport failures", async () => {
    const stub = (answers: Record<string, unknown>, failure?: Error) => ({
      readContract: (async ({ functionName }: { functionName: string }) => {
        if (failure) throw failure;
        if (!(functionName in answers)) throw new ContractFunctionZeroDataError({ functionName });
        return answers[functionName];
      }) as TokenCatalogClient["readContract"],
    });
    expect(await readTokenDomain(stub({ name: "X", version: "3" }), token)).to.deep.equal({ erc5267: null, domainSeparator: null, name: "X", version: "3" });
    const domain = await readTokenDomain(stub({ eip712Domain: ["0x0f", "X", "3", 5n, token, zeroHash, []] }), token);
    expect(domain.erc5267).to.deep.equal({ fields: 15, name: "X", version: "3", chainId: 5n, verifyingContract: token, salt: zeroHash, extensions: [] });
    const outage = new Error("ETIMEDOUT");
    expect(await readTokenDomain(stub({}, outage), token).catch((e: unknown) => e)).to.equal(outage);
  });
});
