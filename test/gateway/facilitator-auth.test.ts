/**
 * Who may call the facilitator: bearer tokens compared in constant time, loopback-only when no
 * token is configured, and `open` only by explicit choice. The facilitator behind the router is a
 * stand-in that records calls: what is under test is whether a request gets through at all.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import Koa from "koa";
import { expect } from "chai";
import { type Facilitator, MIN_TOKEN_LENGTH, bearerTokenCheck } from "../../gateway/facilitator/index.js";
import { facilitatorRouter, isLoopback } from "../../gateway/http/facilitator.js";
import { errorHandler, requestId } from "../../gateway/http/middleware.js";
import { silentLogger } from "../../gateway/log.js";

const TOKEN = "s3cret-facilitator-token-1";
const OTHER = "another-facilitator-token-2";
const PAYER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

function recordingFacilitator(): Facilitator & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    supported: () => ({ kinds: [{ x402Version: 2, scheme: "exact", network: "eip155:324705682" }], extensions: [], signers: {} }),
    verify: async () => {
      calls.push("verify");
      return { body: { isValid: true, payer: PAYER } };
    },
    settle: async () => {
      calls.push("settle");
      return { body: { success: true, transaction: `0x${"ab".repeat(32)}`, network: "eip155:324705682", payer: PAYER } };
    },
  };
}

async function serve(options: Omit<Parameters<typeof facilitatorRouter>[0], "facilitator">, host = "127.0.0.1") {
  const facilitator = recordingFacilitator();
  const app = new Koa();
  app.silent = true;
  app.use(requestId(silentLogger()));
  app.use(errorHandler());
  app.use(facilitatorRouter({ facilitator, ...options }).routes());
  const server: Server = app.listen(0, host);
  await new Promise<void>((resolve) => server.once("listening", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    facilitator,
    url: (address = host) => `http://${address.includes(":") ? `[${address}]` : address}:${port}/facilitator`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const post = (url: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: "{}" });

/** A non-loopback IPv4 address of this machine, if it has one. */
function externalAddress(): string | undefined {
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) if (entry.family === "IPv4" && !entry.internal) return entry.address;
  }
  return undefined;
}

describe("facilitator bearer tokens", () => {
  const check = bearerTokenCheck([TOKEN, OTHER]);

  it("accepts each configured token, in any case of the scheme name", () => {
    expect(check(`Bearer ${TOKEN}`)).to.equal(true);
    expect(check(`bearer ${OTHER}`)).to.equal(true);
  });

  it("refuses a missing, wrong, truncated or extended token", () => {
    for (const header of [undefined, "", TOKEN, `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, "Bearer "]) {
      expect(check(header), String(header)).to.equal(false);
    }
  });

  it("refuses to be configured with no token or a guessable one", () => {
    expect(() => bearerTokenCheck([])).to.throw(RangeError);
    expect(() => bearerTokenCheck(["x".repeat(MIN_TOKEN_LENGTH - 1)])).to.throw(RangeError, /at least 16/);
    expect(() => bearerTokenCheck(["has a space in it!!"])).to.throw(RangeError);
  });
});

describe("facilitator access over HTTP", function () {
  this.timeout(20_000);

  it("answers 401 unauthorized with a challenge when the token is missing or wrong, and lets the right one through", async () => {
    const gateway = await serve({ tokens: [TOKEN] });
    try {
      for (const path of ["verify", "settle"]) {
        for (const headers of [{}, { authorization: `Bearer ${OTHER}` }] as Record<string, string>[]) {
          const res = await post(`${gateway.url()}/${path}`, headers);
          expect(res.status).to.equal(401);
          expect(res.headers.get("www-authenticate")).to.match(/^Bearer /);
          expect(((await res.json()) as { error: string }).error).to.equal("unauthorized");
        }
        const ok = await post(`${gateway.url()}/${path}`, { authorization: `Bearer ${TOKEN}` });
        expect(ok.status).to.equal(200);
      }
      expect(gateway.facilitator.calls).to.deep.equal(["verify", "settle"]);
      // Discovery stays public.
      expect((await fetch(`${gateway.url()}/supported`)).status).to.equal(200);
    } finally {
      await gateway.close();
    }
  });

  it("without tokens serves loopback callers only", async function () {
    const external = externalAddress();
    if (external === undefined) this.skip();
    const gateway = await serve({}, "0.0.0.0");
    try {
      expect((await post(`${gateway.url("127.0.0.1")}/verify`)).status).to.equal(200);
      const remote = await post(`${gateway.url(external)}/settle`);
      expect(remote.status).to.equal(401);
      expect(((await remote.json()) as { error: string; message: string }).message).to.match(/local callers/);
      expect(gateway.facilitator.calls).to.deep.equal(["verify"]);
    } finally {
      await gateway.close();
    }
  });

  it("serves anyone without tokens only when opened explicitly", async function () {
    const external = externalAddress();
    if (external === undefined) this.skip();
    const gateway = await serve({ unauthenticated: "open" }, "0.0.0.0");
    try {
      expect((await post(`${gateway.url(external)}/settle`)).status).to.equal(200);
    } finally {
      await gateway.close();
    }
  });

  it("recognises loopback peers in every spelling and nothing else", () => {
    for (const address of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]) expect(isLoopback(address), address).to.equal(true);
    for (const address of [undefined, "10.0.0.1", "::ffff:10.0.0.1", "fd00::2", "1127.0.0.1", "::2"]) {
      expect(isLoopback(address), String(address)).to.equal(false);
    }
  });
});
