/**
 * USD prices and their conversion into token amounts, exactly.
 *
 * Prices are configured as decimal strings ("0.001", "12.5") and held as a whole number of
 * nano-USD (1e-9 USD): the finest price an operator can configure. That is 1/1000 of the
 * smallest USDC unit, so even sub-cent per-call prices are represented exactly, and rounding
 * happens only once, when a price becomes a token amount. Token prices (USD per whole token)
 * are exact rationals, because an on-chain reserve ratio is not a finite decimal.
 *
 * Rounding rule: a charge is rounded UP to the next atomic unit of the token. The payer may pay
 * up to one atomic unit more than the exact price, never less, so the operator is never
 * undercharged; one atomic unit is at most 1e-6 USD for the 6-decimal stablecoins and far less
 * for the 18-decimal tokens.
 */
import { PriceFormatError } from "./errors.js";
import { type Rational, type Rounding, divide, rational } from "./rational.js";

declare const nanoUsdBrand: unique symbol;

/** An amount of USD as a whole number of nano-USD (1e-9 USD). Made by `parseUsd` or `nanoUsd`. */
export type NanoUsd = bigint & { readonly [nanoUsdBrand]: true };

/** Decimal places a configured USD amount may have: prices are exact to 1e-9 USD. */
export const USD_DECIMALS = 9;
/** nano-USD per USD. */
export const NANO_USD_PER_USD = 10n ** BigInt(USD_DECIMALS);
/**
 * Digits allowed before the decimal point. No API call costs a quadrillion dollars; a longer
 * number is a typo (or an attempt to make the parser chew on a megabyte of digits).
 */
export const USD_MAX_INTEGER_DIGITS = 15;

/** Brands a nano-USD count; throws RangeError if it is not a non-negative bigint. */
export function nanoUsd(value: bigint): NanoUsd {
  if (typeof value !== "bigint") throw new TypeError(`nano-USD must be a bigint, got ${typeof value}`);
  if (value < 0n) throw new RangeError(`a USD amount must not be negative, got ${value} nano-USD`);
  return value as NanoUsd;
}

const usdPattern = new RegExp(`^(0|[1-9][0-9]{0,${USD_MAX_INTEGER_DIGITS - 1}})(?:\\.([0-9]{1,${USD_DECIMALS}}))?$`);

export interface ParseUsdOptions {
  /**
   * Accept "0". Off by default: a price of zero means the route is free and should not be
   * behind the payment layer at all, so in a price it is almost certainly a mistake.
   */
  readonly allowZero?: boolean;
}

/**
 * Parses a configured USD amount such as "0.001" or "12.50" into nano-USD.
 *
 * Only plain decimal notation is accepted: digits, optionally a point and 1 to 9 more digits.
 * Refused, each with its own message: non-strings (a JSON number has already been through a
 * float), empty strings, surrounding spaces, signs, exponents ("1e-3"), leading zeros ("01"),
 * a bare point (".5", "5."), separators ("1,000"), more than 9 decimals, more than 15 integer
 * digits, and zero unless `allowZero`.
 */
export function parseUsd(text: unknown, options: ParseUsdOptions = {}): NanoUsd {
  const shown =
    typeof text === "string" ? JSON.stringify(text)
    : typeof text === "bigint" ? `${text}n`
    : typeof text === "object" && text !== null ? "(an object)"
    : String(text as number | boolean | undefined | null);
  const fail = (why: string) => new PriceFormatError(`invalid USD amount ${shown}: ${why}`, text);
  if (typeof text !== "string") {
    throw fail(`must be a decimal string such as "0.001", not a ${typeof text} (numbers may already have lost precision)`);
  }
  if (text.length === 0) throw fail("empty");
  const match = usdPattern.exec(text);
  if (match === null) {
    if (text.trim() !== text) throw fail("surrounding whitespace");
    if (/^[+-]/.test(text)) throw fail(text.startsWith("-") ? "must not be negative" : "must not carry a sign");
    if (/[eE]/.test(text)) throw fail("exponent notation is not accepted; write the number out");
    if (/^[0-9]*\.?[0-9]*$/.test(text)) {
      const [whole = "", fraction] = text.split(".");
      if (whole === "") throw fail("needs a digit before the decimal point");
      if (fraction === "") throw fail("needs a digit after the decimal point");
      if (whole.length > 1 && whole.startsWith("0")) throw fail("leading zeros are not accepted");
      if (whole.length > USD_MAX_INTEGER_DIGITS) throw fail(`more than ${USD_MAX_INTEGER_DIGITS} digits before the decimal point`);
      if (fraction !== undefined && fraction.length > USD_DECIMALS) {
        throw fail(`more than ${USD_DECIMALS} decimal places (prices are exact to 1e-${USD_DECIMALS} USD)`);
      }
    }
    throw fail('must be a plain decimal number such as "0.001" or "12.5"');
  }
  const whole = match[1] ?? "0";
  const fraction = (match[2] ?? "").padEnd(USD_DECIMALS, "0");
  const value = BigInt(whole) * NANO_USD_PER_USD + BigInt(fraction);
  if (value === 0n && options.allowZero !== true) throw fail("must be more than zero");
  return value as NanoUsd;
}

/** Canonical decimal form of a nano-USD amount: no trailing zeros, no exponent ("0.001", "12.5", "0"). */
export function formatUsd(value: NanoUsd | bigint): string {
  const amount = nanoUsd(value);
  const whole = amount / NANO_USD_PER_USD;
  const fraction = (amount % NANO_USD_PER_USD).toString().padStart(USD_DECIMALS, "0").replace(/0+$/, "");
  return fraction === "" ? whole.toString() : `${whole}.${fraction}`;
}

/**
 * Price of ONE WHOLE token in USD (e.g. 2500/1 for WETH at $2,500, 31/1000 for SKL at $0.031),
 * an exact positive rational in lowest terms. Whole tokens rather than atomic units keep the
 * numbers readable; `decimals` is applied by the conversions below.
 */
export type TokenUsdPrice = Rational;

/** A token price from an exact ratio; throws RangeError unless both parts are positive. */
export function tokenUsdPrice(numerator: bigint, denominator: bigint = 1n): TokenUsdPrice {
  if (typeof numerator === "bigint" && numerator <= 0n) {
    throw new RangeError(`a token price must be positive, got ${numerator}/${denominator}`);
  }
  return rational(numerator, denominator);
}

/** A token price configured as a USD string ("0.031"); same rules as `parseUsd`, zero refused. */
export function parseTokenUsdPrice(text: unknown): TokenUsdPrice {
  return tokenUsdPrice(parseUsd(text), NANO_USD_PER_USD);
}

/**
 * The price of a USD stablecoin (USDC, USDT), exactly 1 USD by configuration.
 *
 * Depeg assumption: the gateway does not watch the market price of its stablecoins. While a
 * stablecoin trades below $1, a payer settling in it underpays by the depeg, and the operator
 * carries that risk. The mitigation is operational and on-chain: deprecate the token in the
 * registry, which this gateway's token catalog honours within one poll interval.
 */
export const STABLECOIN_USD_PRICE: TokenUsdPrice = Object.freeze(rational(1n, 1n));

/** Largest `decimals` an ERC-20 can report (uint8). */
const MAX_DECIMALS = 255;

export function assertDecimals(decimals: number): void {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > MAX_DECIMALS) {
    throw new RangeError(`token decimals must be an integer from 0 to ${MAX_DECIMALS}, got ${decimals}`);
  }
}

/** Throws RangeError unless `price` is a positive rational of bigints (guards values built by hand). */
export function assertTokenUsdPrice(price: TokenUsdPrice): void {
  if (typeof price?.numerator !== "bigint" || typeof price.denominator !== "bigint" || price.numerator <= 0n || price.denominator <= 0n) {
    throw new RangeError("a token price must be a positive rational of bigints");
  }
}

/**
 * Atomic token units worth `priceUsd` at `tokenUsdPrice`:
 *   priceUsd / tokenUsdPrice * 10^decimals, computed as one integer division.
 *
 * `rounding` defaults to "up", the rule for every charge: never less than the exact price,
 * at most one atomic unit more. "down" is for the converse questions (how much may we
 * refund or credit without giving away more than the USD value).
 */
export function usdToTokenAmount(
  priceUsd: NanoUsd,
  tokenUsdPrice: TokenUsdPrice,
  decimals: number,
  rounding: Rounding = "up",
): bigint {
  nanoUsd(priceUsd);
  assertTokenUsdPrice(tokenUsdPrice);
  assertDecimals(decimals);
  return divide(
    priceUsd * tokenUsdPrice.denominator * 10n ** BigInt(decimals),
    NANO_USD_PER_USD * tokenUsdPrice.numerator,
    rounding,
  );
}

/**
 * USD value, in nano-USD, of `amount` atomic units at `tokenUsdPrice`. `rounding` defaults to
 * "down" so that a reported value never exceeds what the tokens are worth.
 */
export function tokenAmountToUsd(
  amount: bigint,
  tokenUsdPrice: TokenUsdPrice,
  decimals: number,
  rounding: Rounding = "down",
): NanoUsd {
  if (typeof amount !== "bigint" || amount < 0n) throw new RangeError(`a token amount must be a non-negative bigint, got ${String(amount)}`);
  assertTokenUsdPrice(tokenUsdPrice);
  assertDecimals(decimals);
  return divide(
    amount * tokenUsdPrice.numerator * NANO_USD_PER_USD,
    tokenUsdPrice.denominator * 10n ** BigInt(decimals),
    rounding,
  ) as NanoUsd;
}
