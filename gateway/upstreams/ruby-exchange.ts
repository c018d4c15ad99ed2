/**
 * Ruby.Exchange (the AMM on SKALE): prices, liquidity and swap quotes READ FROM THE CHAIN, from
 * UniswapV2-style pairs (`token0`, `token1`, `getReserves`) through viem. Every figure is the
 * exact consequence of the reserves at one block, which the answer names, so anyone can check it
 * against the chain. Nothing is estimated, sampled or made up: an unreadable pair is an upstream
 * failure.
 *
 * Amounts are integers on chain and decimal strings here (never floats): `price` and the formatted
 * amounts are rounded DOWN to at most 18 decimals; `*Atomic` fields are the exact integers.
 *
 * Which side is the base is configuration: the pair's name "SKL-USDC" prices SKL in USDC, and the
 * token whose on-chain `symbol()` is SKL must be in the pair (checked on first use).
 */
import { type Address, type PublicClient, getAddress, parseAbi } from "viem";
import { defineParams } from "../catalog/params.js";
import { uniswapV2PairAbi } from "../pricing/price-sources.js";
import { UpstreamError } from "./http.js";
import { labelled } from "./shape.js";
import type { BuiltinRouteDefinition } from "./types.js";

export const RUBY_UPSTREAM = "ruby";

export type PairReader = Pick<PublicClient, "readContract" | "getBlockNumber">;

export interface RubyPairConfig {
  /** "BASE-QUOTE" by token symbols, e.g. "SKL-USDC". */
  readonly name: string;
  readonly address: Address;
}

export interface RubyOptions {
  readonly client: PairReader;
  readonly pairs: readonly RubyPairConfig[];
  /** Swap fee of the pairs in basis points (UniswapV2: 30 = 0.3 %). */
  readonly feeBps: number;
  /** The chain is a local/demo one: label every answer as demo data. */
  readonly demo?: boolean;
  readonly now?: () => number;
}

const erc20MetadataAbi = parseAbi(["function symbol() view returns (string)", "function decimals() view returns (uint8)"]);

interface Side {
  readonly address: Address;
  readonly symbol: string;
  readonly decimals: number;
}

interface PairMeta {
  readonly address: Address;
  readonly name: string;
  readonly base: Side;
  readonly quote: Side;
  /** Whether the base token is the pair's token0. */
  readonly baseIsToken0: boolean;
}

interface Snapshot {
  readonly meta: PairMeta;
  readonly blockNumber: bigint;
  readonly baseReserve: bigint;
  readonly quoteReserve: bigint;
  readonly blockTimestampLast: number;
}

/** Decimal places of formatted outputs. */
const OUTPUT_DECIMALS = 18;

/** numerator / denominator as a decimal string rounded down to `places` decimals, trailing zeros trimmed. */
export function ratioToDecimal(numerator: bigint, denominator: bigint, places = OUTPUT_DECIMALS): string {
  if (denominator <= 0n || numerator < 0n) throw new RangeError("ratioToDecimal needs a non-negative numerator and a positive denominator");
  const scaled = (numerator * 10n ** BigInt(places)) / denominator;
  const whole = scaled / 10n ** BigInt(places);
  const fraction = (scaled % 10n ** BigInt(places)).toString().padStart(places, "0").replace(/0+$/, "");
  return fraction === "" ? whole.toString() : `${whole}.${fraction}`;
}

function formatAmount(atomic: bigint, decimals: number): string {
  return ratioToDecimal(atomic, 10n ** BigInt(decimals), Math.min(decimals, OUTPUT_DECIMALS));
}

/** A decimal string in whole tokens to atomic units, exactly; undefined if it has more decimals than the token. */
export function parseAmount(text: string, decimals: number): bigint | undefined {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (match === null) return undefined;
  const fraction = match[2] ?? "";
  if (fraction.length > decimals) return undefined;
  return BigInt(match[1]!) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, "0") || "0");
}

/** UniswapV2 `getAmountOut` with the fee in basis points. */
export function amountOut(amountIn: bigint, reserveIn: bigint, reserveOut: bigint, feeBps: number): bigint {
  const withFee = amountIn * BigInt(10_000 - feeBps);
  return (withFee * reserveOut) / (reserveIn * 10_000n + withFee);
}

export function rubyExchangeRoutes(options: RubyOptions): BuiltinRouteDefinition[] {
  const { client, feeBps } = options;
  const now = options.now ?? Date.now;
  if (!Number.isInteger(feeBps) || feeBps < 0 || feeBps >= 10_000) throw new RangeError(`ruby: feeBps must be an integer from 0 to 9999, got ${feeBps}`);
  const pairs = new Map(options.pairs.map((p) => [p.name.toUpperCase(), { ...p, address: getAddress(p.address) }]));
  const pairNames = options.pairs.map((p) => p.name.toUpperCase());
  const metas = new Map<string, Promise<PairMeta>>();

  const fail = (message: string, cause?: unknown) => new UpstreamError(RUBY_UPSTREAM, "unavailable", message, undefined, { cause });

  async function readSide(token: Address): Promise<Side> {
    const [symbol, decimals] = await Promise.all([
      client.readContract({ address: token, abi: erc20MetadataAbi, functionName: "symbol" }),
      client.readContract({ address: token, abi: erc20MetadataAbi, functionName: "decimals" }),
    ]);
    return { address: token, symbol, decimals: Number(decimals) };
  }

  async function loadMeta(name: string): Promise<PairMeta> {
    const pair = pairs.get(name);
    if (pair === undefined) throw new UpstreamError(RUBY_UPSTREAM, "rejected", `unknown pair ${name}`, 404);
    const [baseSymbol, quoteSymbol] = name.split("-");
    let token0: Address, token1: Address;
    try {
      [token0, token1] = await Promise.all([
        client.readContract({ address: pair.address, abi: uniswapV2PairAbi, functionName: "token0" }),
        client.readContract({ address: pair.address, abi: uniswapV2PairAbi, functionName: "token1" }),
      ]);
    } catch (error) {
      throw fail(`ruby: pair ${name} (${pair.address}) could not be read: ${(error as Error).message.split("\n")[0]}`, error);
    }
    const [side0, side1] = await Promise.all([readSide(token0), readSide(token1)]);
    const is = (side: Side, symbol: string | undefined) => side.symbol.toUpperCase() === symbol;
    if (is(side0, baseSymbol) && is(side1, quoteSymbol)) return { address: pair.address, name, base: side0, quote: side1, baseIsToken0: true };
    if (is(side1, baseSymbol) && is(side0, quoteSymbol)) return { address: pair.address, name, base: side1, quote: side0, baseIsToken0: false };
    throw fail(`ruby: pair ${name} at ${pair.address} holds ${side0.symbol}/${side1.symbol}, not ${baseSymbol}/${quoteSymbol}`);
  }

  async function meta(name: string): Promise<PairMeta> {
    let loading = metas.get(name);
    if (loading === undefined) {
      loading = loadMeta(name);
      metas.set(name, loading);
      // A failed read is retried on the next call; a good one is immutable (pairs never change tokens).
      loading.catch(() => metas.delete(name));
    }
    return loading;
  }

  async function snapshot(name: string): Promise<Snapshot> {
    const pairMeta = await meta(name);
    try {
      const blockNumber = await client.getBlockNumber();
      const [r0, r1, blockTimestampLast] = await client.readContract({ address: pairMeta.address, abi: uniswapV2PairAbi, functionName: "getReserves", blockNumber });
      return {
        meta: pairMeta,
        blockNumber,
        baseReserve: pairMeta.baseIsToken0 ? r0 : r1,
        quoteReserve: pairMeta.baseIsToken0 ? r1 : r0,
        blockTimestampLast,
      };
    } catch (error) {
      throw fail(`ruby: reserves of ${name} could not be read: ${(error as Error).message.split("\n")[0]}`, error);
    }
  }

  const describePair = (s: Snapshot) => ({
    pair: s.meta.name,
    address: s.meta.address,
    base: { symbol: s.meta.base.symbol, address: s.meta.base.address, decimals: s.meta.base.decimals },
    quote: { symbol: s.meta.quote.symbol, address: s.meta.quote.address, decimals: s.meta.quote.decimals },
    blockNumber: s.blockNumber.toString(),
    reservesUpdatedAt: new Date(s.blockTimestampLast * 1000).toISOString(),
    reservesAgeSeconds: Math.max(0, Math.floor(now() / 1000) - s.blockTimestampLast),
  });

  /** Base price in quote units: (quoteReserve / 10^dq) / (baseReserve / 10^db). */
  const price = (s: Snapshot) =>
    s.baseReserve === 0n || s.quoteReserve === 0n
      ? null
      : {
          price: ratioToDecimal(s.quoteReserve * 10n ** BigInt(s.meta.base.decimals), s.baseReserve * 10n ** BigInt(s.meta.quote.decimals)),
          inversePrice: ratioToDecimal(s.baseReserve * 10n ** BigInt(s.meta.quote.decimals), s.quoteReserve * 10n ** BigInt(s.meta.base.decimals)),
        };

  const pairParam = {
    type: "string",
    required: true,
    enum: pairNames.length === 0 ? ["(none configured)"] : pairNames,
    maxLength: 40,
    description: "Pair as BASE-QUOTE in capitals, e.g. SKL-USDC",
  } as const;
  const normalizePair = (value: unknown) => String(value).toUpperCase();
  const common = { method: "GET" as const, upstream: RUBY_UPSTREAM, source: "Ruby.Exchange (on-chain reserves)" };

  return [
    {
      ...common,
      id: "ruby-price",
      path: "/api/ruby/price",
      description: "Spot price of a Ruby.Exchange pair from its on-chain reserves at the latest block.",
      params: defineParams({ pair: { ...pairParam, enum: [...pairParam.enum] } }),
      priceUsd: "0.0005",
      cacheTtlMs: 5_000,
      async call(input) {
        const s = await snapshot(normalizePair(input["pair"]));
        const p = price(s);
        return labelled({ ...describePair(s), price: p?.price ?? null, inversePrice: p?.inversePrice ?? null, feeBps }, options.demo === true);
      },
    },
    {
      ...common,
      id: "ruby-liquidity",
      path: "/api/ruby/liquidity",
      description: "Reserves of a Ruby.Exchange pair and the pool's value in the quote token, from the chain.",
      params: defineParams({ pair: { ...pairParam, enum: [...pairParam.enum] } }),
      priceUsd: "0.0005",
      cacheTtlMs: 5_000,
      async call(input) {
        const s = await snapshot(normalizePair(input["pair"]));
        return labelled(
          {
            ...describePair(s),
            reserves: {
              base: { atomic: s.baseReserve.toString(), amount: formatAmount(s.baseReserve, s.meta.base.decimals) },
              quote: { atomic: s.quoteReserve.toString(), amount: formatAmount(s.quoteReserve, s.meta.quote.decimals) },
            },
            // The base side is worth the quote side at the pool's own price, so the pool holds twice
            // its quote reserve in value.
            totalValueInQuote: formatAmount(2n * s.quoteReserve, s.meta.quote.decimals),
            price: price(s)?.price ?? null,
          },
          options.demo === true,
        );
      },
    },
    {
      ...common,
      id: "ruby-quote",
      path: "/api/ruby/quote",
      description: "What a swap on a Ruby.Exchange pair would return now (UniswapV2 formula with the pair's fee), and its price impact.",
      params: defineParams({
        pair: { ...pairParam, enum: [...pairParam.enum] },
        tokenIn: { type: "string", required: true, maxLength: 20, pattern: "^[A-Za-z0-9.]+$", description: "Symbol of the token sold: either side of the pair" },
        amountIn: { type: "string", required: true, maxLength: 60, pattern: "^\\d{1,30}(\\.\\d{1,36})?$", description: "Amount sold, in whole tokens (\"1.5\")" },
      }),
      priceUsd: "0.001",
      cacheTtlMs: 5_000,
      async call(input) {
        const s = await snapshot(normalizePair(input["pair"]));
        const tokenIn = String(input["tokenIn"]).toUpperCase();
        const sellBase = s.meta.base.symbol.toUpperCase() === tokenIn;
        if (!sellBase && s.meta.quote.symbol.toUpperCase() !== tokenIn) {
          throw new UpstreamError(RUBY_UPSTREAM, "rejected", `tokenIn must be ${s.meta.base.symbol} or ${s.meta.quote.symbol}`, 400);
        }
        const inSide = sellBase ? s.meta.base : s.meta.quote;
        const outSide = sellBase ? s.meta.quote : s.meta.base;
        const amountInAtomic = parseAmount(String(input["amountIn"]), inSide.decimals);
        if (amountInAtomic === undefined || amountInAtomic === 0n) {
          throw new UpstreamError(RUBY_UPSTREAM, "rejected", `amountIn must be more than 0 with at most ${inSide.decimals} decimals`, 400);
        }
        const reserveIn = sellBase ? s.baseReserve : s.quoteReserve;
        const reserveOut = sellBase ? s.quoteReserve : s.baseReserve;
        if (reserveIn === 0n || reserveOut === 0n) throw new UpstreamError(RUBY_UPSTREAM, "rejected", `pair ${s.meta.name} has no liquidity`, 409);
        const out = amountOut(amountInAtomic, reserveIn, reserveOut, feeBps);
        // Impact against the mid price: 1 - (out/in) / (reserveOut/reserveIn), in basis points.
        const impactBps = ratioToDecimal(
          10_000n * (amountInAtomic * reserveOut - out * reserveIn),
          amountInAtomic * reserveOut,
          2,
        );
        return labelled(
          {
            ...describePair(s),
            tokenIn: { symbol: inSide.symbol, amount: formatAmount(amountInAtomic, inSide.decimals), atomic: amountInAtomic.toString() },
            tokenOut: { symbol: outSide.symbol, amount: formatAmount(out, outSide.decimals), atomic: out.toString() },
            executionPrice: out === 0n ? null : ratioToDecimal(out * 10n ** BigInt(inSide.decimals), amountInAtomic * 10n ** BigInt(outSide.decimals)),
            priceImpactBps: impactBps,
            feeBps,
          },
          options.demo === true,
        );
      },
    },
  ];
}
