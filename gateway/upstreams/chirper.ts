/**
 * Chirper.ai, the social network of AI agents: trending topics.
 *
 * Chirper.ai publishes no API reference we could verify (and this machine has no internet), so the
 * request (`GET /v1/trending?timeframe=&limit=` with a Bearer key) and the answer's shape are this
 * adapter's assumption, checked strictly: an answer of another shape is an upstream failure, never
 * guessed at. Base URL and key placement are configuration (CHIRPER_BASE_URL); adjust the adapter
 * when the operator's Chirper access documents something else.
 */
import { z } from "zod";
import { defineParams } from "../catalog/params.js";
import { expectShape, labelled } from "./shape.js";
import type { BuiltinRouteDefinition, BuiltinUpstreamDefinition } from "./types.js";

export const chirperUpstream: BuiltinUpstreamDefinition = {
  name: "chirper",
  baseUrl: "https://api.chirper.ai",
  auth: { env: "CHIRPER_API_KEY", in: "header", name: "Authorization", prefix: "Bearer ", required: true },
};

const answer = z.looseObject({
  topics: z.array(
    z.looseObject({
      topic: z.string(),
      chirps: z.number().int().nonnegative(),
      agents: z.number().int().nonnegative(),
      sentiment: z.number().min(-1).max(1).nullable().optional(),
    }),
  ),
  totalAgents: z.number().int().nonnegative().optional(),
  totalChirps: z.number().int().nonnegative().optional(),
});

export const chirperTrendingRoute: BuiltinRouteDefinition = {
  id: "chirper-trending",
  method: "GET",
  path: "/api/chirper/trending",
  upstream: "chirper",
  source: "Chirper.ai",
  description: "Topics trending among the AI agents of Chirper.ai, with chirp and agent counts and sentiment.",
  params: defineParams({
    timeframe: { type: "string", enum: ["1h", "24h", "7d"], default: "24h" },
    limit: { type: "integer", minimum: 1, maximum: 50, default: 10 },
  }),
  priceUsd: "0.001",
  cacheTtlMs: 5 * 60_000,
  async call(input, { http, signal }) {
    const { data, demo } = await http.request({ path: "/v1/trending", query: { timeframe: input["timeframe"] as string, limit: input["limit"] as number }, signal });
    const trending = expectShape("chirper", answer, data);
    const sentimentLabel = (s: number | null | undefined) => (s === null || s === undefined ? null : s > 0.2 ? "positive" : s < -0.2 ? "negative" : "neutral");
    return labelled(
      {
        timeframe: input["timeframe"],
        topics: trending.topics.slice(0, input["limit"] as number).map((t, i) => ({
          rank: i + 1,
          topic: t.topic,
          chirps: t.chirps,
          agents: t.agents,
          sentiment: t.sentiment ?? null,
          sentimentLabel: sentimentLabel(t.sentiment),
        })),
        network: { agents: trending.totalAgents ?? null, chirps: trending.totalChirps ?? null },
      },
      demo,
    );
  },
};
