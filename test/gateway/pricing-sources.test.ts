/**
 * Price sources: the stablecoin constant, configured fixed prices with their expiry, and the
 * UniswapV2-style pair reader against a TestPair on Hardhat's in-process chain (exact ratio,
 * orientation, cache, staleness by blockTimestampLast, liquidity floor, misconfiguration and
 * transport failures).
 */
import { expect } from "chai";
import { network } from "hardhat";
import { type Address, getAddress } from "viem";
import {
  MAX_CLOCK_SKEW_SECONDS,
  type PairClient,
  PriceFormatError,
  PriceUnavailableError,
  type PriceUnavailableReason,
  STABLECOIN_USD_PRICE,
  fixedPriceSource,
  isPriceUnavailableError,
  parseUsd,
  secondsSince,
  stablecoinPriceSource,
  uniswapV2PriceSource,
  usdToTokenAmount,
} from "../../gateway/pricing/index.js";

const { viem } = await network.create();

const publicClient = await viem.getPublicClient();
const [deployer] = await viem.getWalletClients();
if (deployer === undefined) throw new Error("needs one wallet");

const skl = await viem.deployContract("MockSKL", []);
const weth = await viem.deployContract("WETH9", []);
const usdc = await viem.deployContract("MockUSDC", ["USD Coin", "USDC", "2"]);

const SKL = { address: skl.address, decimals: 18 } as const;
const WETH = { address: weth.address, decimals: 18 } as const;
const USDC = { address: usdc.address, decimals: 6 } as const;

/** A fixed "now" for each test, in seconds, from which pair timestamps are set. */
const T = 1_800_000_000;

/** An injectable clock the test moves by hand. */
function manualClock(startSeconds = T) {
  let ms = startSeconds * 1000;
  return {
    now: () => ms,
    set: (seconds: number) => void (ms = seconds * 1000),
    advanceMs: (delta: number) => void (ms += delta),
  };
}

/** Wraps the public client, counting pair reads and optionally failing them like a dead RPC node. */
function countingClient() {
  const calls: string[] = [];
  let failure: Error | undefined;
  const client: PairClient = {
    readContract: (async (args: { functionName: string }) => {
      calls.push(args.functionName);
      if (failure !== undefined) throw failure;
      return publicClient.readContract(args as never);
    }) as PairClient["readContract"],
  };
  return { client, calls, failWith: (error: Error | undefined) => void (failure = error) };
}

async function deployPair(token0: Address, token1: Address) {
  return viem.deployContract("TestPair", [token0, token1]);
}

async function expectUnavailable(promise: Promise<unknown>, reason: PriceUnavailableReason, message?: RegExp): Promise<PriceUnavailableError> {
  const error = await promise.then(
    () => expect.fail(`expected PriceUnavailableError(${reason})`),
    (e: unknown) => e,
  );
  expect(error).to.be.instanceOf(PriceUnavailableError);
  expect(isPriceUnavailableError(error)).to.equal(true);
  const unavailable = error as PriceUnavailableError;
  expect(unavailable.code).to.equal("price_unavailable");
  expect(unavailable.reason).to.equal(reason);
  if (message) expect(unavailable.message).to.match(message);
  return unavailable;
}

const ONE_SKL = 10n ** 18n;
const ONE_USDC = 10n ** 6n;

describe("price sources: stablecoin", () => {
  it("is exactly 1 USD, as of now", async () => {
    const clock = manualClock();
    const source = stablecoinPriceSource({ name: "USDC", now: clock.now });
    expect(source.kind).to.equal("stablecoin");
    expect(await source.getPrice()).to.deep.equal({ price: STABLECOIN_USD_PRICE, asOf: T, source: "USDC" });
  });
});

describe("price sources: fixed", () => {
  const updatedAt = new Date(T * 1000).toISOString();

  it("quotes the configured price until maxAgeSeconds have passed, inclusive", async () => {
    const clock = manualClock();
    const source = fixedPriceSource({ usd: "0.031", updatedAt, maxAgeSeconds: 3_600 }, { name: "SKL fixed", now: clock.now });
    expect(source.kind).to.equal("fixed");
    expect(await source.getPrice()).to.deep.equal({ price: { numerator: 31n, denominator: 1000n }, asOf: T, source: "SKL fixed" });
    clock.set(T + 3_600);
    expect((await source.getPrice()).price).to.deep.equal({ numerator: 31n, denominator: 1000n });
  });

  it("refuses to quote one millisecond after expiry", async () => {
    const clock = manualClock();
    const source = fixedPriceSource({ usd: "0.031", updatedAt, maxAgeSeconds: 3_600 }, { name: "SKL fixed", now: clock.now });
    clock.set(T + 3_600);
    clock.advanceMs(1);
    const error = await expectUnavailable(source.getPrice(), "stale", /expired after 3600 s/);
    expect(error.source).to.equal("SKL fixed");
  });

  it("accepts any ISO 8601 offset and fractional seconds", async () => {
    const source = fixedPriceSource({ usd: "2500.37", updatedAt: "2027-01-15T10:00:00.5+02:00", maxAgeSeconds: 60 }, { now: () => Date.parse("2027-01-15T08:01:00.5Z") });
    expect((await source.getPrice()).price).to.deep.equal({ numerator: 250037n, denominator: 100n });
    expect((await source.getPrice()).asOf).to.equal(Date.parse("2027-01-15T08:00:00Z") / 1000);
  });

  it("rejects malformed configuration at construction", () => {
    const now = manualClock().now;
    const ok = { usd: "0.031", updatedAt, maxAgeSeconds: 60 };
    expect(() => fixedPriceSource({ ...ok, usd: "3.1e-2" }, { now })).to.throw(PriceFormatError, /exponent/);
    expect(() => fixedPriceSource({ ...ok, usd: "0" }, { now })).to.throw(PriceFormatError, /more than zero/);
    expect(() => fixedPriceSource({ ...ok, usd: 0.031 as unknown as string }, { now })).to.throw(PriceFormatError, /decimal string/);
    for (const bad of ["2027-01-15T10:00:00", "2027-01-15", "2027-02-30T00:00:00Z", "yesterday", "", "1800000000"]) {
      expect(() => fixedPriceSource({ ...ok, updatedAt: bad }, { now }), bad).to.throw(PriceFormatError, /ISO 8601/);
    }
    for (const bad of [0, -1, 1.5, Number.NaN, "60" as unknown as number]) {
      expect(() => fixedPriceSource({ ...ok, maxAgeSeconds: bad }, { now }), String(bad)).to.throw(PriceFormatError, /positive whole number of seconds/);
    }
  });

  it("rejects an updatedAt in the future beyond the clock-skew allowance", () => {
    const now = manualClock().now;
    const at = (seconds: number) => new Date((T + seconds) * 1000).toISOString();
    expect(() => fixedPriceSource({ usd: "1", updatedAt: at(MAX_CLOCK_SKEW_SECONDS), maxAgeSeconds: 60 }, { now })).not.to.throw();
    expect(() => fixedPriceSource({ usd: "1", updatedAt: at(MAX_CLOCK_SKEW_SECONDS + 1), maxAgeSeconds: 60 }, { now })).to.throw(PriceFormatError, /in the future/);
  });
});

describe("price sources: uniswap-v2 pair", () => {
  const base = { maxAgeSeconds: 600, cacheTtlMs: 10_000 } as const;

  it("prices SKL from the reserve ratio exactly, whichever side of the pair it is on", async () => {
    const clock = manualClock();
    for (const [token0, token1, r0, r1] of [
      [skl.address, usdc.address, 1_000_000n * ONE_SKL, 31_000n * ONE_USDC],
      [usdc.address, skl.address, 31_000n * ONE_USDC, 1_000_000n * ONE_SKL],
    ] as const) {
      const pair = await deployPair(token0, token1);
      await pair.write.setReserves([r0, r1, T - 5]);
      const source = uniswapV2PriceSource({ ...base, client: publicClient, pair: pair.address, token: SKL, quoteToken: USDC, now: clock.now });
      expect(source.kind).to.equal("uniswap-v2");
      const quote = await source.getPrice();
      expect(quote.price).to.deep.equal({ numerator: 31n, denominator: 1000n });
      expect(quote.asOf).to.equal(T - 5);
      expect(quote.source).to.equal(`uniswap-v2 ${getAddress(pair.address)}`);
    }
  });

  it("prices WETH at a fractional USD price and feeds an exact charge", async () => {
    const clock = manualClock();
    const pair = await deployPair(weth.address, usdc.address);
    // 400 WETH against 1,000,148 USDC: 2500.37 USDC per WETH.
    await pair.write.setReserves([400n * 10n ** 18n, 1_000_148n * ONE_USDC, T]);
    const source = uniswapV2PriceSource({ ...base, client: publicClient, pair: pair.address, token: WETH, quoteToken: USDC, now: clock.now });
    const { price } = await source.getPrice();
    expect(price).to.deep.equal({ numerator: 250037n, denominator: 100n });
    expect(usdToTokenAmount(parseUsd("0.001"), price, 18)).to.equal(399_940_808_761n);
  });

  it("keeps a ratio that is no finite decimal exact", async () => {
    const clock = manualClock();
    const pair = await deployPair(skl.address, usdc.address);
    await pair.write.setReserves([3n * ONE_SKL, 1n * ONE_USDC, T]);
    const source = uniswapV2PriceSource({ ...base, client: publicClient, pair: pair.address, token: SKL, quoteToken: USDC, now: clock.now });
    expect((await source.getPrice()).price).to.deep.equal({ numerator: 1n, denominator: 3n });
    // $1 at $1/3 per SKL is exactly 3 SKL; at 0.001 it is 0.003 SKL exactly.
    expect(usdToTokenAmount(parseUsd("1"), { numerator: 1n, denominator: 3n }, 18)).to.equal(3n * ONE_SKL);
  });

  it("applies a quote token price other than 1 USD exactly", async () => {
    const clock = manualClock();
    const pair = await deployPair(skl.address, usdc.address);
    await pair.write.setReserves([1_000n * ONE_SKL, 31n * ONE_USDC, T]);
    const source = uniswapV2PriceSource({
      ...base,
      client: publicClient,
      pair: pair.address,
      token: SKL,
      quoteToken: { ...USDC, usdPrice: { numerator: 99n, denominator: 100n } },
      now: clock.now,
    });
    expect((await source.getPrice()).price).to.deep.equal({ numerator: 3069n, denominator: 100_000n });
  });

  it("reads the reserves once per cacheTtlMs and re-reads after it", async () => {
    const clock = manualClock();
    const { client, calls } = countingClient();
    const pair = await deployPair(skl.address, usdc.address);
    await pair.write.setReserves([1_000n * ONE_SKL, 31n * ONE_USDC, T]);
    const source = uniswapV2PriceSource({ ...base, cacheTtlMs: 5_000, client, pair: pair.address, token: SKL, quoteToken: USDC, now: clock.now });
    expect((await source.getPrice()).price).to.deep.equal({ numerator: 31n, denominator: 1000n });
    expect(calls.filter((c) => c === "getReserves")).to.have.length(1);

    await pair.write.setReserves([1_000n * ONE_SKL, 62n * ONE_USDC, T]);
    clock.advanceMs(4_999);
    expect((await source.getPrice()).price, "cached").to.deep.equal({ numerator: 31n, denominator: 1000n });
    expect(calls.filter((c) => c === "getReserves")).to.have.length(1);

    clock.advanceMs(1);
    expect((await source.getPrice()).price, "re-read").to.deep.equal({ numerator: 31n, denominator: 500n });
    expect(calls.filter((c) => c === "getReserves")).to.have.length(2);
    // The pair's tokens are read once: they never change.
    expect(calls.filter((c) => c === "token0")).to.have.length(1);
  });

  it("shares one read between concurrent callers", async () => {
    const clock = manualClock();
    const { client, calls } = countingClient();
    const pair = await deployPair(skl.address, usdc.address);
    await pair.write.setReserves([1_000n * ONE_SKL, 31n * ONE_USDC, T]);
    const source = uniswapV2PriceSource({ ...base, client, pair: pair.address, token: SKL, quoteToken: USDC, now: clock.now });
    const quotes = await Promise.all(Array.from({ length: 10 }, () => source.getPrice()));
    expect(new Set(quotes.map((q) => `${q.price.numerator}/${q.price.denominator}`))).to.deep.equal(new Set(["31/1000"]));
    expect(calls.filter((c) => c === "getReserves")).to.have.length(1);
  });

  describe("staleness by blockTimestampLast", () => {
    async function sourceWithLastTrade(blockTimestampLast: number, clock = manualClock()) {
      const pair = await deployPair(skl.address, usdc.address);
      await pair.write.setReserves([1_000n * ONE_SKL, 31n * ONE_USDC, blockTimestampLast]);
      return uniswapV2PriceSource({ ...base, client: publicClient, pair: pair.address, token: SKL, quoteToken: USDC, now: clock.now });
    }

    it("quotes while the last trade is at most maxAgeSeconds old", async () => {
      expect((await (await sourceWithLastTrade(T - 600)).getPrice()).asOf).to.equal(T - 600);
    });

    it("refuses once the last trade is older", async () => {
      await expectUnavailable((await sourceWithLastTrade(T - 601)).getPrice(), "stale", /last traded 601 s ago/);
    });

    it("re-checks the age on every quote, even from the cache", async () => {
      const clock = manualClock();
      const { client, calls } = countingClient();
      const pair = await deployPair(skl.address, usdc.address);
      await pair.write.setReserves([1_000n * ONE_SKL, 31n * ONE_USDC, T]);
      const source = uniswapV2PriceSource({ ...base, cacheTtlMs: 3_600_000, client, pair: pair.address, token: SKL, quoteToken: USDC, now: clock.now });
      await source.getPrice();
      clock.set(T + 601);
      await expectUnavailable(source.getPrice(), "stale");
      expect(calls.filter((c) => c === "getReserves"), "served from the cache").to.have.length(1);
    });

    it("tolerates a pair clock slightly ahead, not far ahead", async () => {
      expect((await (await sourceWithLastTrade(T + MAX_CLOCK_SKEW_SECONDS)).getPrice()).asOf).to.equal(T);
      await expectUnavailable((await sourceWithLastTrade(T + MAX_CLOCK_SKEW_SECONDS + 1)).getPrice(), "stale");
    });

    it("reads blockTimestampLast modulo 2^32, as UniswapV2 stores it", () => {
      expect(secondsSince(2 ** 32 - 10, 2 ** 32 + 5)).to.equal(15);
      expect(secondsSince(5, 2 ** 32 + 20)).to.equal(15);
      expect(secondsSince(100, 90)).to.equal(-10);
      expect(secondsSince(T, T)).to.equal(0);
    });

    it("uses the chain's real timestamp through sync()", async () => {
      const pair = await deployPair(skl.address, usdc.address);
      await pair.write.sync([1_000n * ONE_SKL, 31n * ONE_USDC]);
      const [, , last] = await pair.read.getReserves();
      const { timestamp } = await publicClient.getBlock();
      expect(BigInt(last)).to.equal(timestamp);
      const source = uniswapV2PriceSource({ ...base, client: publicClient, pair: pair.address, token: SKL, quoteToken: USDC, now: () => Number(timestamp) * 1000 });
      expect((await source.getPrice()).asOf).to.equal(Number(timestamp));
    });
  });

  it("refuses empty reserves and a stablecoin side below the floor", async () => {
    const clock = manualClock();
    const pair = await deployPair(skl.address, usdc.address);
    const source = (minQuoteReserve?: bigint) =>
      uniswapV2PriceSource({ ...base, cacheTtlMs: 0, client: publicClient, pair: pair.address, token: SKL, quoteToken: USDC, now: clock.now, ...(minQuoteReserve === undefined ? {} : { minQuoteReserve }) });
    await expectUnavailable(source().getPrice(), "no-liquidity");
    await pair.write.setReserves([0n, 31n * ONE_USDC, T]);
    await expectUnavailable(source().getPrice(), "no-liquidity");
    await pair.write.setReserves([1_000n * ONE_SKL, 0n, T]);
    await expectUnavailable(source().getPrice(), "no-liquidity");
    await pair.write.setReserves([1_000n * ONE_SKL, 31n * ONE_USDC, T]);
    await expectUnavailable(source(31n * ONE_USDC + 1n).getPrice(), "no-liquidity", /at least 31000001/);
    expect((await source(31n * ONE_USDC).getPrice()).price).to.deep.equal({ numerator: 31n, denominator: 1000n });
  });

  it("reports a pair that does not hold the configured tokens as misconfigured", async () => {
    const clock = manualClock();
    const pair = await deployPair(skl.address, weth.address);
    await pair.write.setReserves([1n, 1n, T]);
    const source = uniswapV2PriceSource({ ...base, client: publicClient, pair: pair.address, token: SKL, quoteToken: USDC, now: clock.now });
    await expectUnavailable(source.getPrice(), "misconfigured", /holds .* not /);
  });

  it("reports an address that is not a pair as misconfigured", async () => {
    const clock = manualClock();
    for (const notAPair of [usdc.address, deployer.account.address]) {
      const source = uniswapV2PriceSource({ ...base, client: publicClient, pair: notAPair, token: SKL, quoteToken: USDC, now: clock.now });
      await expectUnavailable(source.getPrice(), "misconfigured", /does not answer token[01]\(\)/);
    }
  });

  it("reports transport failures as unreachable, and does not cache them", async () => {
    const clock = manualClock();
    const { client, failWith } = countingClient();
    const pair = await deployPair(skl.address, usdc.address);
    await pair.write.setReserves([1_000n * ONE_SKL, 31n * ONE_USDC, T]);
    const source = uniswapV2PriceSource({ ...base, client, pair: pair.address, token: SKL, quoteToken: USDC, now: clock.now });
    const outage = new Error("socket hang up");
    failWith(outage);
    const error = await expectUnavailable(source.getPrice(), "unreachable");
    expect(error.cause).to.equal(outage);
    failWith(undefined);
    expect((await source.getPrice()).price).to.deep.equal({ numerator: 31n, denominator: 1000n });
  });

  it("validates its options at construction", () => {
    const ok = { ...base, client: publicClient, pair: skl.address, token: SKL, quoteToken: USDC };
    expect(() => uniswapV2PriceSource({ ...ok, quoteToken: { ...SKL } })).to.throw(RangeError, /same/);
    expect(() => uniswapV2PriceSource({ ...ok, token: { ...SKL, decimals: 300 } })).to.throw(RangeError, /decimals/);
    expect(() => uniswapV2PriceSource({ ...ok, maxAgeSeconds: 0 })).to.throw(PriceFormatError, /maxAgeSeconds/);
    expect(() => uniswapV2PriceSource({ ...ok, cacheTtlMs: -1 })).to.throw(RangeError, /cacheTtlMs/);
    expect(() => uniswapV2PriceSource({ ...ok, minQuoteReserve: 0n })).to.throw(RangeError, /minQuoteReserve/);
    expect(() => uniswapV2PriceSource({ ...ok, pair: "0x1234" as Address })).to.throw(/Address/);
  });
});
