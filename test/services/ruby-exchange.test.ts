/**
 * Ruby.Exchange routes against a TestPair deployed on Hardhat's in-process chain: every figure
 * equals the reserves math (price, inverse, pool value, UniswapV2 getAmountOut, price impact),
 * whichever side of the pair the base token is on, and moves when the reserves move.
 */
import { expect } from "chai";
import { network } from "hardhat";
import { getAddress } from "viem";
import { type Catalog, type CatalogRoute, createCatalog, parseCatalogConfig } from "../../gateway/catalog/index.js";
import { UpstreamError, amountOut, parseAmount, ratioToDecimal } from "../../gateway/upstreams/index.js";
import { rejectionOf } from "./helpers.js";

const { viem } = await network.create();
const publicClient = await viem.getPublicClient();

describe("Ruby.Exchange: prices, liquidity and quotes read from the chain", function () {
  this.timeout(60_000);
  let catalog: Catalog;
  let pair: Awaited<ReturnType<typeof viem.deployContract<"TestPair">>>;
  let wethPair: Awaited<ReturnType<typeof viem.deployContract<"TestPair">>>;
  let skl: `0x${string}`;
  let usdc: `0x${string}`;

  const ONE_SKL = 10n ** 18n;
  const ONE_USDC = 10n ** 6n;

  before(async () => {
    skl = getAddress((await viem.deployContract("MockSKL", [])).address);
    usdc = getAddress((await viem.deployContract("MockUSDC", ["USD Coin", "USDC", "2"])).address);
    const weth = (await viem.deployContract("WETH9", [])).address;
    // USDC is token0 here, so the base (SKL) is token1: orientation must come from the symbols.
    pair = await viem.deployContract("TestPair", [usdc, skl]);
    wethPair = await viem.deployContract("TestPair", [weth, usdc]);
    const config = parseCatalogConfig({
      ruby: {
        pairs: [
          { name: "SKL-USDC", address: pair.address },
          { name: "WETH-USDC", address: wethPair.address },
          { name: "SKL-USDT", address: pair.address },
        ],
        feeBps: 30,
      },
    });
    catalog = createCatalog(config, { chainClient: publicClient, env: {} });
  });

  const route = (id: string): CatalogRoute => catalog.routes.find((r) => r.id === id)!;
  const call = async (id: string, params: Record<string, unknown>) => {
    const r = route(id);
    return (await r.call(r.input.parse(params))) as Record<string, any>;
  };

  it("price is quoteReserve/baseReserve scaled by decimals, at a named block", async () => {
    // 1,000,000 SKL against 41,234.5 USDC: 0.0412345 USDC per SKL.
    await pair.write.sync([41_234_500_000n, 1_000_000n * ONE_SKL]);
    const block = await publicClient.getBlockNumber();
    const data = await call("ruby-price", { pair: "SKL-USDC" });
    expect(data.price).to.equal("0.0412345");
    expect(data.inversePrice).to.equal(ratioToDecimal(1_000_000n * 10n ** 6n, 41_234_500_000n));
    expect(data.inversePrice).to.equal("24.251536941153645612");
    expect(data.blockNumber).to.equal(block.toString());
    expect(data.base).to.deep.equal({ symbol: "SKL", address: skl, decimals: 18 });
    expect(data.quote).to.deep.equal({ symbol: "USDC", address: usdc, decimals: 6 });
    expect(data.feeBps).to.equal(30);
    expect(data).not.to.have.property("demo");
  });

  it("follows the reserves: a new sync is a new price", async () => {
    await pair.write.sync([50_000n * ONE_USDC, 1_000_000n * ONE_SKL]);
    expect((await call("ruby-price", { pair: "SKL-USDC" })).price).to.equal("0.05");
  });

  it("liquidity reports both reserves exactly and the pool's value as twice the quote side", async () => {
    await pair.write.sync([12_345_678_901n, 987_654_321_000_000_000_000_000n]);
    const data = await call("ruby-liquidity", { pair: "SKL-USDC" });
    expect(data.reserves).to.deep.equal({
      base: { atomic: "987654321000000000000000", amount: "987654.321" },
      quote: { atomic: "12345678901", amount: "12345.678901" },
    });
    expect(data.totalValueInQuote).to.equal("24691.357802");
    expect(data.price).to.equal(ratioToDecimal(12_345_678_901n * ONE_SKL, 987_654_321_000_000_000_000_000n * ONE_USDC));
  });

  it("quote applies UniswapV2's getAmountOut with the fee, both directions, with the price impact", async () => {
    const usdcReserve = 50_000n * ONE_USDC;
    const sklReserve = 1_000_000n * ONE_SKL;
    await pair.write.sync([usdcReserve, sklReserve]);

    const sell = await call("ruby-quote", { pair: "SKL-USDC", tokenIn: "skl", amountIn: "10000" });
    const expectedOut = ((10_000n * ONE_SKL * 9970n) * usdcReserve) / (sklReserve * 10_000n + 10_000n * ONE_SKL * 9970n);
    expect(sell.tokenOut).to.deep.equal({ symbol: "USDC", atomic: expectedOut.toString(), amount: ratioToDecimal(expectedOut, ONE_USDC, 6) });
    expect(sell.tokenOut.atomic).to.equal(amountOut(10_000n * ONE_SKL, sklReserve, usdcReserve, 30).toString());
    expect(sell.tokenIn).to.deep.equal({ symbol: "SKL", amount: "10000", atomic: (10_000n * ONE_SKL).toString() });
    // Impact = 1 - (out/in)/(reserveOut/reserveIn): fee (30 bps) plus slippage (~99 bps).
    const impact = ratioToDecimal(10_000n * (10_000n * ONE_SKL * usdcReserve - expectedOut * sklReserve), 10_000n * ONE_SKL * usdcReserve, 2);
    expect(sell.priceImpactBps).to.equal(impact);
    expect(Number(sell.priceImpactBps)).to.be.within(128, 130);

    const buy = await call("ruby-quote", { pair: "SKL-USDC", tokenIn: "USDC", amountIn: "0.5" });
    expect(buy.tokenOut.atomic).to.equal(amountOut(500_000n, usdcReserve, sklReserve, 30).toString());
  });

  it("refuses a token outside the pair, too many decimals, and zero, as rejections", async () => {
    await pair.write.sync([50_000n * ONE_USDC, 1_000_000n * ONE_SKL]);
    for (const params of [
      { pair: "SKL-USDC", tokenIn: "WETH", amountIn: "1" },
      { pair: "SKL-USDC", tokenIn: "USDC", amountIn: "0.0000001" },
      { pair: "SKL-USDC", tokenIn: "USDC", amountIn: "0" },
    ]) {
      const error = await rejectionOf(call("ruby-quote", params));
      expect(error).to.be.instanceOf(UpstreamError);
      expect(error).to.include({ kind: "rejected", status: 400 });
    }
    expect(route("ruby-quote").input.safeParse({ pair: "DOGE-USDC", tokenIn: "DOGE", amountIn: "1" }).success).to.equal(false);
  });

  it("an empty pool has no price and cannot be quoted", async () => {
    await wethPair.write.sync([0n, 0n]);
    expect((await call("ruby-price", { pair: "WETH-USDC" })).price).to.equal(null);
    const error = await rejectionOf(call("ruby-quote", { pair: "WETH-USDC", tokenIn: "WETH", amountIn: "1" }));
    expect(error).to.include({ kind: "rejected", status: 409 });
  });

  it("a pair configured under the wrong symbols is an upstream failure naming what it holds", async () => {
    const error = await rejectionOf(call("ruby-price", { pair: "SKL-USDT" }));
    expect(error).to.include({ kind: "unavailable" });
    expect((error as Error).message).to.contain("holds USDC/SKL, not SKL/USDT");
  });

  it("exact decimal helpers", () => {
    expect(parseAmount("1.5", 6)).to.equal(1_500_000n);
    expect(parseAmount("1.5000001", 6)).to.equal(undefined);
    expect(parseAmount("007", 0)).to.equal(7n);
    expect(ratioToDecimal(1n, 3n, 5)).to.equal("0.33333");
    expect(ratioToDecimal(10n, 5n)).to.equal("2");
  });
});
