/** NewsAPI top headlines (https://newsapi.org/docs/endpoints/top-headlines), normalized articles. */
import { z } from "zod";
import { defineParams } from "../catalog/params.js";
import { UpstreamError } from "./http.js";
import { expectShape, labelled } from "./shape.js";
import type { BuiltinRouteDefinition, BuiltinUpstreamDefinition } from "./types.js";

export const newsApiUpstream: BuiltinUpstreamDefinition = {
  name: "newsapi",
  baseUrl: "https://newsapi.org",
  auth: { env: "NEWSAPI_API_KEY", in: "header", name: "X-Api-Key", required: true },
};

const answer = z.looseObject({
  status: z.string(),
  totalResults: z.number().optional(),
  articles: z.array(
    z.looseObject({
      source: z.looseObject({ id: z.string().nullable().optional(), name: z.string().nullable().optional() }).optional(),
      author: z.string().nullable().optional(),
      title: z.string().nullable(),
      description: z.string().nullable().optional(),
      url: z.string(),
      urlToImage: z.string().nullable().optional(),
      publishedAt: z.string().nullable().optional(),
    }),
  ),
  message: z.string().optional(),
});

export const newsRoute: BuiltinRouteDefinition = {
  id: "news",
  method: "GET",
  path: "/api/news",
  upstream: "newsapi",
  source: "NewsAPI",
  description: "Top headlines by keyword, category or country (NewsAPI).",
  params: defineParams({
    q: { type: "string", minLength: 1, maxLength: 200, description: "Keywords" },
    category: { type: "string", enum: ["business", "entertainment", "general", "health", "science", "sports", "technology"] },
    country: { type: "string", pattern: "^[a-z]{2}$", lowercase: true, description: "ISO 3166-1 alpha-2 code, e.g. us" },
    limit: { type: "integer", minimum: 1, maximum: 100, default: 10 },
  }),
  // NewsAPI refuses top-headlines without one of these; refusing here costs the caller nothing.
  refine: (input) => (input["q"] === undefined && input["category"] === undefined && input["country"] === undefined ? "give at least one of q, category, country" : undefined),
  priceUsd: "0.002",
  cacheTtlMs: 5 * 60_000,
  async call(input, { http, signal }) {
    const { data, demo } = await http.request({
      path: "/v2/top-headlines",
      query: { q: input["q"] as string | undefined, category: input["category"] as string | undefined, country: input["country"] as string | undefined, pageSize: input["limit"] as number },
      signal,
    });
    const news = expectShape("newsapi", answer, data);
    if (news.status !== "ok") throw new UpstreamError("newsapi", "unavailable", `newsapi answered status ${news.status}: ${news.message ?? ""}`);
    return labelled(
      {
        totalResults: news.totalResults ?? news.articles.length,
        articles: news.articles
          .filter((a) => a.title !== null && a.title !== "[Removed]")
          .map((a) => ({
            title: a.title,
            description: a.description ?? null,
            url: a.url,
            imageUrl: a.urlToImage ?? null,
            source: a.source?.name ?? null,
            author: a.author ?? null,
            publishedAt: a.publishedAt ?? null,
          })),
      },
      demo,
    );
  },
};
