/**
 * /metrics, /stats, /stats/settlements, the admin endpoints, /openapi.json and the discovery list,
 * served by a gateway-shaped app on loopback.
 */
import { expect } from "chai";
import { z } from "zod";
import type { Queryable } from "../../gateway/db/index.js";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { MIN_ADMIN_TOKEN_LENGTH, requireAdmin } from "../../gateway/http/ops-routes.js";
import {
  type CatalogueDescription,
  buildOpenApi,
  computeStats,
  createMetrics,
  paymentsBacklog,
} from "../../gateway/observability/index.js";
import { parseUsd } from "../../gateway/pricing/index.js";
import type { Offer } from "../../gateway/schemes/types.js";
import { type TestApp, startTestApp, txHash, wallet } from "./helpers.js";

after(closeTestBackends);

const TOKEN_A = "0x00000000000000000000000000000000000000aa";
const TOKEN_B = "0x00000000000000000000000000000000000000bb";
const CHAIN_ID = 324705682;
const tokenInfo = (address: string) =>
  address === TOKEN_A ? { symbol: "USDC", decimals: 6 } : address === TOKEN_B ? { symbol: "WETH", decimals: 18 } : undefined;

/** percentile_cont's definition, independently: linear interpolation at (n - 1) · p. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * p;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return (sorted[low] as number) + ((sorted[high] as number) - (sorted[low] as number)) * (position - low);
}

interface Seed {
  at: Date;
  status: number;
  ms: number;
  wallet?: string;
  token?: string;
  amount?: bigint;
  endpoint?: string;
}

async function seedRequests(db: Queryable, rows: readonly Seed[]): Promise<void> {
  for (const row of rows) {
    await db.query(
      `INSERT INTO api_requests (requested_at, method, endpoint, status, success, response_time_ms, wallet, scheme, token, amount)
       VALUES ($1, 'GET', $2, $3, $4, $5, $6, $7, $8, $9)`,
      [row.at, row.endpoint ?? "/api/weather", row.status, row.status < 400, row.ms, row.wallet ?? null, row.wallet === undefined ? null : "exact", row.token ?? null, row.amount ?? null],
    );
  }
}

async function seedPayment(db: Queryable, n: number, state: string, updatedAt: Date, amount: bigint, token = TOKEN_A): Promise<void> {
  await db.query(
    `INSERT INTO payments (payment_key, scheme, network, chain_id, token, payer, payee, amount, request_fingerprint, state, tx_hash, payload, created_at, updated_at)
     VALUES ($1, 'exact', $2, $3, $4, $5, $6, $7, 'fp', $8, $9, $10, $11, $11)`,
    [`exact:${CHAIN_ID}:${n}`, `eip155:${CHAIN_ID}`, CHAIN_ID, token, wallet(100 + n), wallet(999), amount, state, state === "confirmed" ? txHash(n) : null, { n }, updatedAt],
  );
}

const catalogue: CatalogueDescription[] = [
  {
    method: "GET",
    path: "/api/weather",
    description: "Current weather for a city",
    priceUsd: parseUsd("0.001"),
    input: z.strictObject({ city: z.string().min(1).describe("City name"), units: z.enum(["metric", "imperial"]).default("metric") }),
    tags: ["weather"],
  },
  {
    method: "GET",
    path: "/api/wikipedia/page/:title",
    description: "A Wikipedia page",
    priceUsd: "0.002",
    input: z.object({ title: z.string().min(1), lang: z.string().length(2).optional() }),
  },
  { method: "POST", path: "/api/batch", description: "Several calls, one payment", priceUsd: "0.01", input: z.object({ calls: z.array(z.object({ path: z.string() })).max(100) }) },
  { method: "GET", path: "/api/news", description: "Headlines", priceUsd: "0.005", enabled: false, disabledReason: "NEWSAPI_KEY is not set" },
];

for (const backend of testBackends()) {
  describe(`observability and operations [${backend.name}]`, function () {
    this.timeout(60_000);
    let db: TestDatabase;
    let app: TestApp | undefined;

    beforeEach(async () => {
      db = await backend.fresh();
    });
    afterEach(async () => {
      await app?.close();
      app = undefined;
      await db.close();
    });

    describe("/metrics", () => {
      it("exposes request latency per route, payments, settlement lag and breaker states", async () => {
        const metrics = createMetrics({
          processMetrics: false,
          backlog: async () => ({ pending: 3, oldestAgeSeconds: 42 }),
          breakerStates: () => ({ weather: "open", news: "closed" }),
          analytics: { pending: 2, dropped: 1 },
        });
        app = await startTestApp({ db, metrics });
        await fetch(`${app.base}/api/thing`);
        await fetch(`${app.base}/api/thing`, { headers: { "x-test-payer": wallet(1), "x-test-token": TOKEN_A } });
        await fetch(`${app.base}/api/thing`, { headers: { "x-test-payer": wallet(1), "x-test-charged": "false", "x-test-status": "402" } });
        await fetch(`${app.base}/no/such/route`);
        const response = await fetch(`${app.base}/metrics`);
        expect(response.headers.get("content-type")).to.match(/^text\/plain; version=0\.0\.4/);
        const text = await response.text();
        expect(text).to.include('gateway_http_request_duration_seconds_count{method="GET",route="/api/thing",status="200"} 2');
        expect(text).to.include('gateway_http_request_duration_seconds_count{method="GET",route="/api/thing",status="402"} 1');
        expect(text).to.include('gateway_http_request_duration_seconds_count{method="GET",route="(unmatched)",status="404"} 1');
        expect(text).to.match(/gateway_http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/api\/thing",status="200"\} \d/);
        // Only the charged payment counts.
        expect(text).to.include(`gateway_payments_total{token="${TOKEN_A}",scheme="exact"} 1`);
        expect(text).to.include("gateway_settlement_backlog_payments 3");
        expect(text).to.include("gateway_settlement_lag_seconds 42");
        expect(text).to.include('gateway_breaker_state{breaker="weather",state="open"} 1');
        expect(text).to.include('gateway_breaker_state{breaker="weather",state="closed"} 0');
        expect(text).to.include('gateway_breaker_state{breaker="news",state="closed"} 1');
        expect(text).to.include("gateway_analytics_queue_records 2");
        expect(text).to.include("gateway_analytics_dropped_records 1");
      });

      it("reports an unreadable backlog as NaN rather than failing the scrape", async () => {
        const metrics = createMetrics({ processMetrics: false, backlog: () => Promise.reject(new Error("db down")) });
        const { body } = await metrics.render();
        // prom-client spells it "Nan"; Prometheus parses NaN case-insensitively.
        expect(body).to.match(/^gateway_settlement_lag_seconds nan$/im);
        expect(body).to.match(/^gateway_settlement_backlog_payments nan$/im);
      });

      it("counts mined settlement batches by status and the entries the escrow skipped, from zero", async () => {
        const metrics = createMetrics({ processMetrics: false });
        let { body } = await metrics.render();
        expect(body).to.match(/^gateway_settlement_batches_total\{status="success"\} 0$/m);
        expect(body).to.match(/^gateway_settlement_batches_total\{status="reverted"\} 0$/m);
        expect(body).to.match(/^gateway_settlement_skipped_payments_total 0$/m);
        metrics.countMinedBatch({ status: "success", skipped: 2 });
        metrics.countMinedBatch({ status: "success", skipped: 0 });
        metrics.countMinedBatch({ status: "reverted", skipped: 0 });
        ({ body } = await metrics.render());
        expect(body).to.match(/^gateway_settlement_batches_total\{status="success"\} 2$/m);
        expect(body).to.match(/^gateway_settlement_batches_total\{status="reverted"\} 1$/m);
        expect(body).to.match(/^gateway_settlement_skipped_payments_total 2$/m);
      });

      it("keeps every app's series in its own registry", async () => {
        const a = createMetrics({ processMetrics: false });
        const b = createMetrics({ processMetrics: false });
        a.countPayment({ token: TOKEN_A, scheme: "exact" });
        expect((await a.render()).body).to.include(`gateway_payments_total{token="${TOKEN_A}",scheme="exact"} 1`);
        expect((await b.render()).body).to.not.include(`token="${TOKEN_A}"`);
        const withProcess = createMetrics();
        expect((await withProcess.render()).body).to.include("gateway_process_cpu_user_seconds_total");
      });

      it("computes the default backlog from the ledger", async () => {
        expect(await paymentsBacklog(db)).to.deep.equal({ pending: 0, oldestAgeSeconds: 0 });
        await seedPayment(db, 1, "verified", new Date(Date.now() - 90_000), 5n);
        await seedPayment(db, 2, "confirmed", new Date(Date.now() - 500_000), 5n);
        const backlog = await paymentsBacklog(db);
        expect(backlog.pending).to.equal(1);
        expect(backlog.oldestAgeSeconds).to.be.within(89, 120);
      });
    });

    describe("/stats", () => {
      const until = new Date("2026-03-01T12:00:00Z");
      const ago = (seconds: number) => new Date(until.getTime() - seconds * 1000);

      it("computes percentiles, error rate, revenue and top agents over the window", async () => {
        const served = Array.from({ length: 100 }, (_, i) => i + 1);
        const seeds: Seed[] = [
          ...served.map((ms, i) => ({ at: ago(60 + i * 30), status: 200, ms })),
          // 402 challenges: excluded from the percentiles.
          ...Array.from({ length: 10 }, (_, i) => ({ at: ago(100 + i), status: 402, ms: 5_000 })),
          // Upstream failures.
          ...Array.from({ length: 5 }, (_, i) => ({ at: ago(200 + i), status: 502, ms: 250 })),
          { at: ago(300), status: 400, ms: 3 },
          // Paid calls: three by wallet 1 (USDC, WETH), one by wallet 2.
          { at: ago(400), status: 200, ms: 10, wallet: wallet(1), token: TOKEN_A, amount: 1_000n },
          { at: ago(401), status: 200, ms: 10, wallet: wallet(1), token: TOKEN_A, amount: 2_500n },
          { at: ago(402), status: 200, ms: 10, wallet: wallet(1), token: TOKEN_B, amount: 10n ** 24n + 1n },
          { at: ago(403), status: 200, ms: 10, wallet: wallet(2), token: TOKEN_A, amount: 7n },
          // Outside the window: ignored entirely.
          { at: ago(3_600 + 1), status: 500, ms: 99_999, wallet: wallet(3), token: TOKEN_A, amount: 123n },
        ];
        await seedRequests(db, seeds);
        await db.query("INSERT INTO agent_reputation (wallet, total_requests, successful_requests, tier, discount_bps) VALUES ($1, 100, 100, 'silver', 500)", [wallet(1)]);

        const stats = await computeStats(db, { windowSeconds: 3_600, until, tokenInfo });
        const latencies = [...served, ...Array<number>(5).fill(250), 3, 10, 10, 10, 10];
        expect(stats.requests).to.deep.equal({ total: 120, ok: 104, paymentRequired: 10, clientErrors: 1, serverErrors: 5, errorRate: 5 / 120 });
        expect(stats.latencyMs.p50).to.be.closeTo(percentile(latencies, 0.5), 0.01);
        expect(stats.latencyMs.p95).to.be.closeTo(percentile(latencies, 0.95), 0.01);
        expect(stats.latencyMs.p99).to.be.closeTo(percentile(latencies, 0.99), 0.01);
        expect(stats.revenue).to.deep.equal([
          { token: TOKEN_A, symbol: "USDC", decimals: 6, amount: "3507", payments: 3 },
          { token: TOKEN_B, symbol: "WETH", decimals: 18, amount: "1000000000000000000000001", payments: 1 },
        ]);
        expect(stats.topAgents).to.deep.equal([
          {
            wallet: wallet(1),
            requests: 3,
            successful: 3,
            tier: "silver",
            spent: [
              { token: TOKEN_A, symbol: "USDC", decimals: 6, amount: "3500" },
              { token: TOKEN_B, symbol: "WETH", decimals: 18, amount: "1000000000000000000000001" },
            ],
          },
          { wallet: wallet(2), requests: 1, successful: 1, tier: "bronze", spent: [{ token: TOKEN_A, symbol: "USDC", decimals: 6, amount: "7" }] },
        ]);
        expect(stats.series.bucketSeconds).to.equal(150);
        expect(stats.series.points).to.have.length(24);
        expect(stats.series.points.reduce((sum, p) => sum + p.requests, 0)).to.equal(120);
        expect(stats.series.points.reduce((sum, p) => sum + p.errors, 0)).to.equal(5);
      });

      it("answers an empty window with zeros and nulls", async () => {
        const stats = await computeStats(db, { windowSeconds: 60, until });
        expect(stats.requests.total).to.equal(0);
        expect(stats.requests.errorRate).to.equal(0);
        expect(stats.latencyMs).to.deep.equal({ p50: null, p95: null, p99: null });
        expect(stats.revenue).to.deep.equal([]);
        expect(stats.topAgents).to.deep.equal([]);
      });

      it("serves JSON with breakers and backlog, and refuses a bad window with 400", async () => {
        await seedRequests(db, [{ at: new Date(Date.now() - 5_000), status: 200, ms: 12, wallet: wallet(4), token: TOKEN_A, amount: 10n ** 30n }]);
        app = await startTestApp({ db, ops: { tokenInfo, breakerStates: () => ({ weather: "half-open" }), backlog: async () => ({ pending: 1, oldestAgeSeconds: 5 }) } });
        const response = await fetch(`${app.base}/stats?window=1h`);
        expect(response.status).to.equal(200);
        const body = (await response.json()) as Record<string, unknown> & { revenue: { amount: string }[]; window: { seconds: number } };
        expect(body.window.seconds).to.equal(3_600);
        expect(body.revenue[0]?.amount).to.equal("1000000000000000000000000000000");
        expect(body["breakers"]).to.deep.equal({ weather: "half-open" });
        expect(body["settlement"]).to.deep.equal({ pending: 1, oldestAgeSeconds: 5 });
        for (const bad of ["0", "59", "91d", "1w", "-5", "abc"]) {
          const refused = await fetch(`${app.base}/stats?window=${bad}`);
          expect(refused.status, bad).to.equal(400);
          const error = (await refused.json()) as { error: string; details: { fields: Record<string, string[]> } };
          expect(error.error).to.equal("invalid_request");
          expect(error.details.fields).to.have.property("window");
        }
      });

      it("lists recent settlements, newest first, with their transactions", async () => {
        await seedPayment(db, 1, "confirmed", new Date("2026-03-01T10:00:00Z"), 1_000n);
        await seedPayment(db, 2, "confirmed", new Date("2026-03-01T11:00:00Z"), 2_000n, TOKEN_B);
        await seedPayment(db, 3, "verified", new Date("2026-03-01T11:30:00Z"), 3_000n);
        await seedPayment(db, 4, "confirmed", new Date("2026-03-01T09:00:00Z"), 4_000n);
        app = await startTestApp({ db, ops: { tokenInfo } });
        const body = (await (await fetch(`${app.base}/stats/settlements?limit=2`)).json()) as { settlements: Record<string, unknown>[] };
        expect(body.settlements).to.deep.equal([
          { id: body.settlements[0]?.["id"], scheme: "exact", network: `eip155:${CHAIN_ID}`, token: TOKEN_B, symbol: "WETH", decimals: 18, payer: wallet(102), amount: "2000", txHash: txHash(2), settledAt: "2026-03-01T11:00:00.000Z" },
          { id: body.settlements[1]?.["id"], scheme: "exact", network: `eip155:${CHAIN_ID}`, token: TOKEN_A, symbol: "USDC", decimals: 6, payer: wallet(101), amount: "1000", txHash: txHash(1), settledAt: "2026-03-01T10:00:00.000Z" },
        ]);
        expect((await fetch(`${app.base}/stats/settlements?limit=0`)).status).to.equal(400);
        expect((await fetch(`${app.base}/stats/settlements?limit=abc`)).status).to.equal(400);
      });
    });

    describe("/admin", () => {
      const TOKEN = "a".repeat(24) + "b".repeat(24);
      let calls: string[];
      const admin = () => ({
        clearCache: async () => {
          calls.push("clear");
          return { entries: 3 };
        },
        resetBreaker: (name: string) => {
          calls.push(`reset ${name}`);
          return name === "weather";
        },
        refreshTokens: async () => {
          calls.push("refresh");
          return { tokens: 4 };
        },
      });
      beforeEach(() => {
        calls = [];
      });

      it("is disabled without a configured token", async () => {
        app = await startTestApp({ db, ops: { admin: admin() } });
        const response = await fetch(`${app.base}/admin/cache/clear`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
        expect(response.status).to.equal(403);
        expect(await response.json()).to.deep.include({ error: "admin_disabled" });
        expect(calls).to.deep.equal([]);
      });

      it("asks for credentials (401), refuses wrong ones (403), and acts on the right one", async () => {
        app = await startTestApp({ db, ops: { admin: admin(), adminToken: TOKEN, breakerStates: () => ({ weather: "closed" }) } });
        const post = (path: string, authorization?: string) =>
          fetch(`${app?.base}${path}`, { method: "POST", headers: authorization === undefined ? {} : { authorization } });

        const missing = await post("/admin/cache/clear");
        expect(missing.status).to.equal(401);
        expect(missing.headers.get("www-authenticate")).to.equal('Bearer realm="admin"');
        expect(await missing.json()).to.deep.include({ error: "admin_unauthorized" });
        expect((await post("/admin/cache/clear", TOKEN)).status, "no Bearer scheme").to.equal(401);
        expect((await post("/admin/cache/clear", `Basic ${TOKEN}`)).status).to.equal(401);

        for (const wrong of [`${TOKEN}x`, TOKEN.slice(1), "b".repeat(48), "short"]) {
          const refused = await post("/admin/cache/clear", `Bearer ${wrong}`);
          expect(refused.status, wrong).to.equal(403);
          expect(await refused.json()).to.deep.include({ error: "admin_forbidden" });
        }
        expect(calls).to.deep.equal([]);

        const cleared = await post("/admin/cache/clear", `Bearer ${TOKEN}`);
        expect(cleared.status).to.equal(200);
        expect(await cleared.json()).to.deep.equal({ ok: true, result: { entries: 3 } });
        const reset = await post("/admin/breakers/weather/reset", `bearer ${TOKEN}`);
        expect(await reset.json()).to.deep.equal({ ok: true, breaker: "weather", state: "closed" });
        const unknown = await post("/admin/breakers/nope/reset", `Bearer ${TOKEN}`);
        expect(unknown.status).to.equal(404);
        expect(await unknown.json()).to.deep.include({ error: "not_found" });
        const refreshed = await post("/admin/tokens/refresh", `Bearer ${TOKEN}`);
        expect(await refreshed.json()).to.deep.equal({ ok: true, result: { tokens: 4 } });
        expect(calls).to.deep.equal(["clear", "reset weather", "reset nope", "refresh"]);
        // GET is not an admin action.
        expect((await fetch(`${app.base}/admin/cache/clear`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).to.equal(405);
      });

      it("refuses a guessable admin token at start-up", () => {
        expect(() => requireAdmin("x".repeat(MIN_ADMIN_TOKEN_LENGTH - 1))).to.throw(RangeError, /ADMIN_TOKEN/);
        expect(() => requireAdmin("x".repeat(MIN_ADMIN_TOKEN_LENGTH))).to.not.throw();
      });
    });

    describe("/openapi.json and discovery", () => {
      it("documents every catalogue route with its price, input and the 402", async () => {
        app = await startTestApp({ db, ops: { catalogue: () => catalogue, publicUrl: "https://api.example.com/" } });
        const doc = (await (await fetch(`${app.base}/openapi.json`)).json()) as Record<string, any>;
        expect(doc["openapi"]).to.equal("3.1.0");
        expect(doc["info"]).to.include.keys("title", "version");
        expect(doc["servers"]).to.deep.equal([{ url: "https://api.example.com" }]);
        expect(Object.keys(doc["paths"]).sort()).to.deep.equal(["/api/batch", "/api/news", "/api/weather", "/api/wikipedia/page/{title}"]);

        const weather = doc["paths"]["/api/weather"]["get"];
        expect(weather["x-price-usd"]).to.equal("0.001");
        expect(weather["x-enabled"]).to.equal(true);
        expect(weather["parameters"]).to.deep.equal([
          { name: "city", in: "query", required: true, schema: { type: "string", minLength: 1, description: "City name" }, description: "City name" },
          { name: "units", in: "query", required: false, schema: { type: "string", enum: ["metric", "imperial"], default: "metric" } },
        ]);
        expect(weather["responses"]["402"]).to.deep.equal({ $ref: "#/components/responses/PaymentRequired" });
        expect(Object.keys(weather["responses"])).to.include.members(["200", "400", "402", "429", "502", "503"]);

        const page = doc["paths"]["/api/wikipedia/page/{title}"]["get"];
        expect(page["x-price-usd"]).to.equal("0.002");
        expect(page["parameters"].map((p: { name: string; in: string; required: boolean }) => [p.name, p.in, p.required])).to.deep.equal([
          ["title", "path", true],
          ["lang", "query", false],
        ]);
        const batch = doc["paths"]["/api/batch"]["post"];
        expect(batch["requestBody"]["content"]["application/json"]["schema"]["properties"]).to.have.key("calls");
        expect(doc["paths"]["/api/news"]["get"]["x-enabled"]).to.equal(false);
        expect(doc["paths"]["/api/news"]["get"]["description"]).to.include("NEWSAPI_KEY is not set");

        // Structural checks: unique operationIds, every $ref resolves, every templated path
        // parameter is declared, and no JSON Schema dialect marker is left inside.
        const operations = Object.values(doc["paths"]).flatMap((item: any) => Object.values(item)) as any[];
        const ids = operations.map((o) => o.operationId);
        expect(new Set(ids).size).to.equal(ids.length);
        for (const ref of collect(doc, "$ref")) expect(resolve(doc, ref as string), ref as string).to.not.equal(undefined);
        for (const [path, item] of Object.entries(doc["paths"]) as [string, any][]) {
          for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])) {
            for (const op of Object.values(item) as any[]) {
              expect(op.parameters.some((p: any) => p.in === "path" && p.name === name && p.required === true), `${path} ${name}`).to.equal(true);
            }
          }
        }
        expect(collect(doc, "$schema")).to.deep.equal([]);
        expect(doc["components"]["responses"]["RateLimited"]["headers"]).to.include.keys("Retry-After", "RateLimit-Remaining");
      });

      it("refuses a catalogue price that is not a USD amount", () => {
        expect(() => buildOpenApi([{ method: "GET", path: "/api/x", description: "x", priceUsd: "1e-3" }])).to.throw(/exponent/);
      });

      it("lists the enabled paid resources with today's offers, in the Bazaar list shape", async () => {
        const quoted: string[] = [];
        const quote = async (entry: CatalogueDescription, resource: { url: string }): Promise<Offer[]> => {
          quoted.push(resource.url);
          if (entry.path === "/api/batch") throw new Error("no fresh price");
          return [
            {
              scheme: "exact",
              chainId: CHAIN_ID,
              token: { address: "0x00000000000000000000000000000000000000AA", symbol: "USDC", decimals: 6, collectionMethods: 1, eip712: { name: "USD Coin", version: "2" } },
              amount: 1_000n,
              payTo: "0x0000000000000000000000000000000000000999",
              maxTimeoutSeconds: 300,
              extra: { name: "USD Coin", version: "2" },
              resource: { url: resource.url, description: entry.description, mimeType: "application/json" },
            },
          ];
        };
        app = await startTestApp({ db, ops: { catalogue: () => catalogue, quote, publicUrl: "https://api.example.com" } });
        for (const path of ["/discovery/resources", "/.well-known/x402"]) {
          const list = (await (await fetch(`${app.base}${path}`)).json()) as { x402Version: number; items: any[]; pagination: unknown };
          expect(list.x402Version).to.equal(2);
          expect(list.pagination).to.deep.equal({ limit: 100, offset: 0, total: 3 });
          // The disabled news route is not offered.
          expect(list.items.map((i) => i.resource)).to.deep.equal([
            "https://api.example.com/api/weather",
            "https://api.example.com/api/wikipedia/page/:title",
            "https://api.example.com/api/batch",
          ]);
          const weather = list.items[0];
          expect(weather).to.include({ type: "http", x402Version: 2, description: "Current weather for a city", mimeType: "application/json" });
          expect(weather.accepts).to.deep.equal([
            { scheme: "exact", network: `eip155:${CHAIN_ID}`, amount: "1000", asset: "0x00000000000000000000000000000000000000AA", payTo: "0x0000000000000000000000000000000000000999", maxTimeoutSeconds: 300, extra: { name: "USD Coin", version: "2" } },
          ]);
          expect(weather.metadata).to.deep.include({ method: "GET", priceUsd: "0.001" });
          expect(weather.extensions.bazaar.info.input).to.deep.equal({ type: "http", method: "GET" });
          expect(weather.extensions.bazaar.schema.properties.input.properties.queryParams.required).to.deep.equal(["city"]);
          expect(list.items[1].extensions.bazaar.routeTemplate).to.equal("/api/wikipedia/page/:title");
          // No price right now: listed, with nothing to pay yet.
          expect(list.items[2].accepts).to.deep.equal([]);
          expect(list.items[2].metadata.inputSchema.properties).to.have.key("calls");
        }
        const page = (await (await fetch(`${app.base}/discovery/resources?limit=1&offset=1`)).json()) as { items: { resource: string }[]; pagination: unknown };
        expect(page.items.map((i) => i.resource)).to.deep.equal(["https://api.example.com/api/wikipedia/page/:title"]);
        expect(page.pagination).to.deep.equal({ limit: 1, offset: 1, total: 3 });
        expect(((await (await fetch(`${app.base}/discovery/resources?type=mcp`)).json()) as { items: unknown[] }).items).to.deep.equal([]);
        expect((await fetch(`${app.base}/discovery/resources?limit=100000`)).status).to.equal(400);
        expect((await fetch(`${app.base}/discovery/resources?offset=-1`)).status).to.equal(400);
      });
    });

    describe("/dashboard", () => {
      it("is served same-origin only, with its script and styles", async () => {
        app = await startTestApp({ db });
        const page = await fetch(`${app.base}/dashboard`);
        expect(page.status).to.equal(200);
        expect(page.headers.get("content-type")).to.equal("text/html; charset=utf-8");
        expect(page.headers.get("content-security-policy")).to.include("default-src 'none'").and.include("connect-src 'self'");
        const html = await page.text();
        // Nothing is loaded from anywhere else.
        expect(html).to.not.match(/(src|href)="(https?:)?\/\//);
        for (const [path, type] of [["/dashboard/dashboard.js", "text/javascript"], ["/dashboard/dashboard.css", "text/css"]] as const) {
          const asset = await fetch(`${app.base}${path}`);
          expect(asset.status).to.equal(200);
          expect(asset.headers.get("content-type")).to.include(type);
          expect(await asset.text()).to.not.match(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
        }
      });
    });
  });
}

function collect(node: unknown, key: string, found: unknown[] = []): unknown[] {
  if (Array.isArray(node)) for (const item of node) collect(item, key, found);
  else if (typeof node === "object" && node !== null) {
    for (const [k, v] of Object.entries(node)) {
      if (k === key) found.push(v);
      collect(v, key, found);
    }
  }
  return found;
}

function resolve(doc: unknown, ref: string): unknown {
  if (!ref.startsWith("#/")) return undefined;
  return ref
    .slice(2)
    .split("/")
    .reduce<unknown>((node, part) => (typeof node === "object" && node !== null ? (node as Record<string, unknown>)[part] : undefined), doc);
}
