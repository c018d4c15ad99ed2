/**
 * The paid API catalogue, framework-free: every route with its input schema, price, cache TTL and
 * state, and how to serve it (cache → breaker → timeout → upstream adapter). The HTTP layer
 * (gateway/http/catalog-routes.ts) only validates, refuses, pays and relays.
 */
import { createPublicClient, http as viemHttp } from "viem";
import type { z } from "zod";
import { type CacheStatus, type ResponseCache, cacheKey, createResponseCache } from "../cache/index.js";
import { ConfigError } from "../config/index.js";
import type { Queryable } from "../db/index.js";
import type { PaidRoute } from "../payments/index.js";
import { type NanoUsd, formatUsd, parseUsd } from "../pricing/index.js";
import { type BreakerState, type Breakers, type UpstreamPolicy, createBreakers } from "../resilience/index.js";
import {
  type BuiltinRouteDefinition,
  type BuiltinUpstreamDefinition,
  type PairReader,
  RUBY_UPSTREAM,
  UpstreamError,
  type UpstreamHttp,
  builtinHttpRoutes,
  builtinRubyRouteIds,
  builtinUpstreams,
  createUpstreamHttp,
  isRejection,
  labelled,
  rubyExchangeRoutes,
} from "../upstreams/index.js";
import { type CatalogConfig, type OperatorRouteConfig, type UpstreamConfig, baseUrlEnvName } from "./config.js";
import { type ParamInput, inputJsonSchema, inputSchema } from "./params.js";
import { TemplateValueError, placeholders, renderPath, renderQuery } from "./template.js";

export interface CatalogRoute extends PaidRoute {
  readonly id: string;
  readonly method: "GET" | "POST";
  readonly path: string;
  /** Validates and normalizes the query (GET) or JSON body (POST). */
  readonly input: z.ZodType<ParamInput>;
  /** The same, as published JSON Schema. */
  readonly inputJsonSchema: Record<string, unknown>;
  readonly priceUsd: NanoUsd;
  readonly description: string;
  readonly mimeType: string;
  readonly cacheTtlMs: number;
  readonly staleIfErrorMs: number;
  readonly enabled: boolean;
  /** Why the route is disabled (names the missing variable, never a value). */
  readonly disabledReason?: string;
  /** The upstream whose breaker and timeout guard it. */
  readonly upstream: string;
  readonly source: string;
  /** Defined by configuration rather than built in. */
  readonly custom: boolean;
  /** One upstream call through the breaker and timeout, without the cache. */
  call(input: ParamInput, signal?: AbortSignal): Promise<unknown>;
}

/** A route as /api/catalog lists it. */
export interface CatalogEntry {
  readonly id: string;
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly priceUsd: string;
  readonly description: string;
  readonly mimeType: string;
  readonly cacheTtlSeconds: number;
  readonly enabled: boolean;
  readonly disabledReason?: string;
  readonly source: string;
  readonly upstream: string;
  readonly breaker: BreakerState;
  readonly input: Record<string, unknown>;
}

export type Admission =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: "route_disabled"; readonly message: string }
  | { readonly ok: false; readonly code: "upstream_unavailable"; readonly message: string; readonly retryAfterMs: number };

export interface Served {
  readonly data: unknown;
  readonly cache: CacheStatus | "bypass";
  /** When the data was fetched from the upstream (ms since epoch). */
  readonly fetchedAt: number;
}

export interface Catalog {
  readonly routes: readonly CatalogRoute[];
  describe(): CatalogEntry[];
  /** The route mounted at `path` (paths are unique across methods). */
  byPath(path: string): CatalogRoute | undefined;
  /**
   * Whether a call can be attempted now, decided before any payment: disabled routes and open
   * breakers are refused, unless a fresh cached answer exists (which needs no upstream).
   */
  admission(route: CatalogRoute, input: ParamInput): Promise<Admission>;
  /** The answer for validated input: from the cache, or one upstream call (shared by concurrent callers). */
  serve(route: CatalogRoute, input: ParamInput): Promise<Served>;
  readonly breakers: Breakers;
  readonly cache: ResponseCache;
  readonly batch: CatalogConfig["batch"];
}

export interface CatalogDeps {
  /** Where API keys are read from (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Shared cache layer; without it the cache is memory-only. Ignored when `cache` is given. */
  readonly db?: Queryable;
  readonly cache?: ResponseCache;
  /** Chain client for Ruby.Exchange; default one built from `ruby.rpcUrl`. */
  readonly chainClient?: PairReader;
  readonly fetch?: typeof fetch;
  /** Clock for the cache and the breakers' failure window (ms). */
  readonly now?: () => number;
  readonly log?: { warn(details: object, message: string): void };
  readonly onBreakerStateChange?: (upstream: string, state: BreakerState) => void;
}

/** Paths the HTTP layer mounts itself. */
export const RESERVED_PATHS = ["/api/catalog", "/api/batch"] as const;

export function createCatalog(config: CatalogConfig, deps: CatalogDeps = {}): Catalog {
  const env = deps.env ?? process.env;
  const problems: string[] = [];

  // Upstreams: built-in definitions overlaid with configuration.
  const upstreamConfigs = new Map<string, { definition?: BuiltinUpstreamDefinition; config: UpstreamConfig | undefined }>();
  for (const definition of builtinUpstreams) upstreamConfigs.set(definition.name, { definition, config: config.upstreams[definition.name] });
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    if (name === RUBY_UPSTREAM) problems.push(`upstreams.${name}: reserved for Ruby.Exchange (configure it under "ruby")`);
    else if (!upstreamConfigs.has(name)) upstreamConfigs.set(name, { config: upstream });
  }

  const policies: Record<string, UpstreamPolicy> = {};
  const clients = new Map<string, { http: UpstreamHttp; disabledReason?: string }>();
  for (const [name, { definition, config: upstream }] of upstreamConfigs) {
    const baseUrl = upstream?.baseUrl ?? definition?.baseUrl;
    if (baseUrl === undefined) {
      problems.push(`upstreams.${name}.baseUrl is required (or set ${baseUrlEnvName(name)})`);
      continue;
    }
    const auth = upstream?.auth ?? definition?.auth;
    const key = auth === undefined ? undefined : env[auth.env]?.trim() || undefined;
    policies[name] = {
      timeoutMs: upstream?.timeoutMs ?? 5_000,
      breaker: upstream?.breaker ?? { failures: 5, windowMs: 60_000, openMs: 30_000 },
    };
    clients.set(name, {
      http: createUpstreamHttp({
        name,
        baseUrl,
        apiKey: key,
        keyPlacement: auth,
        headers: { ...definition?.headers, ...upstream?.headers },
        demo: upstream?.demo ?? false,
        ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }),
      }),
      ...(auth !== undefined && auth.required !== false && key === undefined ? { disabledReason: `${auth.env} is not set` } : {}),
    });
  }
  policies[RUBY_UPSTREAM] = { timeoutMs: config.ruby.timeoutMs, breaker: config.ruby.breaker };

  const breakers = createBreakers(policies, {
    ...(deps.now === undefined ? {} : { now: deps.now }),
    isRejection,
    ...(deps.onBreakerStateChange === undefined ? {} : { onStateChange: deps.onBreakerStateChange }),
  });
  const cache =
    deps.cache ??
    createResponseCache({
      maxEntries: config.cache.memoryEntries,
      ...(deps.db === undefined ? {} : { db: deps.db }),
      ...(deps.now === undefined ? {} : { now: deps.now }),
      ...(deps.log === undefined ? {} : { log: deps.log }),
    });

  const routes: CatalogRoute[] = [];
  const add = (route: CatalogRoute) => routes.push(route);

  // Built-in HTTP routes.
  const builtinIds = new Set<string>([...builtinHttpRoutes.map((r) => r.id), ...builtinRubyRouteIds]);
  for (const id of Object.keys(config.builtins)) {
    if (!builtinIds.has(id)) problems.push(`builtins.${id}: no such built-in route (known: ${[...builtinIds].join(", ")})`);
  }
  const fromBuiltin = (definition: BuiltinRouteDefinition, client: UpstreamHttp | undefined, upstreamDisabled: string | undefined) => {
    const override = config.builtins[definition.id] ?? {};
    const disabledReason = override.enabled === false ? "disabled by configuration" : upstreamDisabled;
    const route: CatalogRoute = {
      id: definition.id,
      method: definition.method,
      path: override.path ?? definition.path,
      input: inputSchema(definition.params, definition.refine),
      inputJsonSchema: inputJsonSchema(definition.params),
      priceUsd: parseUsd(override.priceUsd ?? definition.priceUsd),
      description: override.description ?? definition.description,
      mimeType: "application/json",
      cacheTtlMs: override.cacheTtlMs ?? definition.cacheTtlMs,
      staleIfErrorMs: override.staleIfErrorMs ?? config.cache.staleIfErrorMs,
      enabled: disabledReason === undefined,
      ...(disabledReason === undefined ? {} : { disabledReason }),
      upstream: definition.upstream,
      source: definition.source,
      custom: false,
      call: (input, signal) =>
        breakers.execute(definition.upstream, (inner) => definition.call(input, { http: client ?? missingHttp(definition.upstream), signal: inner }), signal),
    };
    add(route);
  };
  for (const definition of builtinHttpRoutes) {
    const client = clients.get(definition.upstream);
    fromBuiltin(definition, client?.http, client === undefined ? `upstream ${definition.upstream} is not configured` : client.disabledReason);
  }

  // Ruby.Exchange: on-chain reads.
  const chainClient = deps.chainClient ?? (config.ruby.rpcUrl === undefined ? undefined : createPublicClient({ transport: viemHttp(config.ruby.rpcUrl) }));
  const rubyDisabled =
    config.ruby.pairs.length === 0 ? "no pairs configured (RUBY_PAIRS)" : chainClient === undefined ? "no chain RPC configured (RUBY_RPC_URL)" : undefined;
  const rubyRoutes = rubyExchangeRoutes({
    client: chainClient ?? unreachableChain,
    pairs: config.ruby.pairs,
    feeBps: config.ruby.feeBps,
    demo: config.ruby.demo,
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });
  for (const definition of rubyRoutes) fromBuiltin(definition, undefined, rubyDisabled);

  // Operator routes.
  for (const [index, routeConfig] of config.routes.entries()) {
    const where = `routes[${index}] (${routeConfig.id})`;
    const client = clients.get(routeConfig.upstream);
    if (client === undefined) {
      if (!upstreamConfigs.has(routeConfig.upstream)) problems.push(`${where}: unknown upstream ${routeConfig.upstream}`);
      continue;
    }
    const declared = routeConfig.params;
    for (const name of placeholders(routeConfig.request.path)) {
      const spec = declared[name];
      if (spec === undefined) problems.push(`${where}: request.path uses {${name}}, which is not a declared parameter`);
      else if (!spec.required && spec.default === undefined) problems.push(`${where}: request.path uses {${name}}, which must be required or have a default`);
    }
    for (const [key, template] of Object.entries(routeConfig.request.query)) {
      for (const name of placeholders(template)) {
        if (declared[name] === undefined) problems.push(`${where}: request.query.${key} uses {${name}}, which is not a declared parameter`);
      }
    }
    add(operatorRoute(routeConfig, client.http, client.disabledReason, breakers));
  }

  // One path, one route; the HTTP layer's own paths stay free.
  const seenIds = new Set<string>();
  const seenPaths = new Set<string>(RESERVED_PATHS);
  for (const route of routes) {
    if (seenIds.has(route.id)) problems.push(`route id ${route.id} is used twice`);
    if (seenPaths.has(route.path)) problems.push(`path ${route.path} (route ${route.id}) is reserved or used twice`);
    seenIds.add(route.id);
    seenPaths.add(route.path);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const byPath = new Map(routes.map((r) => [r.path, r]));
  return {
    routes,
    breakers,
    cache,
    batch: config.batch,
    byPath: (path) => byPath.get(path),
    describe: () =>
      routes.map((r) => ({
        id: r.id,
        method: r.method,
        path: r.path,
        priceUsd: formatUsd(r.priceUsd),
        description: r.description,
        mimeType: r.mimeType,
        cacheTtlSeconds: r.cacheTtlMs / 1000,
        enabled: r.enabled,
        ...(r.disabledReason === undefined ? {} : { disabledReason: r.disabledReason }),
        source: r.source,
        upstream: r.upstream,
        breaker: breakers.state(r.upstream),
        input: r.inputJsonSchema,
      })),
    async admission(route, input) {
      if (!route.enabled) return { ok: false, code: "route_disabled", message: `${route.path} is disabled: ${route.disabledReason ?? "by configuration"}` };
      const refused = breakers.refusal(route.upstream);
      if (refused === undefined) return { ok: true };
      if (route.cacheTtlMs > 0 && (await cache.hasFresh(cacheKey(route.id, input)))) return { ok: true };
      return {
        ok: false,
        code: "upstream_unavailable",
        message: `the ${route.source} upstream is failing; its circuit breaker is open. Nothing was charged; retry later.`,
        retryAfterMs: refused.retryAfterMs,
      };
    },
    async serve(route, input) {
      if (route.cacheTtlMs === 0) return { data: await route.call(input), cache: "bypass", fetchedAt: (deps.now ?? Date.now)() };
      const result = await cache.getOrLoad(
        cacheKey(route.id, input),
        { ttlMs: route.cacheTtlMs, staleIfErrorMs: route.staleIfErrorMs, serveStaleOn: (error) => !isRejection(error), route: route.id },
        () => route.call(input),
      );
      return { data: result.value, cache: result.status, fetchedAt: result.storedAt };
    },
  };
}

function operatorRoute(config: OperatorRouteConfig, client: UpstreamHttp, disabledReason: string | undefined, breakers: Breakers): CatalogRoute {
  const upstreamMethod = config.request.method ?? config.method;
  return {
    id: config.id,
    method: config.method,
    path: config.path,
    input: inputSchema(config.params),
    inputJsonSchema: inputJsonSchema(config.params),
    priceUsd: parseUsd(config.priceUsd),
    description: config.description,
    mimeType: config.mimeType,
    cacheTtlMs: config.cacheTtlMs,
    staleIfErrorMs: config.staleIfErrorMs,
    enabled: disabledReason === undefined,
    ...(disabledReason === undefined ? {} : { disabledReason }),
    upstream: config.upstream,
    source: config.upstream,
    custom: true,
    call: (input, signal) =>
      breakers.execute(
        config.upstream,
        async (inner) => {
          let path: string;
          try {
            path = renderPath(config.request.path, input);
          } catch (error) {
            if (error instanceof TemplateValueError) throw new UpstreamError(config.upstream, "rejected", error.message, 400);
            throw error;
          }
          const { data, demo } = await client.request({
            path,
            query: renderQuery(config.request.query, input),
            method: upstreamMethod,
            ...(config.request.body === "params" ? { body: input } : {}),
            signal: inner,
          });
          const picked = pick(data, config.response.pick);
          if (!demo) return picked;
          return typeof picked === "object" && picked !== null && !Array.isArray(picked) ? labelled(picked, true) : labelled({ result: picked }, true);
        },
        signal,
      ),
  };
}

function pick(data: unknown, fields: readonly string[] | undefined): unknown {
  if (fields === undefined || typeof data !== "object" || data === null || Array.isArray(data)) return data;
  const record = data as Record<string, unknown>;
  return Object.fromEntries(fields.filter((f) => Object.hasOwn(record, f)).map((f) => [f, record[f]]));
}

function missingHttp(upstream: string): UpstreamHttp {
  return {
    name: upstream,
    request: async () => {
      throw new UpstreamError(upstream, "unavailable", `upstream ${upstream} is not configured`);
    },
  };
}

/** Stands in while Ruby.Exchange has no chain client; its routes are disabled then, so it is never called. */
const unreachableChain: PairReader = {
  readContract: (async () => {
    throw new UpstreamError(RUBY_UPSTREAM, "unavailable", "no chain client configured");
  }) as unknown as PairReader["readContract"],
  getBlockNumber: async () => {
    throw new UpstreamError(RUBY_UPSTREAM, "unavailable", "no chain client configured");
  },
};
