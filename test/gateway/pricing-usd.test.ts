/**
 * Pure pricing arithmetic: USD parsing and formatting, USD → token conversion with its
 * round-up rule, token → USD, discounts and the single-rounding quote. Exhaustive on purpose:
 * every payment amount the gateway asks for comes out of these functions.
 */
import { expect } from "chai";
import fc from "fast-check";
import {
  BPS_DENOMINATOR,
  NANO_USD_PER_USD,
  type NanoUsd,
  PriceFormatError,
  STABLECOIN_USD_PRICE,
  USD_DECIMALS,
  applyDiscountBps,
  compareRational,
  divide,
  formatUsd,
  multiplyRational,
  nanoUsd,
  parseTokenUsdPrice,
  parseUsd,
  quoteTokenAmount,
  rational,
  tokenAmountToUsd,
  tokenUsdPrice,
  usdToTokenAmount,
} from "../../gateway/pricing/index.js";

const MAX_USD_TEXT = "999999999999999.999999999";
const MAX_NANO_USD = 10n ** 24n - 1n;

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  expect.fail("expected a throw");
}

function expectFormatError(input: unknown, message: RegExp, options?: { allowZero?: boolean }): void {
  const error = thrown(() => parseUsd(input, options));
  expect(error, `parseUsd(${String(input)})`).to.be.instanceOf(PriceFormatError);
  expect((error as PriceFormatError).message).to.match(message);
  expect((error as PriceFormatError).input).to.equal(input);
}

/** The exact definition of "rounded up": amount covers the price, one unit less does not. */
function expectCeil(amount: bigint, priceNanos: bigint, num: bigint, den: bigint, decimals: number): void {
  // amount / 10^d whole tokens * num/den USD >= priceNanos / 1e9 USD, in integers:
  const target = priceNanos * den * 10n ** BigInt(decimals);
  const per = NANO_USD_PER_USD * num;
  expect(amount * per >= target, "amount covers the price").to.equal(true);
  if (amount > 0n) expect((amount - 1n) * per < target, "one unit less would not").to.equal(true);
}

const arbNanoUsd = fc.bigInt({ min: 1n, max: MAX_NANO_USD }).map((n) => n as NanoUsd);
const arbPrice = fc.record({ num: fc.bigInt({ min: 1n, max: 10n ** 30n }), den: fc.bigInt({ min: 1n, max: 10n ** 30n }) });
const arbDecimals = fc.integer({ min: 0, max: 36 });
const arbBps = fc.integer({ min: 0, max: BPS_DENOMINATOR });

describe("pricing: rational", () => {
  it("keeps rationals in lowest terms, with 0 as 0/1", () => {
    expect(rational(6n, 4n)).to.deep.equal({ numerator: 3n, denominator: 2n });
    expect(rational(0n, 17n)).to.deep.equal({ numerator: 0n, denominator: 1n });
    expect(rational(5n)).to.deep.equal({ numerator: 5n, denominator: 1n });
    expect(rational(10n ** 40n, 10n ** 38n)).to.deep.equal({ numerator: 100n, denominator: 1n });
  });

  it("refuses negative numerators, non-positive denominators and non-bigints", () => {
    expect(() => rational(-1n, 1n)).to.throw(RangeError, /numerator must not be negative/);
    expect(() => rational(1n, 0n)).to.throw(RangeError, /denominator must be positive/);
    expect(() => rational(1n, -2n)).to.throw(RangeError, /denominator must be positive/);
    expect(() => rational(1 as unknown as bigint, 2n)).to.throw(TypeError, /bigints/);
  });

  it("divides with the rounding asked for, and exactly when there is no remainder", () => {
    expect(divide(7n, 2n, "up")).to.equal(4n);
    expect(divide(7n, 2n, "down")).to.equal(3n);
    expect(divide(8n, 2n, "up")).to.equal(4n);
    expect(divide(0n, 5n, "up")).to.equal(0n);
    expect(divide(1n, 10n ** 60n, "up")).to.equal(1n);
    expect(() => divide(-1n, 2n, "up")).to.throw(RangeError);
    expect(() => divide(1n, 0n, "up")).to.throw(RangeError);
  });

  it("compares and multiplies exactly", () => {
    expect(compareRational(rational(1n, 3n), rational(333_333n, 1_000_000n))).to.equal(1);
    expect(compareRational(rational(2n, 4n), rational(1n, 2n))).to.equal(0);
    expect(compareRational(rational(1n, 7n), rational(1n, 6n))).to.equal(-1);
    expect(multiplyRational(rational(2n, 3n), rational(9n, 4n))).to.deep.equal({ numerator: 3n, denominator: 2n });
  });
});

describe("pricing: parseUsd", () => {
  it("parses plain decimals into nano-USD", () => {
    expect(parseUsd("0.001")).to.equal(1_000_000n);
    expect(parseUsd("12.5")).to.equal(12_500_000_000n);
    expect(parseUsd("12.50")).to.equal(12_500_000_000n);
    expect(parseUsd("1")).to.equal(NANO_USD_PER_USD);
    expect(parseUsd("0.000000001")).to.equal(1n);
    expect(parseUsd("0.123456789")).to.equal(123_456_789n);
    expect(parseUsd("10")).to.equal(10n * NANO_USD_PER_USD);
    expect(parseUsd(MAX_USD_TEXT)).to.equal(MAX_NANO_USD);
    expect(USD_DECIMALS).to.equal(9);
  });

  it("accepts zero only when asked", () => {
    expectFormatError("0", /must be more than zero/);
    expectFormatError("0.000000000", /must be more than zero/);
    expect(parseUsd("0", { allowZero: true })).to.equal(0n);
    expect(parseUsd("0.00", { allowZero: true })).to.equal(0n);
  });

  it("refuses anything that is not a string, with a reason", () => {
    for (const input of [0.001, 1, 1n, null, undefined, {}, ["1"], true]) {
      expectFormatError(input, /must be a decimal string/);
    }
  });

  it("refuses floats in disguise and other notations, each with its own message", () => {
    expectFormatError("", /empty/);
    expectFormatError(" 1", /whitespace/);
    expectFormatError("1\n", /whitespace/);
    expectFormatError("-1", /must not be negative/);
    expectFormatError("-0.001", /must not be negative/);
    expectFormatError("+1", /must not carry a sign/);
    expectFormatError("1e-3", /exponent/);
    expectFormatError("1E3", /exponent/);
    expectFormatError("01", /leading zeros/);
    expectFormatError("00.5", /leading zeros/);
    expectFormatError(".5", /digit before the decimal point/);
    expectFormatError("5.", /digit after the decimal point/);
    expectFormatError(".", /digit before the decimal point/);
    expectFormatError("0.0000000001", /more than 9 decimal places/);
    expectFormatError("0.1234567891", /more than 9 decimal places/);
    expectFormatError("1000000000000000", /more than 15 digits before/);
    for (const input of ["1,000", "1_000", "1.2.3", "0x10", "NaN", "Infinity", "$1", "1 000", "١", "1.0e2", "½"]) {
      expectFormatError(input, /plain decimal number|exponent|whitespace/);
    }
  });

  it("formats canonically, and format/parse round-trip every value", () => {
    expect(formatUsd(parseUsd("12.50"))).to.equal("12.5");
    expect(formatUsd(parseUsd("0.001"))).to.equal("0.001");
    expect(formatUsd(nanoUsd(0n))).to.equal("0");
    expect(formatUsd(nanoUsd(1n))).to.equal("0.000000001");
    expect(formatUsd(MAX_NANO_USD)).to.equal(MAX_USD_TEXT);
    expect(() => formatUsd(-1n)).to.throw(RangeError, /must not be negative/);
    fc.assert(fc.property(arbNanoUsd, (n) => parseUsd(formatUsd(n)) === n));
  });

  it("nanoUsd brands only non-negative bigints", () => {
    expect(nanoUsd(5n)).to.equal(5n);
    expect(() => nanoUsd(-5n)).to.throw(RangeError);
    expect(() => nanoUsd(5 as unknown as bigint)).to.throw(TypeError);
  });
});

describe("pricing: token prices", () => {
  it("prices stablecoins at exactly 1 USD, immutably", () => {
    expect(STABLECOIN_USD_PRICE).to.deep.equal({ numerator: 1n, denominator: 1n });
    expect(Object.isFrozen(STABLECOIN_USD_PRICE)).to.equal(true);
  });

  it("parses configured token prices into reduced rationals", () => {
    expect(parseTokenUsdPrice("0.031")).to.deep.equal({ numerator: 31n, denominator: 1000n });
    expect(parseTokenUsdPrice("2500.37")).to.deep.equal({ numerator: 250037n, denominator: 100n });
    expect(parseTokenUsdPrice("1")).to.deep.equal(STABLECOIN_USD_PRICE);
    expect(() => parseTokenUsdPrice("0")).to.throw(PriceFormatError, /more than zero/);
    expect(() => parseTokenUsdPrice(0.031)).to.throw(PriceFormatError);
  });

  it("refuses a zero or negative token price", () => {
    expect(() => tokenUsdPrice(0n)).to.throw(RangeError, /must be positive/);
    expect(() => tokenUsdPrice(-3n, 2n)).to.throw(RangeError, /must be positive/);
    expect(() => tokenUsdPrice(3n, 0n)).to.throw(RangeError);
    expect(tokenUsdPrice(10n, 4n)).to.deep.equal({ numerator: 5n, denominator: 2n });
  });
});

describe("pricing: usdToTokenAmount", () => {
  it("converts stablecoin prices (6 decimals) exactly when they are whole units", () => {
    expect(usdToTokenAmount(parseUsd("0.001"), STABLECOIN_USD_PRICE, 6)).to.equal(1_000n);
    expect(usdToTokenAmount(parseUsd("12.5"), STABLECOIN_USD_PRICE, 6)).to.equal(12_500_000n);
    expect(usdToTokenAmount(parseUsd("0.000001"), STABLECOIN_USD_PRICE, 6)).to.equal(1n);
    expect(usdToTokenAmount(parseUsd("1000"), STABLECOIN_USD_PRICE, 6)).to.equal(1_000_000_000n);
  });

  it("rounds a sub-unit remainder UP by default, down only when asked", () => {
    // 0.1 and 1.5 atomic USDC units.
    expect(usdToTokenAmount(parseUsd("0.0000001"), STABLECOIN_USD_PRICE, 6)).to.equal(1n);
    expect(usdToTokenAmount(parseUsd("0.0000015"), STABLECOIN_USD_PRICE, 6)).to.equal(2n);
    expect(usdToTokenAmount(parseUsd("0.0000015"), STABLECOIN_USD_PRICE, 6, "up")).to.equal(2n);
    expect(usdToTokenAmount(parseUsd("0.0000015"), STABLECOIN_USD_PRICE, 6, "down")).to.equal(1n);
    expect(usdToTokenAmount(parseUsd("0.000000001"), STABLECOIN_USD_PRICE, 6, "down")).to.equal(0n);
    // The smallest configurable price still costs one unit: nothing is ever free by rounding.
    expect(usdToTokenAmount(parseUsd("0.000000001"), STABLECOIN_USD_PRICE, 6)).to.equal(1n);
    expect(usdToTokenAmount(parseUsd("0.000000001"), STABLECOIN_USD_PRICE, 0)).to.equal(1n);
  });

  it("converts to 18-decimal WETH at a fractional USD price, rounded up to the wei", () => {
    const weth = parseTokenUsdPrice("2500.37");
    // 0.001 / 2500.37 ETH = 10^17 / 250037 wei = 399940808760.30…
    const amount = usdToTokenAmount(parseUsd("0.001"), weth, 18);
    expect(amount).to.equal(399_940_808_761n);
    expect(amount).to.equal((10n ** 17n + 250_036n) / 250_037n);
    expectCeil(amount, parseUsd("0.001"), weth.numerator, weth.denominator, 18);
    expect(usdToTokenAmount(parseUsd("0.001"), weth, 18, "down")).to.equal(amount - 1n);
    // A whole ETH's worth is exactly 10^18 wei.
    expect(usdToTokenAmount(parseUsd("2500.37"), weth, 18)).to.equal(10n ** 18n);
  });

  it("converts to 18-decimal SKL at a configured price whose ratio never terminates", () => {
    const skl = parseTokenUsdPrice("0.031");
    // 0.001 / 0.031 SKL = 1/31 SKL = 32258064516129032.258… wei.
    expect(usdToTokenAmount(parseUsd("0.001"), skl, 18)).to.equal(32_258_064_516_129_033n);
    expect(usdToTokenAmount(parseUsd("0.031"), skl, 18)).to.equal(10n ** 18n);
  });

  it("handles huge values without overflow or precision loss", () => {
    const tiny = tokenUsdPrice(1n, 10n ** 30n); // a token worth 10^-30 USD
    expect(usdToTokenAmount(MAX_NANO_USD as NanoUsd, tiny, 255)).to.equal((MAX_NANO_USD * 10n ** 30n * 10n ** 255n) / 10n ** 9n);
    const dear = tokenUsdPrice(10n ** 40n, 3n); // a token worth 3.3…e39 USD
    expect(usdToTokenAmount(parseUsd("0.000000001"), dear, 0)).to.equal(1n);
    expect(usdToTokenAmount(parseUsd("0.000000001"), dear, 0, "down")).to.equal(0n);
    expect(usdToTokenAmount(MAX_NANO_USD as NanoUsd, dear, 77)).to.equal(
      (MAX_NANO_USD * 3n * 10n ** 77n + 10n ** 9n * 10n ** 40n - 1n) / (10n ** 9n * 10n ** 40n),
    );
  });

  it("is the exact ceiling (and floor) for any price, token price and decimals", () => {
    fc.assert(
      fc.property(arbNanoUsd, arbPrice, arbDecimals, (p, { num, den }, decimals) => {
        const price = tokenUsdPrice(num, den);
        const up = usdToTokenAmount(p, price, decimals);
        const down = usdToTokenAmount(p, price, decimals, "down");
        expectCeil(up, p, price.numerator, price.denominator, decimals);
        expect(up - down === 0n || up - down === 1n).to.equal(true);
        // Charged tokens are worth at least the price, to the nano-USD.
        expect(tokenAmountToUsd(up, price, decimals) >= p).to.equal(true);
        // Monotone: a higher price never costs fewer tokens.
        expect(usdToTokenAmount((p + 1n) as NanoUsd, price, decimals) >= up).to.equal(true);
      }),
      { numRuns: 500 },
    );
  });

  it("charges zero for a zero price (allowed only through allowZero)", () => {
    expect(usdToTokenAmount(parseUsd("0", { allowZero: true }), STABLECOIN_USD_PRICE, 6)).to.equal(0n);
  });

  it("refuses invalid decimals, token prices and amounts", () => {
    const p = parseUsd("1");
    for (const decimals of [-1, 256, 1.5, Number.NaN, Infinity]) {
      expect(() => usdToTokenAmount(p, STABLECOIN_USD_PRICE, decimals), `decimals ${decimals}`).to.throw(RangeError, /decimals/);
    }
    expect(() => usdToTokenAmount(p, { numerator: 0n, denominator: 1n }, 6)).to.throw(RangeError, /positive/);
    expect(() => usdToTokenAmount(p, { numerator: 1n, denominator: 0n }, 6)).to.throw(RangeError, /positive/);
    expect(() => usdToTokenAmount(p, { numerator: 1, denominator: 1 } as never, 6)).to.throw(RangeError, /bigints/);
    expect(() => usdToTokenAmount(-1n as NanoUsd, STABLECOIN_USD_PRICE, 6)).to.throw(RangeError, /negative/);
  });
});

describe("pricing: tokenAmountToUsd", () => {
  it("values token amounts in nano-USD, rounded down by default", () => {
    expect(tokenAmountToUsd(1n, STABLECOIN_USD_PRICE, 6)).to.equal(1_000n);
    expect(tokenAmountToUsd(10n ** 18n, parseTokenUsdPrice("2500.37"), 18)).to.equal(parseUsd("2500.37"));
    // 1 wei of SKL at $0.031 is 3.1e-11 USD: nothing down, one nano-USD up.
    expect(tokenAmountToUsd(1n, parseTokenUsdPrice("0.031"), 18)).to.equal(0n);
    expect(tokenAmountToUsd(1n, parseTokenUsdPrice("0.031"), 18, "up")).to.equal(1n);
    expect(() => tokenAmountToUsd(-1n, STABLECOIN_USD_PRICE, 6)).to.throw(RangeError);
    expect(() => tokenAmountToUsd(1n, STABLECOIN_USD_PRICE, 300)).to.throw(RangeError);
  });
});

describe("pricing: discounts", () => {
  it("subtracts the discount rounded DOWN, so the payer pays the discounted price rounded up", () => {
    expect(applyDiscountBps(1_000n, 1_000)).to.equal(900n);
    expect(applyDiscountBps(999n, 1_000)).to.equal(900n); // 899.1 → 900
    expect(applyDiscountBps(1n, 5_000)).to.equal(1n); // 0.5 → 1
    expect(applyDiscountBps(3n, 3_333)).to.equal(3n); // 2.0001 → 3
    expect(applyDiscountBps(3n, 3_334)).to.equal(2n); // 1.9998 → 2
    expect(applyDiscountBps(10n ** 30n, 1)).to.equal(10n ** 30n - 10n ** 26n);
  });

  it("treats 0 bps as no discount and 10 000 bps as free", () => {
    expect(applyDiscountBps(12_345n, 0)).to.equal(12_345n);
    expect(applyDiscountBps(12_345n, BPS_DENOMINATOR)).to.equal(0n);
    expect(applyDiscountBps(0n, 2_500)).to.equal(0n);
  });

  it("keeps nano-USD amounts nano-USD", () => {
    const discounted: NanoUsd = applyDiscountBps(parseUsd("0.001"), 2_500);
    expect(formatUsd(discounted)).to.equal("0.00075");
  });

  it("is the exact ceiling of the discounted amount for every amount and rate", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 40n }), arbBps, (amount, bps) => {
        const result = applyDiscountBps(amount, bps);
        const exact = amount * BigInt(BPS_DENOMINATOR - bps); // result * 10_000 must cover this
        expect(result * 10_000n >= exact).to.equal(true);
        if (result > 0n) expect((result - 1n) * 10_000n < exact).to.equal(true);
        expect(result <= amount).to.equal(true);
      }),
      { numRuns: 500 },
    );
  });

  it("refuses rates outside 0..10 000 whole basis points and negative amounts", () => {
    for (const bps of [-1, 10_001, 1.5, Number.NaN, Infinity]) {
      expect(() => applyDiscountBps(100n, bps), `bps ${bps}`).to.throw(RangeError, /basis points/);
    }
    expect(() => applyDiscountBps(-1n, 10)).to.throw(RangeError, /non-negative/);
  });
});

describe("pricing: quoteTokenAmount", () => {
  it("equals usdToTokenAmount without discounts", () => {
    const weth = parseTokenUsdPrice("2500.37");
    expect(quoteTokenAmount({ priceUsd: parseUsd("0.001"), tokenUsdPrice: weth, decimals: 18 })).to.equal(
      usdToTokenAmount(parseUsd("0.001"), weth, 18),
    );
    expect(quoteTokenAmount({ priceUsd: parseUsd("0.001"), tokenUsdPrice: weth, decimals: 18, discountsBps: [] })).to.equal(
      usdToTokenAmount(parseUsd("0.001"), weth, 18),
    );
  });

  it("rounds once, after the discount, which can save the payer the unit a double rounding adds", () => {
    // 1.1 atomic USDC units at 10 % off: exactly 0.99 units → 1. Converting first gives 2, and
    // discounting those 2 units gives 2 again (the 0.2-unit discount rounds down to 0).
    const priceUsd = parseUsd("0.0000011");
    expect(quoteTokenAmount({ priceUsd, tokenUsdPrice: STABLECOIN_USD_PRICE, decimals: 6, discountsBps: [1_000] })).to.equal(1n);
    expect(applyDiscountBps(usdToTokenAmount(priceUsd, STABLECOIN_USD_PRICE, 6), 1_000)).to.equal(2n);
  });

  it("compounds several discounts", () => {
    const priceUsd = parseUsd("1");
    expect(quoteTokenAmount({ priceUsd, tokenUsdPrice: STABLECOIN_USD_PRICE, decimals: 6, discountsBps: [1_000, 1_000] })).to.equal(810_000n);
    expect(quoteTokenAmount({ priceUsd, tokenUsdPrice: STABLECOIN_USD_PRICE, decimals: 6, discountsBps: [5_000, 5_000, 5_000] })).to.equal(125_000n);
    expect(quoteTokenAmount({ priceUsd, tokenUsdPrice: STABLECOIN_USD_PRICE, decimals: 6, discountsBps: [2_000, BPS_DENOMINATOR] })).to.equal(0n);
  });

  it("is never below the exact discounted price and never above the convert-then-discount amount", () => {
    fc.assert(
      fc.property(arbNanoUsd, arbPrice, arbDecimals, fc.array(arbBps, { maxLength: 3 }), (p, { num, den }, decimals, discounts) => {
        const price = tokenUsdPrice(num, den);
        const quoted = quoteTokenAmount({ priceUsd: p, tokenUsdPrice: price, decimals, discountsBps: discounts });
        let exactNum = p * price.denominator * 10n ** BigInt(decimals);
        let exactDen = NANO_USD_PER_USD * price.numerator;
        let stepwise = usdToTokenAmount(p, price, decimals);
        for (const bps of discounts) {
          exactNum *= BigInt(BPS_DENOMINATOR - bps);
          exactDen *= BigInt(BPS_DENOMINATOR);
          stepwise = applyDiscountBps(stepwise, bps);
        }
        expect(quoted * exactDen >= exactNum, "covers the exact price").to.equal(true);
        if (quoted > 0n) expect((quoted - 1n) * exactDen < exactNum, "by less than one unit").to.equal(true);
        expect(quoted <= stepwise).to.equal(true);
      }),
      { numRuns: 500 },
    );
  });

  it("refuses invalid discounts and inputs", () => {
    const base = { priceUsd: parseUsd("1"), tokenUsdPrice: STABLECOIN_USD_PRICE, decimals: 6 };
    expect(() => quoteTokenAmount({ ...base, discountsBps: [10_001] })).to.throw(RangeError, /basis points/);
    expect(() => quoteTokenAmount({ ...base, discountsBps: [0.5] })).to.throw(RangeError, /basis points/);
    expect(() => quoteTokenAmount({ ...base, decimals: -1 })).to.throw(RangeError, /decimals/);
    expect(() => quoteTokenAmount({ ...base, tokenUsdPrice: { numerator: 0n, denominator: 1n } })).to.throw(RangeError, /positive/);
    expect(() => quoteTokenAmount({ ...base, priceUsd: -1n as NanoUsd })).to.throw(RangeError, /negative/);
  });
});
