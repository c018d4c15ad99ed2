/** Configuration loading and log redaction: the start-up surface of the HTTP gateway. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { expect } from "chai";
import { ConfigError, describeConfig, loadConfig } from "../../gateway/config/index.js";
import { createLogger } from "../../gateway/log.js";

const KEY = `0x${"11".repeat(32)}`;
const PAY_TO = "0x00000000000000000000000000000000000000aa";

const baseEnv = {
  RPC_URL: "https://rpc.example/v1",
  CHAIN_ID: "324705682",
  DEPLOYMENTS_FILE: "deployments/skaleBaseSepolia.json",
  PAY_TO,
  SIGNER_PRIVATE_KEY: KEY,
};

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  expect.fail("expected a ConfigError");
}

describe("gateway config", () => {
  it("reads the environment with defaults", () => {
    const config = loadConfig({ ...baseEnv, CORS_ORIGINS: "https://a.example, https://b.example", TRUST_PROXY: "true" });
    expect(config).to.include({ port: 8080, host: "0.0.0.0", chainId: 324705682, trustProxy: true, maxBodyBytes: 1024 * 1024 });
    expect(config.payTo).to.equal("0x00000000000000000000000000000000000000AA");
    expect(config.corsOrigins).to.deep.equal(["https://a.example", "https://b.example"]);
    expect(config.stablecoins).to.equal(undefined);
  });

  it("keeps the per-request statements prepared unless told not to (a pooler that drops them)", () => {
    expect(loadConfig(baseEnv).databasePreparedStatements).to.equal(true);
    expect(loadConfig({ ...baseEnv, DATABASE_PREPARED_STATEMENTS: "false" }).databasePreparedStatements).to.equal(false);
    expect(problems({ ...baseEnv, DATABASE_PREPARED_STATEMENTS: "sometimes" }).join("\n")).to.match(/DATABASE_PREPARED_STATEMENTS/);
  });

  it("has settlement, scheme and price-source defaults", () => {
    const config = loadConfig(baseEnv);
    expect(config).to.include({ settlementHorizonSeconds: 300, settlementIntervalMs: 5_000, settlementBatchMax: 200, settlementWorker: true });
    expect(config.settlementSimulation).to.equal("retries");
    expect(loadConfig({ ...baseEnv, SETTLEMENT_SIMULATION: "always" }).settlementSimulation).to.equal("always");
    expect(problems({ ...baseEnv, SETTLEMENT_SIMULATION: "sometimes" }).join("\n")).to.match(/SETTLEMENT_SIMULATION/);
    expect(config.schemes).to.deep.equal(["exact", "escrow", "transfer"]);
    expect(config.priceSources).to.deep.equal({});
    expect(config).to.include({ transferMinConfirmations: 1, transferMaxAgeSeconds: 600 });
  });

  it("reads PRICE_SOURCES as JSON: fixed prices and UniswapV2 pairs per token", () => {
    const pair = "0x00000000000000000000000000000000000000bb";
    const config = loadConfig({
      ...baseEnv,
      PRICE_SOURCES: JSON.stringify({
        SKL: { kind: "fixed", usd: "0.031", updatedAt: "2025-06-01T00:00:00Z", maxAgeSeconds: 86_400, label: "SKL (ops)" },
        WETH: { kind: "uniswap-v2", pair, quoteToken: PAY_TO, quoteDecimals: 6, maxAgeSeconds: 600, minQuoteReserve: "1000000" },
      }),
    });
    expect(config.priceSources["SKL"]).to.include({ kind: "fixed", usd: "0.031", label: "SKL (ops)" });
    expect(config.priceSources["WETH"]).to.include({ kind: "uniswap-v2", quoteDecimals: 6, cacheTtlMs: 15_000, minQuoteReserve: 1_000_000n });
  });

  it("refuses malformed price sources, an unusable horizon and an engine interval the horizon cannot fit", () => {
    const text = [
      ...problems({ ...baseEnv, PRICE_SOURCES: "not json" }),
      ...problems({ ...baseEnv, PRICE_SOURCES: JSON.stringify({ SKL: { kind: "fixed", usd: "-1", updatedAt: "2025-06-01T00:00:00Z", maxAgeSeconds: 60 } }) }),
      ...problems({ ...baseEnv, PRICE_SOURCES: JSON.stringify({ SKL: { kind: "oracle" } }) }),
      ...problems({ ...baseEnv, SETTLEMENT_HORIZON_SECONDS: "3600" }),
      ...problems({ ...baseEnv, SETTLEMENT_HORIZON_SECONDS: "30", SETTLEMENT_INTERVAL_MS: "20000" }),
      ...problems({ ...baseEnv, SCHEMES: "exact,upto" }),
    ].join("\n");
    expect(text).to.include("priceSources (PRICE_SOURCES): must be a JSON object");
    expect(text).to.include("priceSources (PRICE_SOURCES) at SKL: invalid USD amount");
    expect(text).to.include("priceSources (PRICE_SOURCES) at SKL.kind");
    expect(text).to.include("settlementHorizonSeconds (SETTLEMENT_HORIZON_SECONDS)");
    expect(text).to.include("settlementIntervalMs (SETTLEMENT_INTERVAL_MS): must leave room for three settlement runs");
    expect(text).to.include("schemes (SCHEMES)");
  });

  it("reports every problem at once, by variable, without echoing values", () => {
    const found = problems({ RPC_URL: "ftp://x", CHAIN_ID: "-1", PAY_TO: "0x12", SIGNER_PRIVATE_KEY: "0xdeadbeef", PORT: "99999" });
    const text = found.join("\n");
    for (const name of ["RPC_URL", "CHAIN_ID", "PAY_TO", "SIGNER_PRIVATE_KEY", "PORT", "DEPLOYMENTS_FILE"]) expect(text).to.include(name);
    expect(text).not.to.include("deadbeef");
  });

  it("layers the environment over a JSON file, which may not hold the signer key", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ppa-config-"));
    const file = path.join(dir, "gateway.json");
    writeFileSync(file, JSON.stringify({ port: 9000, host: "127.0.0.1", chainId: 1, corsOrigins: ["*"] }));
    const config = loadConfig({ ...baseEnv, GATEWAY_CONFIG: file });
    expect(config).to.include({ port: 9000, host: "127.0.0.1", chainId: 324705682 });
    expect(config.corsOrigins).to.deep.equal(["*"]);

    writeFileSync(file, JSON.stringify({ signerKey: KEY, portt: 1 }));
    const found = problems({ ...baseEnv, GATEWAY_CONFIG: file }).join("\n");
    expect(found).to.include("signerKey").and.to.include("portt");
    expect(found).not.to.include(KEY);

    writeFileSync(file, "{not json");
    expect(problems({ ...baseEnv, GATEWAY_CONFIG: file })[0]).to.include(file);
  });

  it("masks secrets when describing the configuration", () => {
    const config = loadConfig({ ...baseEnv, DATABASE_URL: "postgres://user:hunter2@db:5432/ppa" });
    const text = JSON.stringify(describeConfig(config));
    expect(text).not.to.include(KEY.slice(2));
    expect(text).not.to.include("hunter2");
  });
});

describe("gateway config: rate limits, admin and facilitator access", () => {
  const ADMIN = "0123456789abcdef".repeat(3);
  const FACILITATOR = ["server-one-token-0001", "server-two-token-0002"];

  it("defaults to 100 requests a minute and 1,000 a day, no admin, loopback-only facilitator", () => {
    const config = loadConfig(baseEnv);
    expect(config).to.include({ rateLimitPerMinute: 100, rateLimitPerDay: 1_000, facilitatorOpen: false });
    expect(config.adminToken).to.equal(undefined);
    expect(config.facilitatorTokens).to.deep.equal([]);
  });

  it("reads the limits and the tokens from the environment, and masks the tokens", () => {
    const config = loadConfig({
      ...baseEnv,
      RATE_LIMIT_PER_MINUTE: "30",
      RATE_LIMIT_PER_DAY: "500",
      ADMIN_TOKEN: ADMIN,
      FACILITATOR_TOKENS: FACILITATOR.join(", "),
    });
    expect(config).to.include({ rateLimitPerMinute: 30, rateLimitPerDay: 500, adminToken: ADMIN });
    expect(config.facilitatorTokens).to.deep.equal(FACILITATOR);
    const described = JSON.stringify(describeConfig(config));
    for (const secret of [ADMIN, ...FACILITATOR]) expect(described).not.to.include(secret);
  });

  it("refuses short tokens, non-positive limits and FACILITATOR_OPEN together with tokens, without echoing tokens", () => {
    const found = problems({
      ...baseEnv,
      ADMIN_TOKEN: "too-short-admin",
      FACILITATOR_TOKENS: "short-one",
      RATE_LIMIT_PER_MINUTE: "0",
    }).join("\n");
    expect(found).to.include("adminToken (ADMIN_TOKEN): must be at least 32 characters");
    expect(found).to.include("facilitatorTokens (FACILITATOR_TOKENS) at 0: must be at least 16 characters");
    expect(found).to.include("rateLimitPerMinute (RATE_LIMIT_PER_MINUTE)");
    expect(found).not.to.include("too-short-admin").and.not.to.include("short-one");
    const both = problems({ ...baseEnv, FACILITATOR_TOKENS: FACILITATOR[0]!, FACILITATOR_OPEN: "true" }).join("\n");
    expect(both).to.include("facilitatorOpen (FACILITATOR_OPEN): cannot be combined with FACILITATOR_TOKENS");
  });

  it("accepts the tokens only from the environment, never from the config file", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ppa-config-"));
    const file = path.join(dir, "gateway.json");
    writeFileSync(file, JSON.stringify({ adminToken: ADMIN, facilitatorTokens: FACILITATOR, rateLimitPerDay: 2_000 }));
    const found = problems({ ...baseEnv, GATEWAY_CONFIG: file }).join("\n");
    expect(found).to.include("adminToken: may only be set through ADMIN_TOKEN");
    expect(found).to.include("facilitatorTokens: may only be set through FACILITATOR_TOKENS");
    writeFileSync(file, JSON.stringify({ rateLimitPerDay: 2_000 }));
    expect(loadConfig({ ...baseEnv, GATEWAY_CONFIG: file }).rateLimitPerDay).to.equal(2_000);
  });
});

describe("gateway logger", () => {
  it("redacts keys, secrets and payment/authorization headers", () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createLogger({ level: "info", destination: sink });
    log.info({ config: { signerKey: KEY, databaseUrl: "postgres://u:hunter2@h/db" }, privateKey: KEY }, "config");
    log.info({ req: { headers: { authorization: "Bearer abc123", "x-payment": "eyJzaWduYXR1cmUi", "payment-signature": "eyJwYXkiOjF9" } } }, "request");
    log.info({ config: { adminToken: "admin-secret-0123456789", facilitatorTokens: ["facilitator-secret-01"] } }, "config");
    const text = lines.join("");
    for (const secret of [KEY, "hunter2", "abc123", "eyJzaWduYXR1cmUi", "eyJwYXkiOjF9", "admin-secret", "facilitator-secret"]) expect(text).not.to.include(secret);
    expect(text).to.include("[redacted]");
  });
});
