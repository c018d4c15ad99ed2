/**
 * The two-layer response cache on both database backends: memory and database hits, TTL expiry
 * on both layers, single-flight, stale-if-error (never for rejections), clear, pruning, keys from
 * normalized input, and a database outage degrading to memory-only caching.
 */
import { expect } from "chai";
import { cacheKey, createResponseCache } from "../../gateway/cache/index.js";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import type { Queryable } from "../../gateway/db/index.js";
import { UpstreamError } from "../../gateway/upstreams/index.js";
import { type FakeUpstream, startFakeUpstream } from "../../gateway/upstreams/fake-server.js";
import { fakeCatalog, manualClock, rejectionOf } from "./helpers.js";

after(closeTestBackends);

function counter<T>(value: () => T) {
  let calls = 0;
  return {
    load: async () => {
      calls += 1;
      return value();
    },
    get calls() {
      return calls;
    },
  };
}

for (const backend of testBackends()) {
  describe(`response cache [${backend.name}]`, function () {
    this.timeout(60_000);
    let db: TestDatabase;
    let clock: ReturnType<typeof manualClock>;

    before(async () => {
      db = await backend.fresh();
    });
    after(async () => {
      await db.close();
    });
    beforeEach(async () => {
      clock = manualClock();
      await db.query("DELETE FROM response_cache");
    });

    const cache = () => createResponseCache({ db, now: clock.now });

    it("misses once, then hits from memory until the TTL passes", async () => {
      const c = cache();
      const source = counter(() => ({ temp: 15 }));
      expect(await c.getOrLoad("weather:a", { ttlMs: 1_000 }, source.load)).to.deep.include({ status: "miss", value: { temp: 15 } });
      clock.advance(999);
      expect(await c.getOrLoad("weather:a", { ttlMs: 1_000 }, source.load)).to.deep.include({ status: "hit", value: { temp: 15 } });
      expect(source.calls).to.equal(1);
      clock.advance(1);
      expect((await c.getOrLoad("weather:a", { ttlMs: 1_000 }, source.load)).status).to.equal("miss");
      expect(source.calls).to.equal(2);
      expect(c.stats()).to.deep.include({ hits: 1, misses: 2 });
    });

    it("the database layer serves another instance (fresh memory), and honours its expiry", async () => {
      const source = counter(() => ({ n: 1 }));
      await cache().getOrLoad("news:k", { ttlMs: 5_000 }, source.load);
      const other = cache();
      expect(await other.getOrLoad("news:k", { ttlMs: 5_000 }, source.load)).to.deep.include({ status: "hit", value: { n: 1 } });
      expect(await other.hasFresh("news:k")).to.equal(true);
      expect(source.calls).to.equal(1);
      const { rows } = await db.query<{ route: string }>("SELECT route FROM response_cache WHERE key = $1", ["news:k"]);
      expect(rows[0]!.route).to.equal("news");

      clock.advance(5_000);
      const third = cache();
      expect(await third.hasFresh("news:k")).to.equal(false);
      expect((await third.getOrLoad("news:k", { ttlMs: 5_000 }, source.load)).status).to.equal("miss");
      expect(source.calls).to.equal(2);
    });

    it("single-flight: concurrent misses on one key make one load and share its value", async () => {
      const c = cache();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let calls = 0;
      const load = async () => {
        calls += 1;
        await gate;
        return { answer: 42 };
      };
      const pending = Array.from({ length: 10 }, () => c.getOrLoad("k:sf", { ttlMs: 1_000 }, load));
      await new Promise((resolve) => setTimeout(resolve, 20));
      release();
      const results = await Promise.all(pending);
      expect(calls).to.equal(1);
      for (const r of results) expect(r.value).to.deep.equal({ answer: 42 });
      // A failed load is shared too, and not cached.
      let failures = 0;
      const failing = async () => {
        failures += 1;
        throw new Error("down");
      };
      const errors = await Promise.all(Array.from({ length: 5 }, () => rejectionOf(c.getOrLoad("k:fail", { ttlMs: 1_000 }, failing))));
      expect(failures).to.equal(1);
      for (const e of errors) expect((e as Error).message).to.equal("down");
      await rejectionOf(c.getOrLoad("k:fail", { ttlMs: 1_000 }, failing));
      expect(failures).to.equal(2);
    });

    it("stale-if-error serves an expired value when the upstream fails, within its window only", async () => {
      const policy = { ttlMs: 1_000, staleIfErrorMs: 10_000, serveStaleOn: (e: unknown) => !(e instanceof UpstreamError && e.kind === "rejected") };
      const c = cache();
      await c.getOrLoad("k:stale", policy, async () => ({ v: "old" }));
      clock.advance(2_000);
      const down = async () => {
        throw new UpstreamError("x", "unavailable", "down");
      };
      expect(await c.getOrLoad("k:stale", policy, down)).to.deep.include({ status: "stale", value: { v: "old" } });
      // From the database too, for an instance that never saw the value.
      expect(await cache().getOrLoad("k:stale", policy, down)).to.deep.include({ status: "stale", value: { v: "old" } });
      // An upstream "no" is an answer, not an outage: no stale value for it.
      const rejected = async () => {
        throw new UpstreamError("x", "rejected", "not found", 404);
      };
      expect(await rejectionOf(c.getOrLoad("k:stale", policy, rejected))).to.include({ kind: "rejected" });
      clock.advance(10_000);
      expect(await rejectionOf(c.getOrLoad("k:stale", policy, down))).to.include({ kind: "unavailable" });
      // Without the option, never stale.
      const strict = cache();
      await strict.getOrLoad("k:strict", { ttlMs: 1_000 }, async () => 1);
      clock.advance(1_500);
      expect(await rejectionOf(strict.getOrLoad("k:strict", { ttlMs: 1_000 }, down))).to.be.instanceOf(UpstreamError);
    });

    it("clear empties both layers; prune deletes rows past their stale limit", async () => {
      const c = cache();
      await c.getOrLoad("a:1", { ttlMs: 1_000 }, async () => 1);
      await c.getOrLoad("a:2", { ttlMs: 1_000, staleIfErrorMs: 60_000 }, async () => 2);
      clock.advance(2_000);
      expect(await c.prune()).to.equal(1);
      expect((await db.query("SELECT key FROM response_cache")).rows).to.deep.equal([{ key: "a:2" }]);
      await c.getOrLoad("a:3", { ttlMs: 1_000 }, async () => 3);
      await c.clear();
      expect((await db.query("SELECT count(*)::int AS n FROM response_cache")).rows[0]).to.deep.equal({ n: 0 });
      const source = counter(() => 3);
      expect((await c.getOrLoad("a:3", { ttlMs: 1_000 }, source.load)).status).to.equal("miss");
      expect(source.calls).to.equal(1);
    });

    describe("through the catalogue, against the fake upstream", () => {
      let fake: FakeUpstream;
      before(async () => {
        fake = await startFakeUpstream();
      });
      after(async () => {
        await fake.close();
      });
      beforeEach(() => fake.clear());

      it("keys come from the normalized input: equivalent queries share one upstream call", async () => {
        const catalog = fakeCatalog(fake, {}, { db, now: clock.now });
        const weather = catalog.routes.find((r) => r.id === "weather")!;
        expect(weather.cacheTtlMs).to.equal(10 * 60_000);
        const a = await catalog.serve(weather, weather.input.parse({ city: "London" }));
        const b = await catalog.serve(weather, weather.input.parse({ units: "metric", city: "  London " }));
        expect([a.cache, b.cache]).to.deep.equal(["miss", "hit"]);
        expect(b.data).to.deep.equal(a.data);
        expect(fake.count("openweather")).to.equal(1);
        const c = await catalog.serve(weather, weather.input.parse({ city: "London", units: "imperial" }));
        expect(c.cache).to.equal("miss");
        expect(fake.count("openweather")).to.equal(2);
        expect(cacheKey("r", { b: 1, a: ["x", "y"] })).to.equal(cacheKey("r", { a: ["x", "y"], b: 1 }));
      });

      it("concurrent paid requests for one key make a single upstream call", async () => {
        const catalog = fakeCatalog(fake, {}, { db, now: clock.now });
        const price = catalog.routes.find((r) => r.id === "crypto-price")!;
        fake.fail("coingecko", { kind: "delay", ms: 50, times: 1 });
        const results = await Promise.all(Array.from({ length: 8 }, () => catalog.serve(price, price.input.parse({ ids: "bitcoin" }))));
        expect(fake.count("coingecko")).to.equal(1);
        expect(new Set(results.map((r) => JSON.stringify(r.data))).size).to.equal(1);
      });

      it("per-service TTLs: crypto 30 s, CoinGecko markets 1 min, news 5 min, Wikipedia 1 h, weather 10 min", () => {
        const catalog = fakeCatalog(fake, { builtins: { news: { cacheTtlMs: 1_000 } } });
        const ttl = Object.fromEntries(catalog.routes.map((r) => [r.id, r.cacheTtlMs]));
        expect(ttl).to.deep.include({
          "crypto-price": 30_000,
          "crypto-markets": 60_000,
          "wikipedia-search": 3_600_000,
          "wikipedia-page": 3_600_000,
          weather: 600_000,
          news: 1_000,
        });
        expect(fakeCatalog(fake).routes.find((r) => r.id === "news")!.cacheTtlMs).to.equal(300_000);
      });

      it("stale-if-error through a route: the upstream fails after expiry, the old answer is served", async () => {
        const catalog = fakeCatalog(fake, { builtins: { "wikipedia-page": { cacheTtlMs: 1_000, staleIfErrorMs: 60_000 } } }, { db, now: clock.now });
        const page = catalog.routes.find((r) => r.id === "wikipedia-page")!;
        const input = page.input.parse({ title: "London" });
        const fresh = await catalog.serve(page, input);
        clock.advance(5_000);
        fake.fail("wikipedia", { kind: "status", status: 502, times: 1 });
        const stale = await catalog.serve(page, input);
        expect(stale.cache).to.equal("stale");
        expect(stale.data).to.deep.equal(fresh.data);
      });
    });
  });
}

describe("response cache with a failing database", () => {
  it("degrades to memory-only caching and logs, never failing the request", async () => {
    const warnings: string[] = [];
    const broken: Queryable = {
      query: async () => {
        throw Object.assign(new Error("connection refused"), { code: "ECONNREFUSED" });
      },
      exec: async () => undefined,
    };
    const c = createResponseCache({ db: broken, log: { warn: (_d, message) => warnings.push(message) } });
    let calls = 0;
    const load = async () => ++calls;
    expect(await c.getOrLoad("k:1", { ttlMs: 60_000 }, load)).to.deep.include({ status: "miss", value: 1 });
    expect(await c.getOrLoad("k:1", { ttlMs: 60_000 }, load)).to.deep.include({ status: "hit", value: 1 });
    expect(calls).to.equal(1);
    expect(warnings.some((w) => w.includes("write failed"))).to.equal(true);
  });
});
