/**
 * Glue between the gateway configuration and the price sources: which source prices which
 * accepted token. Stablecoins are $1; every other token needs a configured source (a fixed price
 * or a UniswapV2 pair) and is simply not offered without one.
 */
import { type Address, isAddressEqual } from "viem";
import { type FixedPriceConfig, type PairClient, type PriceSource, fixedPriceSource, stablecoinPriceSource, uniswapV2PriceSource } from "./price-sources.js";

export type ConfiguredPriceSource =
  | (FixedPriceConfig & { readonly kind: "fixed"; readonly label?: string | undefined })
  | {
      readonly kind: "uniswap-v2";
      readonly pair: Address;
      readonly quoteToken: Address;
      readonly quoteDecimals: number;
      readonly maxAgeSeconds: number;
      readonly cacheTtlMs: number;
      readonly minQuoteReserve?: bigint | undefined;
      readonly label?: string | undefined;
    };

export interface PricedTokenInfo {
  readonly address: Address;
  readonly symbol: string;
  readonly decimals: number;
}

export interface TokenPricerOptions {
  /** Tokens priced at exactly $1; undefined: those whose symbol starts with "USD". */
  readonly stablecoins?: readonly Address[] | undefined;
  /** Keyed by token address or symbol (case-insensitive); an address key wins over a symbol key. */
  readonly sources: Readonly<Record<string, ConfiguredPriceSource>>;
  /** Reads the pairs of `uniswap-v2` sources. */
  readonly client: PairClient;
}

/**
 * Returns the price source of a token, or undefined when it has none (then it is not offered).
 * Sources are built once per token address: a pair source keeps its reserves cache between
 * requests.
 */
export function createTokenPricer(options: TokenPricerOptions): (token: PricedTokenInfo) => PriceSource | undefined {
  const stablecoin = stablecoinPriceSource();
  const built = new Map<string, PriceSource | undefined>();
  const entries = Object.entries(options.sources);

  const configured = (token: PricedTokenInfo): ConfiguredPriceSource | undefined => {
    const byAddress = entries.find(([key]) => /^0x[0-9a-fA-F]{40}$/.test(key) && isAddressEqual(key as Address, token.address));
    const bySymbol = entries.find(([key]) => key.toLowerCase() === token.symbol.toLowerCase());
    return (byAddress ?? bySymbol)?.[1];
  };

  const build = (token: PricedTokenInfo): PriceSource | undefined => {
    if (options.stablecoins?.some((a) => isAddressEqual(a, token.address))) return stablecoin;
    const source = configured(token);
    if (source === undefined) return options.stablecoins === undefined && /^USD/i.test(token.symbol) ? stablecoin : undefined;
    const name = source.label ?? `${source.kind} ${token.symbol}`;
    if (source.kind === "fixed") return fixedPriceSource(source, { name });
    return uniswapV2PriceSource({
      client: options.client,
      pair: source.pair,
      token: { address: token.address, decimals: token.decimals },
      quoteToken: { address: source.quoteToken, decimals: source.quoteDecimals },
      maxAgeSeconds: source.maxAgeSeconds,
      cacheTtlMs: source.cacheTtlMs,
      ...(source.minQuoteReserve === undefined ? {} : { minQuoteReserve: source.minQuoteReserve }),
      name,
    });
  };

  return (token) => {
    const key = token.address.toLowerCase();
    if (!built.has(key)) built.set(key, build(token));
    return built.get(key);
  };
}
