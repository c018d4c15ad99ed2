/**
 * The catalogue over HTTP (createApp + mountCatalog) with a payment flow that records every call:
 * what is refused before payment (bad input, disabled route, open breaker, disallowed batch
 * paths) never reaches acceptPayment; upstream failures and rejections are released, never
 * completed; batches are priced from exactly their calls with the volume discount; and a route
 * defined only in configuration is served like a built-in one.
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { expect } from "chai";
import { ConfigError } from "../../gateway/config/index.js";
import { type Catalog, type CatalogConfigInput, batchPrice, createCatalog, parseCatalogConfig } from "../../gateway/catalog/index.js";
import type { Database } from "../../gateway/db/index.js";
import { createApp } from "../../gateway/http/index.js";
import { mountCatalog } from "../../gateway/http/catalog-routes.js";
import { silentLogger } from "../../gateway/log.js";
import type { PaidRoute, PaymentFlow, ReservedPayment } from "../../gateway/payments/index.js";
import { type NanoUsd, formatUsd, nanoUsd, parseUsd } from "../../gateway/pricing/index.js";
import { type FakeUpstream, startFakeUpstream } from "../../gateway/upstreams/fake-server.js";
import { TEST_ENV, fakeCatalogConfig } from "./helpers.js";

function recordingFlow() {
  const calls = { quoted: [] as PaidRoute[], accepted: 0, completed: 0, released: [] as string[] };
  const flow: PaymentFlow = {
    quote: async (route) => {
      calls.quoted.push(route);
      return [];
    },
    challenge: () => ({ v1Body: { x402Version: 1, accepts: [] }, v2Header: "challenge" }),
    acceptPayment: async (_headers, offers, fingerprint) => {
      calls.accepted += 1;
      const reserved = { id: String(calls.accepted), version: 1, offer: offers[0], fingerprint, payment: { payer: "0x00000000000000000000000000000000000000a1", scheme: "exact", amount: 1n } };
      return { kind: "reserved", reserved: reserved as unknown as ReservedPayment };
    },
    completePayment: async (_reserved, respond) => {
      calls.completed += 1;
      return respond({ version: 1, value: "charged", success: true });
    },
    releasePayment: async (_reserved, reason) => {
      calls.released.push(reason);
      return { version: 1, value: "released", success: false };
    },
    earlierOutcome: async () => undefined,
  };
  return { flow, calls };
}

const stubDb = { kind: "pglite", query: async () => ({ rows: [], rowCount: 0 }), exec: async () => undefined, transaction: async () => undefined, close: async () => undefined } as unknown as Database;

describe("catalogue over HTTP", function () {
  this.timeout(30_000);
  let fake: FakeUpstream;
  let server: Server;
  let base: string;
  let catalog: Catalog;
  let recorder: ReturnType<typeof recordingFlow>;

  const operatorRoutes: CatalogConfigInput["routes"] = [
    {
      id: "wiki-extract",
      path: "/api/custom/wiki-extract",
      upstream: "wikipedia",
      description: "Just the extract of a Wikipedia page",
      priceUsd: "0.0003",
      cacheTtlMs: 60_000,
      params: { title: { type: "string", required: true, maxLength: 100 } },
      request: { path: "/api/rest_v1/page/summary/{title}" },
      response: { pick: ["title", "extract"] },
    },
    {
      id: "markets-post",
      method: "POST",
      path: "/api/custom/markets",
      upstream: "coingecko",
      description: "Markets, with a JSON body",
      priceUsd: "0.0004",
      params: { vs: { type: "string", default: "usd", enum: ["usd"] }, top: { type: "integer", minimum: 1, maximum: 3, required: true } },
      request: { method: "GET", path: "/api/v3/coins/markets", query: { vs_currency: "{vs}", per_page: "{top}", order: "market_cap_desc" } },
    },
    {
      id: "needs-key",
      path: "/api/custom/needs-key",
      upstream: "keyed",
      description: "An operator upstream whose key is not set",
      priceUsd: "0.01",
      params: {},
      request: { path: "/anything" },
    },
  ];

  before(async () => {
    fake = await startFakeUpstream();
    const config = parseCatalogConfig(
      fakeCatalogConfig(fake, {
        upstreams: {
          openweather: { breaker: { failures: 5, windowMs: 60_000, openMs: 60_000 } },
          keyed: { baseUrl: `${fake.url}/keyed`, auth: { env: "KEYED_API_KEY", in: "query", name: "key" } },
        },
        routes: operatorRoutes,
      }),
    );
    catalog = createCatalog(config, { env: { ...TEST_ENV, NEWSAPI_API_KEY: undefined } });
    recorder = recordingFlow();
    const app = createApp({
      logger: silentLogger(),
      db: stubDb,
      publicClient: { getBlockNumber: async () => 1n },
      flow: recorder.flow,
      routes: (router, helpers) => mountCatalog(router, catalog, helpers),
    });
    server = app.listen(0, "127.0.0.1");
    await new Promise<void>((resolve) => server.once("listening", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await fake.close();
  });
  beforeEach(async () => {
    fake.clear();
    recorder.calls.quoted.length = 0;
    recorder.calls.accepted = 0;
    recorder.calls.completed = 0;
    recorder.calls.released.length = 0;
    await catalog.cache.clear();
    for (const name of catalog.breakers.upstreams) catalog.breakers.resetBreaker(name);
  });

  const paid = (path: string, init: RequestInit = {}) => fetch(`${base}${path}`, { ...init, headers: { "X-PAYMENT": "signed", ...(init.headers as Record<string, string>) } });
  const postJson = (path: string, body: unknown, pay = true) =>
    fetch(`${base}${path}`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json", ...(pay ? { "X-PAYMENT": "signed" } : {}) } });

  it("GET /api/catalog lists every route with its price, state and input schema, free", async () => {
    const res = await fetch(`${base}/api/catalog`);
    expect(res.status).to.equal(200);
    const body = (await res.json()) as { routes: Record<string, any>[]; batch: Record<string, unknown> };
    const weather = body.routes.find((r) => r.id === "weather")!;
    expect(weather).to.deep.include({ method: "GET", path: "/api/weather", priceUsd: "0.001", enabled: true, cacheTtlSeconds: 600, breaker: "closed", source: "OpenWeather" });
    expect(weather.input).to.deep.include({ type: "object", required: ["city"], additionalProperties: false });
    expect(weather.input.properties.units).to.deep.include({ type: "string", enum: ["metric", "imperial", "standard"], default: "metric" });
    expect(body.routes.find((r) => r.id === "news")).to.deep.include({ enabled: false, disabledReason: "NEWSAPI_API_KEY is not set" });
    expect(body.routes.find((r) => r.id === "wiki-extract")).to.deep.include({ path: "/api/custom/wiki-extract", priceUsd: "0.0003", enabled: true });
    expect(body.routes.find((r) => r.id === "needs-key")).to.deep.include({ enabled: false, disabledReason: "KEYED_API_KEY is not set" });
    expect(body.batch).to.deep.include({ path: "/api/batch", maxCalls: 100 });
    expect(recorder.calls.quoted).to.have.length(0);
  });

  it("serves a paid call: charged once, normalized data in the envelope, cached next time", async () => {
    const first = await paid("/api/weather?city=London");
    expect(first.status).to.equal(200);
    expect(first.headers.get("x-cache")).to.equal("MISS");
    expect(first.headers.get("x-payment-response")).to.equal("charged");
    const body = (await first.json()) as Record<string, any>;
    expect(body).to.deep.include({ success: true, route: "weather", source: "OpenWeather", priceUsd: "0.001", cache: "miss" });
    expect(body.data).to.deep.include({ location: "London", country: "GB", demo: true });
    expect(recorder.calls.quoted[0]!.priceUsd).to.equal(parseUsd("0.001"));
    const second = await paid("/api/weather?units=metric&city=London");
    expect(second.headers.get("x-cache")).to.equal("HIT");
    expect(recorder.calls).to.deep.include({ accepted: 2, completed: 2 });
    expect(fake.count("openweather")).to.equal(1);
  });

  it("without a payment: 402 with the route's price quoted", async () => {
    const res = await fetch(`${base}/api/crypto/price?ids=bitcoin`);
    expect(res.status).to.equal(402);
    expect(recorder.calls.quoted.map((r) => r.priceUsd)).to.deep.equal([parseUsd("0.0005")]);
    expect(recorder.calls.accepted).to.equal(0);
    expect(fake.count("coingecko")).to.equal(0);
  });

  it("bad input: 400 invalid_request with errors per field, before any payment", async () => {
    const res = await paid("/api/weather?units=kelvin&extra=1");
    expect(res.status).to.equal(400);
    const body = (await res.json()) as { error: string; details: { fields: Record<string, string[]> } };
    expect(body.error).to.equal("invalid_request");
    expect(Object.keys(body.details.fields).sort()).to.deep.equal(["", "city", "units"]);
    expect(await (await paid("/api/weather?city=London&city=Paris")).status).to.equal(400);
    expect(recorder.calls.quoted).to.have.length(0);
    expect(recorder.calls.accepted).to.equal(0);
  });

  it("a disabled route answers 503 route_disabled and charges nothing", async () => {
    const res = await paid("/api/news?q=agents");
    expect(res.status).to.equal(503);
    expect(await res.json()).to.deep.equal({ error: "route_disabled", message: "/api/news is disabled: NEWSAPI_API_KEY is not set" });
    expect(recorder.calls.quoted).to.have.length(0);
    expect(recorder.calls.accepted).to.equal(0);
  });

  it("an open breaker answers 503 upstream_unavailable with Retry-After before payment, unless the answer is cached", async () => {
    expect((await paid("/api/weather?city=Tokyo")).status).to.equal(200);
    fake.fail("openweather", { kind: "status", status: 500 });
    for (let i = 0; i < 5; i++) {
      const res = await paid("/api/weather?city=London");
      expect(res.status).to.equal(502);
      expect(((await res.json()) as { error: string }).error).to.equal("upstream_failed");
      expect(res.headers.get("x-payment-response")).to.equal("released");
    }
    expect(recorder.calls.released).to.have.length(5);
    expect(recorder.calls.completed).to.equal(1);
    const accepted = recorder.calls.accepted;

    const refused = await paid("/api/weather?city=London");
    expect(refused.status).to.equal(503);
    expect(refused.headers.get("retry-after")).to.equal("60");
    expect(((await refused.json()) as { error: string }).error).to.equal("upstream_unavailable");
    expect(recorder.calls.accepted).to.equal(accepted);
    expect(fake.count("openweather")).to.equal(6);

    // Tokyo is still fresh in the cache: no upstream needed, so it is sold.
    const cached = await paid("/api/weather?city=Tokyo");
    expect(cached.status).to.equal(200);
    expect(cached.headers.get("x-cache")).to.equal("HIT");
    const catalogBody = (await (await fetch(`${base}/api/catalog`)).json()) as { routes: { id: string; breaker: string }[] };
    expect(catalogBody.routes.find((r) => r.id === "weather")!.breaker).to.equal("open");
  });

  it("an upstream rejection is relayed with its status and released, not charged", async () => {
    const res = await paid("/api/weather?city=Atlantis");
    expect(res.status).to.equal(404);
    expect(((await res.json()) as { error: string }).error).to.equal("upstream_rejected");
    expect(res.headers.get("x-payment-response")).to.equal("released");
    expect(recorder.calls).to.deep.include({ accepted: 1, completed: 0 });
  });

  it("a route defined only in configuration: template, pick, demo label, POST body validation", async () => {
    const res = await paid("/api/custom/wiki-extract?title=Alan_Turing");
    expect(res.status).to.equal(200);
    const body = (await res.json()) as { data: Record<string, unknown>; priceUsd: string };
    expect(body.priceUsd).to.equal("0.0003");
    expect(body.data).to.deep.equal({
      title: "Alan Turing",
      extract: "Alan Mathison Turing was an English mathematician, computer scientist, logician, cryptanalyst, philosopher and theoretical biologist. He was highly influential in the development of theoretical computer science.",
      demo: true,
      notice: "Demo data from the local fake upstream; not live data.",
    });
    expect(fake.requests[0]!.path).to.equal("/api/rest_v1/page/summary/Alan_Turing");
    expect((await paid("/api/custom/wiki-extract?title=..")).status).to.equal(400);

    const post = await postJson("/api/custom/markets", { top: 2 });
    expect(post.status).to.equal(200);
    const markets = (await post.json()) as { data: { result: { id: string }[] } };
    expect(markets.data.result.map((c) => c.id)).to.deep.equal(["bitcoin", "ethereum"]);
    expect(fake.requests.at(-1)!.query).to.deep.equal({ vs_currency: "usd", per_page: "2", order: "market_cap_desc" });
    expect((await postJson("/api/custom/markets", { top: 9 })).status).to.equal(400);
    expect((await paid("/api/custom/needs-key")).status).to.equal(503);
  });

  it("configuration mistakes are reported at start-up, all at once", () => {
    const bad = () =>
      createCatalog(
        parseCatalogConfig({
          upstreams: { mine: { baseUrl: "http://127.0.0.1:9" } },
          routes: [
            { id: "a", path: "/api/weather", upstream: "mine", description: "clash", priceUsd: "0.1", params: {}, request: { path: "/x/{id}" } },
            { id: "b", path: "/api/b", upstream: "nowhere", description: "b", priceUsd: "0.1", params: {}, request: { path: "/" } },
          ],
        }),
        { env: {} },
      );
    expect(bad).to.throw(ConfigError).with.property("problems").that.has.members([
      "routes[0] (a): request.path uses {id}, which is not a declared parameter",
      "routes[1] (b): unknown upstream nowhere",
      "path /api/weather (route a) is reserved or used twice",
    ]);
    expect(() => parseCatalogConfig({ routes: [{ id: "c", path: "/api/c", upstream: "x", description: "c", priceUsd: "0.0000000001", params: {}, request: { path: "/" } }] })).to.throw(ConfigError, /more than 9 decimal places/);
  });

  describe("batch", () => {
    it("prices exactly the calls made with the volume discount, and serves them in one payment", async () => {
      const calls = [
        { path: "/api/weather", params: { city: "London" } },
        { path: "/api/weather", params: { city: "Tokyo" } },
        { path: "/api/crypto/price", params: { ids: ["bitcoin"] } },
        { path: "/api/wikipedia/page", params: { title: "London" } },
        { path: "/api/custom/wiki-extract", params: { title: "Alan_Turing" } },
      ];
      const unpaid = await postJson("/api/batch", calls, false);
      expect(unpaid.status).to.equal(402);
      const list = parseUsd("0.001") * 2n + parseUsd("0.0005") * 2n + parseUsd("0.0003");
      expect(recorder.calls.quoted[0]!.priceUsd).to.equal(list - list / 10n);
      expect(fake.requests).to.have.length(0);

      const res = await postJson("/api/batch", { calls });
      expect(res.status).to.equal(200);
      const body = (await res.json()) as { count: number; pricing: Record<string, unknown>; results: { index: number; route: string; data: Record<string, unknown> }[] };
      expect(body.count).to.equal(5);
      expect(body.pricing).to.deep.equal({ listUsd: "0.0033", discountPercent: 10, priceUsd: "0.00297" });
      expect(body.results.map((r) => r.route)).to.deep.equal(["weather", "weather", "crypto-price", "wikipedia-page", "wiki-extract"]);
      expect(body.results[1]!.data).to.deep.include({ location: "Tokyo" });
      expect(recorder.calls).to.deep.include({ accepted: 1, completed: 1 });
    });

    it("refuses paths outside the catalogue before payment: no loopback, no arbitrary URL", async () => {
      for (const path of ["/api/batch", "/api/catalog", "/health", "http://169.254.169.254/latest/meta-data", "/api/weather/../catalog"]) {
        const res = await postJson("/api/batch", [{ path: "/api/weather", params: { city: "London" } }, { path, params: {} }]);
        expect(res.status, path).to.equal(400);
        expect(((await res.json()) as { error: string }).error).to.equal("batch_path_not_allowed");
      }
      expect(recorder.calls.quoted).to.have.length(0);
      expect(recorder.calls.accepted).to.equal(0);
      expect(fake.requests).to.have.length(0);
    });

    it("refuses invalid calls per field, empty and oversized batches, before payment", async () => {
      const res = await postJson("/api/batch", [{ path: "/api/weather", params: { city: "London" } }, { path: "/api/weather", params: { units: "x" } }]);
      expect(res.status).to.equal(400);
      const body = (await res.json()) as { error: string; details: { fields: Record<string, string[]> } };
      expect(Object.keys(body.details.fields).sort()).to.deep.equal(["calls.1.params.city", "calls.1.params.units"]);
      expect((await postJson("/api/batch", [])).status).to.equal(400);
      const tooMany = Array.from({ length: 101 }, () => ({ path: "/api/weather", params: { city: "London" } }));
      expect((await postJson("/api/batch", tooMany)).status).to.equal(400);
      expect((await postJson("/api/batch", [{ path: "/api/news", params: { q: "x" } }])).status).to.equal(503);
      expect(recorder.calls.accepted).to.equal(0);
    });

    it("is all or nothing: a failed call releases the whole payment", async () => {
      fake.fail("coingecko", { kind: "status", status: 500, times: 1 });
      const res = await postJson("/api/batch", [
        { path: "/api/weather", params: { city: "London" } },
        { path: "/api/crypto/price", params: { ids: "bitcoin" } },
      ]);
      expect(res.status).to.equal(502);
      expect(res.headers.get("x-payment-response")).to.equal("released");
      expect(recorder.calls).to.deep.include({ accepted: 1, completed: 0 });

      const rejected = await postJson("/api/batch", [
        { path: "/api/weather", params: { city: "London" } },
        { path: "/api/weather", params: { city: "Atlantis" } },
      ]);
      expect(rejected.status).to.equal(422);
      const body = (await rejected.json()) as { error: string; failures: { index: number; status: number }[] };
      expect(body.error).to.equal("batch_call_rejected");
      expect(body.failures).to.deep.equal([{ index: 1, path: "/api/weather", rejected: true, status: 404, message: "openweather answered 404: city not found" }]);
      expect(recorder.calls).to.deep.include({ accepted: 2, completed: 0 });
      expect(recorder.calls.released).to.have.length(2);
    });

    it("volume discount tiers and rounding (the discount rounds down, so the price rounds up)", () => {
      const routes = (n: number, price: NanoUsd) => Array.from({ length: n }, () => ({ priceUsd: price }));
      const p = parseUsd("0.001");
      expect(batchPrice(routes(4, p))).to.deep.equal({ listUsd: 4n * p, discountBps: 0, priceUsd: 4n * p });
      expect(batchPrice(routes(5, p)).priceUsd).to.equal(nanoUsd(4_500_000n));
      expect(batchPrice(routes(9, p)).discountBps).to.equal(1_000);
      expect(batchPrice(routes(10, p)).priceUsd).to.equal(nanoUsd(8_000_000n));
      expect(batchPrice(routes(19, p)).discountBps).to.equal(2_000);
      expect(batchPrice(routes(20, p)).priceUsd).to.equal(nanoUsd(14_000_000n));
      expect(batchPrice(routes(100, p)).discountBps).to.equal(3_000);
      // 5 × 3 nano-USD = 15; 10 % of 15 is 1.5, rounded down to 1: the batch costs 14 nano-USD.
      expect(formatUsd(batchPrice(routes(5, nanoUsd(3n))).priceUsd)).to.equal("0.000000014");
    });
  });
});
