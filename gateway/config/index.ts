import { readFileSync } from "node:fs";
import { type Address, type Hex, getAddress, isAddress } from "viem";
import { z } from "zod";

/**
 * Gateway configuration: environment variables, optionally on top of a JSON file named by
 * `GATEWAY_CONFIG` (environment wins). Validated once at start-up; every problem is reported at
 * once, by field, so an operator fixes a config in one go. The signer key is accepted from the
 * environment only, so it never sits in a file that gets copied around.
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

export const configSchema = z.object({
  port: z.coerce.number().int().min(0).max(65_535).default(8080),
  host: z.string().min(1).default("0.0.0.0"),
  rpcUrl: z.url({ protocol: /^(https?|wss?)$/ }),
  chainId: z.coerce.number().int().positive(),
  deploymentsFile: z.string().min(1),
  payTo: address,
  signerKey: hexKey,
  databaseUrl: z.string().optional(),
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
  dataDir: "DATA_DIR",
  corsOrigins: "CORS_ORIGINS",
  trustProxy: "TRUST_PROXY",
  publicUrl: "PUBLIC_URL",
  stablecoins: "STABLECOINS",
  maxBodyBytes: "MAX_BODY_BYTES",
  logLevel: "LOG_LEVEL",
};

/** Fields a config file may not set. */
const envOnly: readonly (keyof GatewayConfig)[] = ["signerKey"];

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
          : `${key}${name ? ` (${name})` : ""}: ${issue.message}`,
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
    databaseUrl: config.databaseUrl === undefined ? undefined : config.databaseUrl.replace(/\/\/[^@/]*@/, "//[redacted]@"),
  };
}
