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
    const text = lines.join("");
    for (const secret of [KEY, "hunter2", "abc123", "eyJzaWduYXR1cmUi", "eyJwYXkiOjF9"]) expect(text).not.to.include(secret);
    expect(text).to.include("[redacted]");
  });
});
