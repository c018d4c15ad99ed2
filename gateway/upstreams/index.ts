import { chirperTrendingRoute, chirperUpstream } from "./chirper.js";
import { coinGeckoUpstream, cryptoMarketsRoute, cryptoPriceRoute } from "./coingecko.js";
import { newsApiUpstream, newsRoute } from "./newsapi.js";
import { openWeatherUpstream, weatherRoute } from "./openweather.js";
import { wikipediaPageRoute, wikipediaSearchRoute, wikipediaUpstream } from "./wikipedia.js";
import type { BuiltinRouteDefinition, BuiltinUpstreamDefinition } from "./types.js";

export * from "./http.js";
export * from "./types.js";
export * from "./shape.js";
export { type PairReader, type RubyOptions, type RubyPairConfig, RUBY_UPSTREAM, amountOut, parseAmount, ratioToDecimal, rubyExchangeRoutes } from "./ruby-exchange.js";

/** The HTTP upstreams the gateway knows out of the box (Ruby.Exchange reads the chain instead). */
export const builtinUpstreams: readonly BuiltinUpstreamDefinition[] = [openWeatherUpstream, coinGeckoUpstream, newsApiUpstream, wikipediaUpstream, chirperUpstream];

/** The HTTP-backed built-in routes, in catalogue order. */
export const builtinHttpRoutes: readonly BuiltinRouteDefinition[] = [
  weatherRoute,
  cryptoPriceRoute,
  cryptoMarketsRoute,
  newsRoute,
  wikipediaSearchRoute,
  wikipediaPageRoute,
  chirperTrendingRoute,
];

/** Ids of the chain-backed built-in routes. */
export const builtinRubyRouteIds = ["ruby-price", "ruby-liquidity", "ruby-quote"] as const;
