import { readFileSync } from "node:fs";
import { type Address, type Hex, getAddress, isAddress } from "viem";
import { z } from "zod";
import { fixedPriceSource } from "../pricing/price-sources.js";
import { DEFAULT_ESCROW_VALIDITY_MARGIN_SECONDS } from "../schemes/escrow/verify.js";
import { MIN_WITHDRAWAL_DELAY_SECONDS } from "../schemes/escrow/config.js";
import { MIN_TOKEN_LENGTH as MIN_FACILITATOR_TOKEN_LENGTH } from "../facilitator/auth.js";

/**
 * Gateway configuration: environment variables, optionally on top of a JSON file named by
 * `GATEWAY_CONFIG` (environment wins). Validated once at start-up; every problem is reported at
 * once, by field, so an operator fixes a config in one go. Secrets (the signer key, the
 * facilitator and admin tokens) are accepted from the environment only, so they never sit in a
 * file that gets copied around, and `describeConfig` masks them. The API catalogue has its own
 * configuration (gateway/catalog/config.ts: CATALOG_CONFIG and the upstreams' variables).
 */

const hexKey = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x followed by 64 hex digits")
  .transform((s) => s as Hex);

const address = z
  .string()
  .refine((s) => isAddress(s, { strict: false }), "must be an EVM address")
  .transform((s) => getAddress(s) as Address);

const csv = z.union([z.string(), z.array(z.string())]).transform((v) =>
  (Array.isArray(v) ? v : v.split(",")).map((s) => s.trim()).filter((s) => s !== ""),
);

const bool = z.union([z.boolean(), z.enum(["true", "false", "1", "0", "yes", "no"])]).transform((v) =>
  typeof v === "boolean" ? v : ["true", "1", "yes"].includes(v),
);

/** The payment schemes the gateway can offer (docs/gateway-design.md). */
export const SCHEME_NAMES = ["exact", "escrow", "transfer"] as const;

const seconds = z.coerce.number().int().positive();

/**
 * Where a non-stablecoin's USD price comes from, per token (keyed by registry symbol, e.g. "SKL",
 * or by token address). `fixed`: an operator-set price that expires `maxAgeSeconds` after
 * `updatedAt`. `uniswap-v2`: the reserves of a pair against a USD stablecoin, refused when the pair
 * has not traded for `maxAgeSeconds`. See gateway/pricing/price-sources.ts for the staleness rules.
 */
const fixedPriceSchema = z.object({
  kind: z.literal("fixed"),
  usd: z.string().min(1),
  updatedAt: z.string().min(1),
  maxAgeSeconds: z.int().positive(),
  /** Shown in logs and errors, e.g. "SKL (ops, 2025-06-01)". */
  label: z.string().min(1).max(100).optional(),
});

const uniswapV2PriceSchema = z.object({
  kind: z.literal("uniswap-v2"),
  pair: address,
  /** The pair's USD stablecoin side, priced at exactly $1. */
  quoteToken: address,
  quoteDecimals: z.int().min(0).max(36),
  maxAgeSeconds: z.int().positive(),
  /** How long one reserves read is reused; default 15 s. */
  cacheTtlMs: z.int().min(0).default(15_000),
  /** Smallest stablecoin reserve (atomic units, decimal string) at which the pair is trusted. */
  minQuoteReserve: z.string().regex(/^[1-9]\d*$/, "must be a positive integer in atomic units").transform(BigInt).optional(),
  label: z.string().min(1).max(100).optional(),
});

const priceSourceSchema = z.discriminatedUnion("kind", [fixedPriceSchema, uniswapV2PriceSchema]).superRefine((source, ctx) => {
  if (source.kind !== "fixed") return;
  try {
    // The same checks the source runs at start: a price that could never be used fails here.
    fixedPriceSource(source, { name: source.label ?? "fixed" });
  } catch (error) {
    ctx.addIssue({ code: "custom", message: error instanceof Error ? error.message : String(error) });
  }
});

export type PriceSourceConfig = z.output<typeof priceSourceSchema>;

const PRICE_SOURCES_EXAMPLE = '{"SKL": {"kind": "fixed", "usd": "0.03", "updatedAt": "2025-06-01T00:00:00Z", "maxAgeSeconds": 604800}}';

/** A JSON object in the environment, the object itself in a config file. */
const priceSources = z.preprocess(
  (value) => {
    if (typeof value !== "string") return value;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  },
  z.record(z.string().min(1), priceSourceSchema, { error: `must be a JSON object such as ${PRICE_SOURCES_EXAMPLE}` }),
);

/** The same rule the admin routes enforce (gateway/http/ops-routes.ts): a guessable token is no lock. */
export const MIN_ADMIN_TOKEN_LENGTH = 32;

/** A bearer token: printable, no spaces (it travels in an Authorization header). */
const bearerToken = (min: number) =>
  z
    .string()
    .min(min, `must be at least ${min} characters`)
    .regex(/^[\x21-\x7e]+$/, "must be printable characters without spaces");

/** Largest horizon the escrow's one-hour minimum withdrawal delay allows with the default margin. */
const MAX_HORIZON_SECONDS = Number(MIN_WITHDRAWAL_DELAY_SECONDS - DEFAULT_ESCROW_VALIDITY_MARGIN_SECONDS) - 1;

export const configSchema = z.object({
  port: z.coerce.number().int().min(0).max(65_535).default(8080),
  host: z.string().min(1).default("0.0.0.0"),
  rpcUrl: z.url({ protocol: /^(https?|wss?)$/ }),
  chainId: z.coerce.number().int().positive(),
  deploymentsFile: z.string().min(1),
  payTo: address,
  signerKey: hexKey,
  databaseUrl: z.string().optional(),
  /** Keep the per-request statements prepared on each PostgreSQL connection (gateway/db/postgres.ts). */
  databasePreparedStatements: bool.default(true),
  dataDir: z.string().min(1).default(".data/pglite"),
  corsOrigins: csv.default([]),
  trustProxy: bool.default(false),
  /**
   * The gateway's public base URL (e.g. https://api.example.com). When set, the resource URLs in
   * 402 challenges are built from it instead of the request's Host header, which the client
   * controls and which escrow and transfer-proof challenge hashes bind to.
   */
  publicUrl: z.url({ protocol: /^https?$/ }).optional(),
  /**
   * Tokens priced at $1 (stablecoins). The catalog's accepted tokens outside this list are not
   * offered until they have a price source. Default: those whose registry symbol starts with "USD".
   */
  stablecoins: csv.pipe(z.array(address)).optional(),
  /** Largest request body the gateway reads, bytes. */
  maxBodyBytes: z.coerce.number().int().positive().max(10 * 1024 * 1024).default(1024 * 1024),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Schemes offered on every paid route (a route may narrow them). */
  schemes: csv.pipe(z.array(z.enum(SCHEME_NAMES)).min(1)).default([...SCHEME_NAMES]),
  /**
   * The settlement engine's promise: an escrow payment served on credit is settled within this
   * many seconds. Must stay below the escrow's minimum withdrawal delay (one hour) less the
   * validity margin, or a payer could take its commitment back first; start-up also checks it
   * against the deployed escrow's delay.
   */
  settlementHorizonSeconds: seconds.max(MAX_HORIZON_SECONDS).default(300),
  /**
   * How long escrow verification trusts the chain head it last saw, ms. Reads are cached per
   * block (a known payer's payment costs no RPC), so this bounds how stale they can be: a pause,
   * a token's deprecation or a spent nonce shows within this time. At most 5 s.
   */
  chainHeadMaxAgeMs: z.coerce.number().int().min(0).max(5_000).default(250),
  /**
   * Serve a payment on credit before recording it, recording it once with its response
   * (docs/gateway-design.md, *Recording once*): one durable write per paid request, not two.
   */
  serveBeforeRecording: bool.default(true),
  /** How often the settlement engine looks for work. At least three runs must fit in the horizon. */
  settlementIntervalMs: z.coerce.number().int().min(100).default(5_000),
  /**
   * Most payments per settlement transaction. 200 is what bench section 4 measured best (see
   * docs/settlement-engine.md); above about 240 a batch's bounded gas limit passes 2^24 and the
   * engine falls back to estimating it, which costs most of the throughput.
   */
  settlementBatchMax: z.coerce.number().int().min(1).max(500).default(200),
  /**
   * Which settlement batches are simulated before they are sent: `retries` (payments the escrow
   * refused or skipped before; bench section 4 measured the simulation as the node's largest cost)
   * or `always`.
   */
  settlementSimulation: z.enum(["retries", "always"]).default("retries"),
  /** Run the settlement engine in this process (every instance may: they share work through row locks). */
  settlementWorker: bool.default(true),
  /** Blocks a transfer proof needs (1 on SKALE: instant finality). */
  transferMinConfirmations: z.coerce.number().int().min(1).max(1_000).default(1),
  /** How old a transfer may be when its proof arrives. */
  transferMaxAgeSeconds: seconds.max(7 * 86_400).default(600),
  /** Price sources of non-stablecoin tokens (SKL, WETH); a token without one is not offered. */
  priceSources: priceSources.default({}),
  /**
   * Bearer tokens of the resource servers allowed to call the facilitator's /verify and /settle
   * (docs/facilitator.md), comma-separated. None: only loopback callers, unless `facilitatorOpen`.
   */
  facilitatorTokens: csv.pipe(z.array(bearerToken(MIN_FACILITATOR_TOKEN_LENGTH))).default([]),
  /** Without tokens, serve the facilitator API to every caller (a private network only). */
  facilitatorOpen: bool.default(false),
  /** Bearer token of /admin/*; unset disables the admin endpoints. */
  adminToken: bearerToken(MIN_ADMIN_TOKEN_LENGTH).optional(),
  /** Requests per agent (paying wallet, else client address) per minute, on /api/*. */
  rateLimitPerMinute: z.coerce.number().int().positive().max(1_000_000).default(100),
  /** Requests per agent per UTC day, on /api/*. */
  rateLimitPerDay: z.coerce.number().int().positive().max(100_000_000).default(1_000),
}).superRefine((config, ctx) => {
  if (config.facilitatorOpen && config.facilitatorTokens.length > 0) {
    ctx.addIssue({
      code: "custom",
      path: ["facilitatorOpen"],
      message: "cannot be combined with FACILITATOR_TOKENS: tokens already decide who may call",
    });
  }
  if (config.settlementIntervalMs * 3 > config.settlementHorizonSeconds * 1000) {
    ctx.addIssue({
      code: "custom",
      path: ["settlementIntervalMs"],
      message: `must leave room for three settlement runs within the ${config.settlementHorizonSeconds} s horizon (at most ${Math.floor((config.settlementHorizonSeconds * 1000) / 3)} ms)`,
    });
  }
});

export type GatewayConfig = z.output<typeof configSchema>;

/** Environment variable of each field. */
const envNames: Record<keyof GatewayConfig, string> = {
  port: "PORT",
  host: "HOST",
  rpcUrl: "RPC_URL",
  chainId: "CHAIN_ID",
  deploymentsFile: "DEPLOYMENTS_FILE",
  payTo: "PAY_TO",
  signerKey: "SIGNER_PRIVATE_KEY",
  databaseUrl: "DATABASE_URL",
  databasePreparedStatements: "DATABASE_PREPARED_STATEMENTS",
  dataDir: "DATA_DIR",
  corsOrigins: "CORS_ORIGINS",
  trustProxy: "TRUST_PROXY",
  publicUrl: "PUBLIC_URL",
  stablecoins: "STABLECOINS",
  maxBodyBytes: "MAX_BODY_BYTES",
  logLevel: "LOG_LEVEL",
  schemes: "SCHEMES",
  settlementHorizonSeconds: "SETTLEMENT_HORIZON_SECONDS",
  chainHeadMaxAgeMs: "CHAIN_HEAD_MAX_AGE_MS",
  serveBeforeRecording: "SERVE_BEFORE_RECORDING",
  settlementIntervalMs: "SETTLEMENT_INTERVAL_MS",
  settlementBatchMax: "SETTLEMENT_BATCH_MAX",
  settlementSimulation: "SETTLEMENT_SIMULATION",
  settlementWorker: "SETTLEMENT_WORKER",
  transferMinConfirmations: "TRANSFER_MIN_CONFIRMATIONS",
  transferMaxAgeSeconds: "TRANSFER_MAX_AGE_SECONDS",
  priceSources: "PRICE_SOURCES",
  facilitatorTokens: "FACILITATOR_TOKENS",
  facilitatorOpen: "FACILITATOR_OPEN",
  adminToken: "ADMIN_TOKEN",
  rateLimitPerMinute: "RATE_LIMIT_PER_MINUTE",
  rateLimitPerDay: "RATE_LIMIT_PER_DAY",
};

/** Secrets: a config file may not set them, so they never sit in a file that gets copied around. */
const envOnly: readonly (keyof GatewayConfig)[] = ["signerKey", "facilitatorTokens", "adminToken"];

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: readonly string[]) {
    super(`invalid gateway configuration:\n  - ${problems.join("\n  - ")}`);
  }
}

/** Reads and validates the configuration; throws `ConfigError` listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const problems: string[] = [];
  let file: Record<string, unknown> = {};
  const path = env.GATEWAY_CONFIG?.trim();
  if (path) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(path, "utf8"));
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not a JSON object");
      file = parsed as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError([`GATEWAY_CONFIG ${path}: ${error instanceof Error ? error.message : String(error)}`]);
    }
    for (const key of envOnly) {
      if (key in file) problems.push(`${key}: may only be set through ${envNames[key]} (never in a file)`);
    }
    for (const key of Object.keys(file)) {
      if (!(key in envNames)) problems.push(`${key}: unknown configuration key in ${path}`);
    }
  }
  const merged: Record<string, unknown> = { ...file };
  for (const [key, name] of Object.entries(envNames)) {
    const value = env[name];
    if (value !== undefined && value.trim() !== "") merged[key] = value;
  }
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = String(issue.path[0] ?? "");
      const name = envNames[key as keyof GatewayConfig];
      // Never echo the offending value: it may be the key.
      problems.push(
        merged[key] === undefined
          ? `${key} is required${name ? ` (set ${name})` : ""}`
          : `${key}${name ? ` (${name})` : ""}${issue.path.length > 1 ? ` at ${issue.path.slice(1).join(".")}` : ""}: ${issue.message}`,
      );
    }
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return result.data;
}

/** The configuration with secrets masked, for logs and diagnostics. */
export function describeConfig(config: GatewayConfig): Record<string, unknown> {
  return {
    ...config,
    signerKey: "[redacted]",
    facilitatorTokens: config.facilitatorTokens.map(() => "[redacted]"),
    adminToken: config.adminToken === undefined ? undefined : "[redacted]",
    databaseUrl: config.databaseUrl === undefined ? undefined : config.databaseUrl.replace(/\/\/[^@/]*@/, "//[redacted]@"),
  };
}
