/**
 * CoinGecko (https://docs.coingecko.com/reference/introduction): spot prices of several coins
 * (`/simple/price`, the "crypto" route, 30 s) and the market table (`/coins/markets`, 1 min).
 * The public API works without a key; with one (demo plan: header x-cg-demo-api-key) the quota
 * is higher. The pro plan uses another host and header, both configurable.
 */
import { z } from "zod";
import { defineParams } from "../catalog/params.js";
import { UpstreamError } from "./http.js";
import { expectShape, isoFromUnix, labelled } from "./shape.js";
import type { BuiltinRouteDefinition, BuiltinUpstreamDefinition } from "./types.js";

export const coinGeckoUpstream: BuiltinUpstreamDefinition = {
  name: "coingecko",
  baseUrl: "https://api.coingecko.com",
  auth: { env: "COINGECKO_API_KEY", in: "header", name: "x-cg-demo-api-key", required: false },
};

const coinId = { type: "string", minLength: 1, maxLength: 64, pattern: "^[a-z0-9-]+$", lowercase: true } as const;
const currency = { type: "string", minLength: 2, maxLength: 10, pattern: "^[a-z]+$", lowercase: true } as const;

const priceAnswer = z.record(z.string(), z.record(z.string(), z.number().nullable()));

export const cryptoPriceRoute: BuiltinRouteDefinition = {
  id: "crypto-price",
  method: "GET",
  path: "/api/crypto/price",
  upstream: "coingecko",
  source: "CoinGecko",
  description: "Spot prices of coins in fiat or crypto currencies with market cap, 24 h volume and change (CoinGecko).",
  params: defineParams({
    ids: { type: "array", required: true, minItems: 1, maxItems: 25, items: coinId, description: "CoinGecko coin ids, e.g. bitcoin,ethereum" },
    vs: { type: "array", minItems: 1, maxItems: 5, items: currency, default: ["usd"], description: "Quote currencies, e.g. usd,eur" },
  }),
  priceUsd: "0.0005",
  cacheTtlMs: 30_000,
  async call(input, { http, signal }) {
    const ids = input["ids"] as string[];
    const vs = input["vs"] as string[];
    const { data, demo } = await http.request({
      path: "/api/v3/simple/price",
      query: {
        ids: ids.join(","),
        vs_currencies: vs.join(","),
        include_market_cap: true,
        include_24hr_vol: true,
        include_24hr_change: true,
        include_last_updated_at: true,
      },
      signal,
    });
    const table = expectShape("coingecko", priceAnswer, data);
    const prices = ids.map((id) => {
      const row = table[id];
      if (row === undefined) return { id, found: false as const };
      const quotes: Record<string, { price: number | null; marketCap: number | null; volume24h: number | null; change24hPercent: number | null }> = {};
      for (const currencyCode of vs) {
        quotes[currencyCode] = {
          price: row[currencyCode] ?? null,
          marketCap: row[`${currencyCode}_market_cap`] ?? null,
          volume24h: row[`${currencyCode}_24h_vol`] ?? null,
          change24hPercent: row[`${currencyCode}_24h_change`] ?? null,
        };
      }
      return { id, found: true as const, quotes, lastUpdatedAt: isoFromUnix(row["last_updated_at"]) };
    });
    if (prices.every((p) => !p.found)) throw new UpstreamError("coingecko", "rejected", `no coin found among: ${ids.join(", ")}`, 404);
    return labelled({ prices }, demo);
  },
};

const marketsAnswer = z.array(
  z.looseObject({
    id: z.string(),
    symbol: z.string(),
    name: z.string(),
    current_price: z.number().nullable(),
    market_cap: z.number().nullable(),
    market_cap_rank: z.number().nullable(),
    total_volume: z.number().nullable(),
    high_24h: z.number().nullable().optional(),
    low_24h: z.number().nullable().optional(),
    price_change_percentage_24h: z.number().nullable().optional(),
    circulating_supply: z.number().nullable().optional(),
    last_updated: z.string().nullable().optional(),
  }),
);

export const cryptoMarketsRoute: BuiltinRouteDefinition = {
  id: "crypto-markets",
  method: "GET",
  path: "/api/crypto/markets",
  upstream: "coingecko",
  source: "CoinGecko",
  description: "Top coins by market cap with price, volume, 24 h range and change (CoinGecko).",
  params: defineParams({
    vs: { ...currency, default: "usd", description: "Quote currency, e.g. usd" },
    limit: { type: "integer", minimum: 1, maximum: 100, default: 10, description: "How many coins" },
  }),
  priceUsd: "0.001",
  cacheTtlMs: 60_000,
  async call(input, { http, signal }) {
    const { data, demo } = await http.request({
      path: "/api/v3/coins/markets",
      query: { vs_currency: input["vs"] as string, order: "market_cap_desc", per_page: input["limit"] as number, page: 1 },
      signal,
    });
    const rows = expectShape("coingecko", marketsAnswer, data);
    return labelled(
      {
        currency: input["vs"],
        coins: rows.map((c) => ({
          id: c.id,
          symbol: c.symbol,
          name: c.name,
          rank: c.market_cap_rank,
          price: c.current_price,
          marketCap: c.market_cap,
          volume24h: c.total_volume,
          high24h: c.high_24h ?? null,
          low24h: c.low_24h ?? null,
          change24hPercent: c.price_change_percentage_24h ?? null,
          circulatingSupply: c.circulating_supply ?? null,
          lastUpdated: c.last_updated ?? null,
        })),
      },
      demo,
    );
  },
};
