import { expect } from "chai";
import { resourceUrl } from "../../gateway/http/paid.js";
import { loadConfig } from "../../gateway/config/index.js";

describe("challenge resource URLs", () => {
  const request = { protocol: "http", host: "attacker.example", path: "/v1/weather" };

  it("come from the configured public URL, whatever Host the client sent", () => {
    expect(resourceUrl(request, "https://api.payperagent.example")).to.equal("https://api.payperagent.example/v1/weather");
    expect(resourceUrl(request, "https://api.payperagent.example/base/")).to.equal("https://api.payperagent.example/base/v1/weather");
  });

  it("fall back to the request's own URL when no public URL is configured (local development)", () => {
    expect(resourceUrl(request)).to.equal("http://attacker.example/v1/weather");
  });

  it("PUBLIC_URL is validated as an http(s) URL", () => {
    const env = {
      RPC_URL: "http://127.0.0.1:8545",
      CHAIN_ID: "324705682",
      DEPLOYMENTS_FILE: "deployments/localhost.json",
      PAY_TO: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
      SIGNER_PRIVATE_KEY: `0x${"11".repeat(32)}`,
    };
    expect(loadConfig({ ...env, PUBLIC_URL: "https://api.payperagent.example" }).publicUrl).to.equal("https://api.payperagent.example");
    expect(() => loadConfig({ ...env, PUBLIC_URL: "ftp://files.example" })).to.throw();
  });
});
