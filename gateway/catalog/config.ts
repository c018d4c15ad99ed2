/**
 * The catalogue's configuration: which upstreams exist (base URL, key, timeout, breaker), the
 * built-in routes' overrides (price, TTL, path, on/off), and the operator's own routes, defined by
 * configuration alone (docs/catalogue.md).
 *
 * Sources, later winning: the defaults of the built-ins, the JSON file named by CATALOG_CONFIG,
 * then environment variables for what differs per deployment: `<UPSTREAM>_BASE_URL` (e.g.
 * OPENWEATHER_BASE_URL; every upstream, so tests and the demo point at the fake upstream),
 * RUBY_RPC_URL, RUBY_PAIRS ("SKL-USDC=0x…,WETH-USDC=0x…"), RUBY_FEE_BPS, RUBY_DEMO.
 * API keys are read from the environment only (each upstream names its variable), never from the
 * file, and never appear in the catalogue, logs or errors.
 */
import { readFileSync } from "node:fs";
import { getAddress, isAddress } from "viem";
import { z } from "zod";
import { ConfigError } from "../config/index.js";
import { parseUsd } from "../pricing/index.js";
import { paramsSpecSchema } from "./params.js";

const usdPrice = z.string().superRefine((value, ctx) => {
  try {
    parseUsd(value);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
  }
});

const httpUrl = z.url({ protocol: /^https?$/ });
const envName = z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, "an environment variable name in capitals, e.g. MY_API_KEY");
const durationMs = (max: number) => z.number().int().min(0).max(max);
/** Paths the catalogue may mount: under /api/, plain segments. */
export const apiPath = z
  .string()
  .regex(/^\/api(\/[a-z0-9][a-z0-9._-]*)+$/, "must be /api/ followed by lowercase segments (letters, digits, . _ -)");
const routeId = z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, "lowercase letters, digits and -");
const upstreamName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, "lowercase letters, digits and -");

export const breakerConfigSchema = z.strictObject({
  failures: z.number().int().min(1).max(1_000).default(5),
  windowMs: durationMs(24 * 3_600_000).min(1).default(60_000),
  openMs: durationMs(24 * 3_600_000).min(1).default(30_000),
});

export const upstreamConfigSchema = z.strictObject({
  /** Required for upstreams that are not built in. */
  baseUrl: httpUrl.optional(),
  timeoutMs: durationMs(120_000).min(1).default(5_000),
  breaker: breakerConfigSchema.default({ failures: 5, windowMs: 60_000, openMs: 30_000 }),
  auth: z
    .strictObject({
      /** The environment variable holding the key. */
      env: envName,
      in: z.enum(["header", "query"]),
      /** Header or query parameter name. */
      name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
      prefix: z.string().max(32).optional(),
      /** Without the key the upstream's routes are disabled (default true). */
      required: z.boolean().default(true),
    })
    .optional(),
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.string().max(1_024)).optional(),
  /** Label every answer of this upstream as demo data. */
  demo: z.boolean().default(false),
});

export const builtinOverrideSchema = z.strictObject({
  enabled: z.boolean().optional(),
  path: apiPath.optional(),
  priceUsd: usdPrice.optional(),
  cacheTtlMs: durationMs(7 * 24 * 3_600_000).optional(),
  staleIfErrorMs: durationMs(7 * 24 * 3_600_000).optional(),
  description: z.string().min(1).max(500).optional(),
});

export const operatorRouteSchema = z.strictObject({
  id: routeId,
  method: z.enum(["GET", "POST"]).default("GET"),
  /** Where the gateway serves it. */
  path: apiPath,
  upstream: upstreamName,
  description: z.string().min(1).max(500),
  mimeType: z.string().default("application/json"),
  priceUsd: usdPrice,
  cacheTtlMs: durationMs(7 * 24 * 3_600_000).default(0),
  staleIfErrorMs: durationMs(7 * 24 * 3_600_000).default(0),
  params: paramsSpecSchema,
  /** What is sent upstream: a path template and query templates with {param} placeholders. */
  request: z.strictObject({
    path: z.string().regex(/^\/[^?#\s]*$/, "a path starting with / (no query: use `query`)"),
    query: z.record(z.string().min(1).max(64), z.string().max(512)).default({}),
    /** "params": POST the validated parameters upstream as a JSON body. */
    body: z.enum(["none", "params"]).default("none"),
    method: z.enum(["GET", "POST"]).optional(),
  }),
  response: z.strictObject({ pick: z.array(z.string().min(1)).min(1).optional() }).default({}),
});

export const rubyPairSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9.]{1,16}-[A-Za-z0-9.]{1,16}$/, "BASE-QUOTE by token symbols, e.g. SKL-USDC"),
  address: z
    .string()
    .refine((a) => isAddress(a, { strict: false }), "must be an EVM address")
    .transform((a) => getAddress(a)),
});

export const catalogConfigSchema = z.strictObject({
  upstreams: z.record(upstreamName, upstreamConfigSchema).default({}),
  builtins: z.record(routeId, builtinOverrideSchema).default({}),
  routes: z.array(operatorRouteSchema).default([]),
  ruby: z
    .strictObject({
      rpcUrl: z.url({ protocol: /^(https?|wss?)$/ }).optional(),
      pairs: z.array(rubyPairSchema).default([]),
      feeBps: z.number().int().min(0).max(9_999).default(30),
      timeoutMs: durationMs(120_000).min(1).default(5_000),
      breaker: breakerConfigSchema.default({ failures: 5, windowMs: 60_000, openMs: 30_000 }),
      demo: z.boolean().default(false),
    })
    .default({ pairs: [], feeBps: 30, timeoutMs: 5_000, breaker: { failures: 5, windowMs: 60_000, openMs: 30_000 }, demo: false }),
  cache: z
    .strictObject({
      /** Default stale-if-error window of the built-in routes; 0 = off. */
      staleIfErrorMs: durationMs(7 * 24 * 3_600_000).default(0),
      memoryEntries: z.number().int().min(1).max(1_000_000).default(5_000),
    })
    .default({ staleIfErrorMs: 0, memoryEntries: 5_000 }),
  batch: z
    .strictObject({
      maxCalls: z.number().int().min(1).max(100).default(100),
      concurrency: z.number().int().min(1).max(50).default(8),
    })
    .default({ maxCalls: 100, concurrency: 8 }),
});

export type CatalogConfig = z.output<typeof catalogConfigSchema>;
export type CatalogConfigInput = z.input<typeof catalogConfigSchema>;
export type UpstreamConfig = z.output<typeof upstreamConfigSchema>;
export type OperatorRouteConfig = z.output<typeof operatorRouteSchema>;

/** Parses a catalogue configuration object; throws ConfigError listing every problem by path. */
export function parseCatalogConfig(input: unknown, where = "catalogue configuration"): CatalogConfig {
  const result = catalogConfigSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => `${where}: ${issue.path.join(".") || "(root)"}: ${issue.message}`));
}

/** The environment variable that overrides an upstream's base URL: OPENWEATHER_BASE_URL, MY_API_BASE_URL. */
export function baseUrlEnvName(upstream: string): string {
  return `${upstream.toUpperCase().replace(/-/g, "_")}_BASE_URL`;
}

/**
 * Reads CATALOG_CONFIG (if set) and applies the environment overrides. `upstreamNames` are the
 * built-in upstreams, whose base URLs may be overridden even when the file does not mention them.
 */
export function loadCatalogConfig(env: NodeJS.ProcessEnv = process.env, upstreamNames: readonly string[] = []): CatalogConfig {
  const path = env.CATALOG_CONFIG?.trim();
  let raw: Record<string, unknown> = {};
  if (path) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(path, "utf8"));
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not a JSON object");
      raw = parsed as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError([`CATALOG_CONFIG ${path}: ${(error as Error).message}`]);
    }
  }
  const problems: string[] = [];
  const upstreams = { ...((raw["upstreams"] as Record<string, Record<string, unknown>> | undefined) ?? {}) };
  const names = new Set([...upstreamNames, ...Object.keys(upstreams)]);
  for (const name of names) {
    const value = env[baseUrlEnvName(name)]?.trim();
    if (value) upstreams[name] = { ...upstreams[name], baseUrl: value };
  }
  const ruby = { ...((raw["ruby"] as Record<string, unknown> | undefined) ?? {}) };
  if (env.RUBY_RPC_URL?.trim()) ruby["rpcUrl"] = env.RUBY_RPC_URL.trim();
  if (env.RUBY_PAIRS?.trim()) {
    ruby["pairs"] = env.RUBY_PAIRS.split(",")
      .map((entry) => entry.trim())
      .filter((entry) => entry !== "")
      .map((entry) => {
        const [name = "", address = ""] = entry.split("=").map((s) => s.trim());
        if (address === "") problems.push(`RUBY_PAIRS: "${entry}" is not NAME=ADDRESS`);
        return { name, address };
      });
  }
  if (env.RUBY_FEE_BPS?.trim()) ruby["feeBps"] = Number(env.RUBY_FEE_BPS);
  if (env.RUBY_DEMO?.trim()) ruby["demo"] = ["1", "true", "yes"].includes(env.RUBY_DEMO.trim().toLowerCase());
  if (problems.length > 0) throw new ConfigError(problems);
  return parseCatalogConfig({ ...raw, upstreams, ruby }, path ? `CATALOG_CONFIG ${path}` : "catalogue configuration");
}
