/**
 * Where the USD price of a non-stablecoin token (SKL, WETH) comes from, and when it is too old
 * to charge from. Every source answers with an exact rational (USD per whole token) or throws
 * PriceUnavailableError; none ever falls back to an older price than its rule allows, because a
 * stale price overcharges or undercharges every payment made with it.
 *
 * Three kinds:
 * - stablecoin: exactly 1 USD by configuration (see STABLECOIN_USD_PRICE for the depeg assumption);
 * - fixed: an operator-configured price with the time it was set and a maximum age;
 * - uniswap-v2: the reserve ratio of a UniswapV2-style pair against a USD stablecoin.
 */
import { z } from "zod";
import { type Address, type PublicClient, getAddress, isAddressEqual, parseAbi } from "viem";
import { isContractAnswerError } from "../chain/call-errors.js";
import { PriceFormatError, PriceUnavailableError } from "./errors.js";
import { type TokenUsdPrice, STABLECOIN_USD_PRICE, assertDecimals, parseTokenUsdPrice } from "./usd.js";
import { rational } from "./rational.js";

/** A price and the moment it was last known to be right. */
export interface PriceQuote {
  /** USD per whole token, exact. */
  readonly price: TokenUsdPrice;
  /** Unix seconds at which the price was set (fixed) or last traded into the pair (uniswap-v2). */
  readonly asOf: number;
  /** The source's name, for logs. */
  readonly source: string;
}

export type PriceSourceKind = "stablecoin" | "fixed" | "uniswap-v2";

export interface PriceSource {
  readonly kind: PriceSourceKind;
  /** Human-readable identity for logs and errors ("fixed SKL", "uniswap-v2 0x…"). */
  readonly name: string;
  /** The current price, or PriceUnavailableError when there is none fresh enough. */
  getPrice(): Promise<PriceQuote>;
}

/** Wall clock in milliseconds; injectable so staleness can be tested without waiting. */
export type Clock = () => number;

/**
 * How far in the future a timestamp may lie before it is treated as wrong rather than as clock
 * skew between this host and the one (or the chain) that wrote it.
 */
export const MAX_CLOCK_SKEW_SECONDS = 300;

function assertPositiveSeconds(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
    throw new PriceFormatError(`${what} must be a positive whole number of seconds, got ${String(value)}`, value);
  }
  return value;
}

/** A stablecoin's price: always exactly 1 USD, never stale. */
export function stablecoinPriceSource(options: { readonly name?: string; readonly now?: Clock } = {}): PriceSource {
  const now = options.now ?? Date.now;
  const name = options.name ?? "stablecoin";
  return {
    kind: "stablecoin",
    name,
    getPrice: async () => ({ price: STABLECOIN_USD_PRICE, asOf: Math.floor(now() / 1000), source: name }),
  };
}

/** A fixed price as it appears in the configuration. */
export interface FixedPriceConfig {
  /** USD per whole token, a decimal string ("0.031"); same rules as `parseUsd`. */
  readonly usd: string;
  /** When the operator set the price: ISO 8601 with a time and an offset ("2025-06-01T12:00:00Z"). */
  readonly updatedAt: string;
  /** How long the price may be used after `updatedAt`. */
  readonly maxAgeSeconds: number;
}

const isoTimestampSchema = z.iso.datetime({ offset: true });

/**
 * A configured price. Staleness rule: usable while now <= updatedAt + maxAgeSeconds; one
 * second later every quote throws PriceUnavailableError("stale") until the configuration is
 * updated. This forces the operator to re-confirm a hand-set price regularly instead of letting
 * it drift from the market for months.
 *
 * The config is checked here, at start-up: malformed values and an `updatedAt` more than
 * MAX_CLOCK_SKEW_SECONDS in the future (a typo that would extend the price's life) throw
 * PriceFormatError.
 */
export function fixedPriceSource(config: FixedPriceConfig, options: { readonly name?: string; readonly now?: Clock } = {}): PriceSource {
  const now = options.now ?? Date.now;
  const name = options.name ?? "fixed";
  const price = parseTokenUsdPrice(config.usd);
  if (!isoTimestampSchema.safeParse(config.updatedAt).success) {
    throw new PriceFormatError(
      `${name}: updatedAt ${JSON.stringify(config.updatedAt)} must be an ISO 8601 date and time with an offset, such as "2025-06-01T12:00:00Z"`,
      config.updatedAt,
    );
  }
  const updatedAtMs = Date.parse(config.updatedAt);
  const maxAgeSeconds = assertPositiveSeconds(config.maxAgeSeconds, `${name}: maxAgeSeconds`);
  if (updatedAtMs > now() + MAX_CLOCK_SKEW_SECONDS * 1000) {
    throw new PriceFormatError(`${name}: updatedAt ${config.updatedAt} is in the future`, config.updatedAt);
  }
  const asOf = Math.floor(updatedAtMs / 1000);
  const expiresAtMs = updatedAtMs + maxAgeSeconds * 1000;
  return {
    kind: "fixed",
    name,
    getPrice: async () => {
      if (now() > expiresAtMs) {
        throw new PriceUnavailableError(
          "stale",
          name,
          `${name}: the configured price was set at ${config.updatedAt} and expired after ${maxAgeSeconds} s`,
        );
      }
      return { price, asOf, source: name };
    },
  };
}

/** The three views of a UniswapV2 pair the price needs. */
export const uniswapV2PairAbi = parseAbi([
  "function token0() view returns (address)",
  "function token1() view returns (address)",
  "function getReserves() view returns (uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast)",
]);

export type PairClient = Pick<PublicClient, "readContract">;

export interface UniswapV2PriceSourceOptions {
  readonly client: PairClient;
  readonly pair: Address;
  /** The token being priced, with its decimals. */
  readonly token: { readonly address: Address; readonly decimals: number };
  /** The pair's other side: a USD stablecoin, priced at `usdPrice` (default exactly 1 USD). */
  readonly quoteToken: { readonly address: Address; readonly decimals: number; readonly usdPrice?: TokenUsdPrice };
  /** The pair must have traded (or synced) within this many seconds, by `blockTimestampLast`. */
  readonly maxAgeSeconds: number;
  /** How long one `getReserves()` answer is reused before the chain is asked again. */
  readonly cacheTtlMs: number;
  /**
   * Smallest stablecoin reserve (atomic units) at which the pair's ratio is trusted. A thin pool
   * can be moved far for little money; below the floor the source refuses to quote. Default 1.
   */
  readonly minQuoteReserve?: bigint;
  readonly name?: string;
  readonly now?: Clock;
}

interface ReservesSnapshot {
  readonly tokenReserve: bigint;
  readonly quoteReserve: bigint;
  readonly blockTimestampLast: number;
  readonly fetchedAtMs: number;
}

const TWO_POW_32 = 2 ** 32;

/**
 * Seconds since `blockTimestampLast`, which UniswapV2 stores modulo 2^32: the difference is read
 * in the 2^32-second window closest to now, so it stays right after 2106. Negative when the
 * pair's clock is ahead of ours.
 */
export function secondsSince(blockTimestampLast: number, nowSeconds: number): number {
  const diff = (((nowSeconds - blockTimestampLast) % TWO_POW_32) + TWO_POW_32) % TWO_POW_32;
  return diff >= TWO_POW_32 / 2 ? diff - TWO_POW_32 : diff;
}

/**
 * A UniswapV2-style pair's spot price. The price of one whole token is
 *   (quoteReserve / 10^quoteDecimals) * quoteUsd / (tokenReserve / 10^tokenDecimals),
 * kept as an exact rational.
 *
 * Staleness rule: the reserves are read at most once per `cacheTtlMs` (concurrent callers share
 * one read; failures are not cached). Independently, on EVERY quote, the pair's
 * `blockTimestampLast` (the last swap, mint, burn or sync) must be at most `maxAgeSeconds`
 * before the wall clock, else PriceUnavailableError("stale"). A pair nobody trades no longer
 * tracks the market even though its reserves are perfectly readable, so choose `maxAgeSeconds`
 * from the pair's real trading frequency. A `blockTimestampLast` more than
 * MAX_CLOCK_SKEW_SECONDS in the future is treated as stale too.
 *
 * What it does not defend against: a spot price can be pushed within one block; reading it
 * between blocks means a manipulator must hold the price across a block at real cost, and the
 * `minQuoteReserve` floor raises that cost. Use a deep pair (or a fixed price) for large amounts.
 */
export function uniswapV2PriceSource(options: UniswapV2PriceSourceOptions): PriceSource {
  const { client, maxAgeSeconds, cacheTtlMs } = options;
  const now = options.now ?? Date.now;
  const pair = getAddress(options.pair);
  const token = getAddress(options.token.address);
  const quoteToken = getAddress(options.quoteToken.address);
  const quoteUsd = options.quoteToken.usdPrice ?? STABLECOIN_USD_PRICE;
  const minQuoteReserve = options.minQuoteReserve ?? 1n;
  const name = options.name ?? `uniswap-v2 ${pair}`;
  assertDecimals(options.token.decimals);
  assertDecimals(options.quoteToken.decimals);
  assertPositiveSeconds(maxAgeSeconds, `${name}: maxAgeSeconds`);
  if (!Number.isSafeInteger(cacheTtlMs) || cacheTtlMs < 0) throw new RangeError(`${name}: cacheTtlMs must be a non-negative integer`);
  if (minQuoteReserve < 1n) throw new RangeError(`${name}: minQuoteReserve must be at least 1`);
  if (isAddressEqual(token, quoteToken)) throw new RangeError(`${name}: the token and the quote token are the same`);
  const tokenScale = 10n ** BigInt(options.token.decimals);
  const quoteScale = 10n ** BigInt(options.quoteToken.decimals);

  /** Whether the priced token is token0; learned once, since a pair's tokens never change. */
  let tokenIsToken0: boolean | undefined;
  let snapshot: ReservesSnapshot | undefined;
  let inFlight: Promise<ReservesSnapshot> | undefined;

  const read = async <F extends "token0" | "token1" | "getReserves">(functionName: F) => {
    try {
      return await client.readContract({ address: pair, abi: uniswapV2PairAbi, functionName });
    } catch (error) {
      if (isContractAnswerError(error)) {
        throw new PriceUnavailableError("misconfigured", name, `${name}: ${pair} does not answer ${functionName}(); is it a UniswapV2 pair?`, { cause: error });
      }
      throw new PriceUnavailableError("unreachable", name, `${name}: could not read ${functionName}() from the pair`, { cause: error });
    }
  };

  const orientation = async (): Promise<boolean> => {
    if (tokenIsToken0 !== undefined) return tokenIsToken0;
    const [token0, token1] = await Promise.all([read("token0"), read("token1")]);
    if (isAddressEqual(token0, token) && isAddressEqual(token1, quoteToken)) tokenIsToken0 = true;
    else if (isAddressEqual(token0, quoteToken) && isAddressEqual(token1, token)) tokenIsToken0 = false;
    else {
      throw new PriceUnavailableError(
        "misconfigured",
        name,
        `${name}: the pair holds ${token0} and ${token1}, not ${token} and ${quoteToken}`,
      );
    }
    return tokenIsToken0;
  };

  const fetchSnapshot = async (): Promise<ReservesSnapshot> => {
    const isToken0 = await orientation();
    const [reserve0, reserve1, blockTimestampLast] = await read("getReserves");
    return {
      tokenReserve: isToken0 ? reserve0 : reserve1,
      quoteReserve: isToken0 ? reserve1 : reserve0,
      blockTimestampLast,
      fetchedAtMs: now(),
    };
  };

  const current = async (): Promise<ReservesSnapshot> => {
    if (snapshot !== undefined && now() - snapshot.fetchedAtMs < cacheTtlMs) return snapshot;
    inFlight ??= fetchSnapshot()
      .then((fresh) => (snapshot = fresh))
      .finally(() => (inFlight = undefined));
    return inFlight;
  };

  return {
    kind: "uniswap-v2",
    name,
    getPrice: async () => {
      const { tokenReserve, quoteReserve, blockTimestampLast } = await current();
      if (tokenReserve === 0n || quoteReserve < minQuoteReserve) {
        throw new PriceUnavailableError(
          "no-liquidity",
          name,
          `${name}: reserves ${tokenReserve} / ${quoteReserve} are below the floor (quote reserve must be at least ${minQuoteReserve})`,
        );
      }
      const nowSeconds = Math.floor(now() / 1000);
      const age = secondsSince(blockTimestampLast, nowSeconds);
      if (age > maxAgeSeconds || age < -MAX_CLOCK_SKEW_SECONDS) {
        throw new PriceUnavailableError(
          "stale",
          name,
          `${name}: the pair last traded ${age} s ago (blockTimestampLast ${blockTimestampLast}); the limit is ${maxAgeSeconds} s`,
        );
      }
      const price = rational(
        quoteReserve * tokenScale * quoteUsd.numerator,
        tokenReserve * quoteScale * quoteUsd.denominator,
      );
      return { price, asOf: nowSeconds - Math.max(age, 0), source: name };
    },
  };
}
