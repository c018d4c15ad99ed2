/**
 * Wikipedia: full-text search (MediaWiki Action API, list=search) and a page summary (REST API
 * /page/summary). No key; Wikimedia asks API clients to identify themselves with a User-Agent.
 */
import { z } from "zod";
import { defineParams } from "../catalog/params.js";
import { UpstreamError } from "./http.js";
import { expectShape, labelled } from "./shape.js";
import type { BuiltinRouteDefinition, BuiltinUpstreamDefinition } from "./types.js";

export const wikipediaUpstream: BuiltinUpstreamDefinition = {
  name: "wikipedia",
  baseUrl: "https://en.wikipedia.org",
  headers: { "user-agent": "PayPerAgent-gateway/0.1 (x402 API gateway)" },
};

const searchAnswer = z.looseObject({
  query: z.looseObject({
    searchinfo: z.looseObject({ totalhits: z.number() }).optional(),
    search: z.array(z.looseObject({ title: z.string(), pageid: z.number(), snippet: z.string(), wordcount: z.number().optional(), timestamp: z.string().optional() })),
  }),
});

/** Search snippets come as HTML with <span class="searchmatch">; agents want text. */
function plainText(html: string): string {
  return html
    .replace(/<[^>]*>/g, "")
    .replace(/&quot;/g, '"')
    .replace(/&#0?39;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

function pageUrl(base: string, title: string): string {
  return `${base}/wiki/${encodeURIComponent(title.replace(/ /g, "_"))}`;
}

export const wikipediaSearchRoute: BuiltinRouteDefinition = {
  id: "wikipedia-search",
  method: "GET",
  path: "/api/wikipedia/search",
  upstream: "wikipedia",
  source: "Wikipedia",
  description: "Full-text search of English Wikipedia: titles, plain-text snippets, links.",
  params: defineParams({
    q: { type: "string", required: true, minLength: 1, maxLength: 300 },
    limit: { type: "integer", minimum: 1, maximum: 50, default: 10 },
  }),
  priceUsd: "0.0005",
  cacheTtlMs: 60 * 60_000,
  async call(input, { http, signal }) {
    const { data, demo } = await http.request({
      path: "/w/api.php",
      query: { action: "query", list: "search", srsearch: input["q"] as string, srlimit: input["limit"] as number, format: "json", formatversion: 2 },
      signal,
    });
    const answer = expectShape("wikipedia", searchAnswer, data);
    return labelled(
      {
        query: input["q"],
        totalHits: answer.query.searchinfo?.totalhits ?? answer.query.search.length,
        results: answer.query.search.map((r) => ({
          title: r.title,
          pageId: r.pageid,
          snippet: plainText(r.snippet),
          wordCount: r.wordcount ?? null,
          lastEdited: r.timestamp ?? null,
          url: pageUrl("https://en.wikipedia.org", r.title),
        })),
      },
      demo,
    );
  },
};

const summaryAnswer = z.looseObject({
  type: z.string(),
  title: z.string(),
  description: z.string().optional(),
  extract: z.string(),
  pageid: z.number().optional(),
  lang: z.string().optional(),
  timestamp: z.string().optional(),
  thumbnail: z.looseObject({ source: z.string(), width: z.number(), height: z.number() }).optional(),
  coordinates: z.looseObject({ lat: z.number(), lon: z.number() }).optional(),
  content_urls: z.looseObject({ desktop: z.looseObject({ page: z.string() }) }).optional(),
});

export const wikipediaPageRoute: BuiltinRouteDefinition = {
  id: "wikipedia-page",
  method: "GET",
  path: "/api/wikipedia/page",
  upstream: "wikipedia",
  source: "Wikipedia",
  description: "Summary of one English Wikipedia page: description, extract, thumbnail, coordinates.",
  params: defineParams({
    title: { type: "string", required: true, minLength: 1, maxLength: 255, pattern: "^[^#<>\\[\\]{}|]+$", description: "Page title, e.g. Alan Turing" },
  }),
  priceUsd: "0.0005",
  cacheTtlMs: 60 * 60_000,
  async call(input, { http, signal }) {
    const title = (input["title"] as string).replace(/ /g, "_");
    // "." and ".." would be resolved as path segments, addressing another endpoint.
    if (/^\.{1,2}$/.test(title)) throw new UpstreamError("wikipedia", "rejected", "no such page", 404);
    const { data, demo } = await http.request({ path: `/api/rest_v1/page/summary/${encodeURIComponent(title)}`, signal });
    const page = expectShape("wikipedia", summaryAnswer, data);
    return labelled(
      {
        title: page.title,
        type: page.type,
        description: page.description ?? null,
        extract: page.extract,
        pageId: page.pageid ?? null,
        language: page.lang ?? "en",
        lastModified: page.timestamp ?? null,
        thumbnail: page.thumbnail === undefined ? null : { url: page.thumbnail.source, width: page.thumbnail.width, height: page.thumbnail.height },
        coordinates: page.coordinates === undefined ? null : { lat: page.coordinates.lat, lon: page.coordinates.lon },
        url: page.content_urls?.desktop.page ?? pageUrl("https://en.wikipedia.org", page.title),
      },
      demo,
    );
  },
};
