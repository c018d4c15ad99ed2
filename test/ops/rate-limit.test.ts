/**
 * Per-agent rate limits: fixed windows on a shared database counter, the client address rules
 * (X-Forwarded-For only behind a trusted proxy), the payer taking over from the address once a
 * payment is verified, and the headers and 429 a client sees.
 */
import { expect } from "chai";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { openPostgres } from "../../gateway/db/index.js";
import type { Database } from "../../gateway/db/index.js";
import { DEFAULT_WINDOWS, clientAddress, createRateLimiter, ipAgent, normalizeIp, walletAgent } from "../../gateway/ratelimit/index.js";
import { type TestApp, startTestApp, wallet } from "./helpers.js";

after(closeTestBackends);

describe("rate limit agents", () => {
  it("ignores X-Forwarded-For unless proxies are trusted", () => {
    expect(clientAddress("10.0.0.5", "203.0.113.9", 0)).to.equal("10.0.0.5");
    expect(clientAddress("10.0.0.5", undefined, 1)).to.equal("10.0.0.5");
  });

  it("reads the client from the right of X-Forwarded-For, past the trusted proxies", () => {
    // The client forged "1.1.1.1"; our proxy (10.0.0.5) appended the real peer 203.0.113.9.
    expect(clientAddress("10.0.0.5", "1.1.1.1, 203.0.113.9", 1)).to.equal("203.0.113.9");
    // Two proxies: the edge appended the client, the inner one appended the edge.
    expect(clientAddress("10.0.0.6", "1.1.1.1, 203.0.113.9, 10.0.0.5", 2)).to.equal("203.0.113.9");
    expect(clientAddress("10.0.0.5", ["1.1.1.1", "203.0.113.9"], 1)).to.equal("203.0.113.9");
    // Fewer entries than proxies: the leftmost is all there is.
    expect(clientAddress("10.0.0.6", "203.0.113.9", 3)).to.equal("203.0.113.9");
    expect(clientAddress("10.0.0.5", "203.0.113.9:4711", 1)).to.equal("203.0.113.9");
    expect(clientAddress("10.0.0.5", "[2001:db8::1]:443", 1)).to.equal("2001:db8::1");
  });

  it("falls back to the socket peer when the trusted entry is not an address", () => {
    expect(clientAddress("10.0.0.5", "1.1.1.1, not-an-ip", 1)).to.equal("10.0.0.5");
  });

  it("counts IPv6 clients per /64 and unwraps IPv4-mapped addresses", () => {
    expect(normalizeIp("2001:db8:1:2:aaaa:bbbb:cccc:dddd")).to.equal("2001:db8:1:2::/64");
    expect(normalizeIp("2001:db8:1:2::99")).to.equal("2001:db8:1:2::/64");
    expect(normalizeIp("2001:db8::1")).to.equal("2001:db8:0:0::/64");
    expect(normalizeIp("::1")).to.equal("0:0:0:0::/64");
    expect(normalizeIp("::ffff:192.0.2.1")).to.equal("192.0.2.1");
    expect(normalizeIp("64:ff9b::192.0.2.1")).to.equal("64:ff9b:0:0::/64");
    expect(ipAgent("198.51.100.7")).to.equal("ip:198.51.100.7");
  });

  it("names a wallet in lower case and refuses anything else", () => {
    expect(walletAgent("0xABCDEF0123456789abcdef0123456789ABCDEF01")).to.equal("wallet:0xabcdef0123456789abcdef0123456789abcdef01");
    expect(() => walletAgent("0x1234")).to.throw(TypeError);
  });

  it("defaults to 100 a minute and 1,000 a day", () => {
    expect(DEFAULT_WINDOWS).to.deep.equal([
      { seconds: 60, max: 100 },
      { seconds: 86_400, max: 1_000 },
    ]);
  });

  it("refuses nonsensical windows", () => {
    const db = {} as Database;
    expect(() => createRateLimiter({ db, windows: [] })).to.throw(RangeError);
    expect(() => createRateLimiter({ db, windows: [{ seconds: 0, max: 1 }] })).to.throw(RangeError);
    expect(() => createRateLimiter({ db, windows: [{ seconds: 60, max: 0 }] })).to.throw(RangeError);
    expect(() => createRateLimiter({ db, windows: [{ seconds: 60, max: 1 }, { seconds: 60, max: 2 }] })).to.throw(RangeError);
  });
});

/** 2026-03-01T00:00:00Z plus an offset: minute and day windows start on round numbers. */
const MIDNIGHT_MS = Date.UTC(2026, 2, 1);

for (const backend of testBackends()) {
  describe(`rate limiter [${backend.name}]`, function () {
    this.timeout(60_000);
    let db: TestDatabase;
    let clock: number;
    const now = () => clock;

    beforeEach(async () => {
      db = await backend.fresh();
      clock = MIDNIGHT_MS + 10_000; // 00:00:10
    });
    afterEach(async () => {
      await db.close();
    });

    it("allows `max` requests a window, refuses the next with the time to the window's end", async () => {
      const limiter = createRateLimiter({ db, now, windows: [{ seconds: 60, max: 3 }, { seconds: 86_400, max: 100 }] });
      for (let i = 1; i <= 3; i += 1) {
        const decision = await limiter.hit("ip:192.0.2.1");
        expect(decision.allowed).to.equal(true);
        expect(decision.windows[0]).to.include({ hits: i, remaining: 3 - i, resetSeconds: 50 });
      }
      const refused = await limiter.hit("ip:192.0.2.1");
      expect(refused.allowed).to.equal(false);
      expect(refused.binding).to.include({ seconds: 60, max: 3, remaining: 0, resetSeconds: 50, exceeded: true });
      // Another agent is not affected.
      expect((await limiter.hit("ip:192.0.2.2")).allowed).to.equal(true);
      // The next minute opens again.
      clock = MIDNIGHT_MS + 60_000;
      const next = await limiter.hit("ip:192.0.2.1");
      expect(next.allowed).to.equal(true);
      expect(next.windows[0]).to.include({ hits: 1, resetSeconds: 60 });
    });

    it("does not charge a refused request to the other windows", async () => {
      const limiter = createRateLimiter({ db, now, windows: [{ seconds: 60, max: 2 }, { seconds: 86_400, max: 5 }] });
      await limiter.hit("a:1");
      await limiter.hit("a:1");
      for (let i = 0; i < 10; i += 1) expect((await limiter.hit("a:1")).allowed).to.equal(false);
      const day = (await limiter.peek("a:1")).windows.find((w) => w.seconds === 86_400);
      expect(day?.hits).to.equal(2);
    });

    it("enforces the day across minutes and says to retry at midnight UTC", async () => {
      const limiter = createRateLimiter({ db, now, windows: [{ seconds: 60, max: 2 }, { seconds: 86_400, max: 5 }] });
      let allowed = 0;
      for (let minute = 0; minute < 5; minute += 1) {
        clock = MIDNIGHT_MS + minute * 60_000 + 1_000;
        for (let i = 0; i < 2; i += 1) if ((await limiter.hit("a:2")).allowed) allowed += 1;
      }
      expect(allowed).to.equal(5);
      const refused = await limiter.hit("a:2");
      expect(refused.allowed).to.equal(false);
      expect(refused.binding.seconds).to.equal(86_400);
      expect(refused.binding.resetSeconds).to.equal(86_400 - (4 * 60 + 1));
      clock = MIDNIGHT_MS + 86_400_000;
      expect((await limiter.hit("a:2")).allowed).to.equal(true);
    });

    it("reports the window with the fewest requests left", async () => {
      const limiter = createRateLimiter({ db, now, windows: [{ seconds: 60, max: 10 }, { seconds: 86_400, max: 3 }] });
      const decision = await limiter.hit("a:3");
      expect(decision.binding).to.include({ seconds: 86_400, remaining: 2 });
    });

    it("peek counts nothing", async () => {
      const limiter = createRateLimiter({ db, now, windows: [{ seconds: 60, max: 1 }] });
      expect((await limiter.peek("a:4")).allowed).to.equal(true);
      expect((await limiter.peek("a:4")).allowed).to.equal(true);
      await limiter.hit("a:4");
      expect((await limiter.peek("a:4")).allowed).to.equal(false);
    });

    it("prunes closed windows", async () => {
      const limiter = createRateLimiter({ db, now, windows: [{ seconds: 60, max: 5 }] });
      await limiter.hit("a:5");
      await limiter.hit("a:6");
      clock += 120_000;
      expect(await limiter.prune()).to.equal(2);
      const { rows } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM rate_limit_counters");
      expect(rows[0]?.n).to.equal(0);
    });

    it("replicas sharing the database share the counter", async () => {
      let second: Database = db;
      if (backend.url !== undefined) second = await openPostgres(backend.url, { schema: db.schema, max: 5 });
      try {
        const windows = [{ seconds: 60, max: 10 }];
        const a = createRateLimiter({ db, now, windows });
        const b = createRateLimiter({ db: second, now, windows });
        // Interleaved and concurrent: exactly `max` get through whichever replica they hit.
        const decisions = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).hit("ip:198.51.100.1")));
        expect(decisions.filter((d) => d.allowed)).to.have.length(10);
        expect((await a.peek("ip:198.51.100.1")).allowed).to.equal(false);
        expect((await b.peek("ip:198.51.100.1")).allowed).to.equal(false);
      } finally {
        if (second !== db) await second.close();
      }
    });

    describe("over HTTP", () => {
      let app: TestApp | undefined;
      afterEach(async () => {
        await app?.close();
        app = undefined;
      });

      const windows = [{ seconds: 60, max: 2 }, { seconds: 86_400, max: 1_000 }];

      it("sends RateLimit headers, then 429 rate_limited with Retry-After", async () => {
        app = await startTestApp({ db, limiter: createRateLimiter({ db, now, windows }) });
        const first = await fetch(`${app.base}/api/thing`);
        expect(first.status).to.equal(200);
        expect(first.headers.get("ratelimit-limit")).to.equal("2");
        expect(first.headers.get("ratelimit-remaining")).to.equal("1");
        expect(first.headers.get("ratelimit-reset")).to.equal("50");
        expect(first.headers.get("ratelimit-policy")).to.equal("2;w=60, 1000;w=86400");
        expect((await fetch(`${app.base}/api/thing`)).status).to.equal(200);
        const refused = await fetch(`${app.base}/api/thing`);
        expect(refused.status).to.equal(429);
        expect(refused.headers.get("retry-after")).to.equal("50");
        expect(refused.headers.get("ratelimit-remaining")).to.equal("0");
        const body = (await refused.json()) as { error: string; details: { retryAfterSeconds: number } };
        expect(body.error).to.equal("rate_limited");
        expect(body.details.retryAfterSeconds).to.equal(50);
      });

      it("ignores X-Forwarded-For without a trusted proxy", async () => {
        app = await startTestApp({ db, limiter: createRateLimiter({ db, now, windows }) });
        const statuses = [];
        for (const forged of ["1.1.1.1", "2.2.2.2", "3.3.3.3"]) {
          statuses.push((await fetch(`${app.base}/api/thing`, { headers: { "x-forwarded-for": forged } })).status);
        }
        expect(statuses).to.deep.equal([200, 200, 429]);
      });

      it("uses X-Forwarded-For behind a trusted proxy", async () => {
        app = await startTestApp({ db, limiter: createRateLimiter({ db, now, windows }), trustProxy: true });
        const statuses = [];
        for (const client of ["1.1.1.1", "2.2.2.2", "3.3.3.3", "1.1.1.1", "1.1.1.1"]) {
          statuses.push((await fetch(`${app.base}/api/thing`, { headers: { "x-forwarded-for": `9.9.9.9, ${client}` } })).status);
        }
        // Each client has its own counter; the forged leftmost entry is never the key.
        expect(statuses).to.deep.equal([200, 200, 200, 200, 429]);
        const { rows } = await db.query<{ agent: string }>("SELECT DISTINCT agent FROM rate_limit_counters ORDER BY agent");
        expect(rows.map((r) => r.agent)).to.deep.equal(["ip:1.1.1.1", "ip:2.2.2.2", "ip:3.3.3.3"]);
      });

      it("counts a verified payment against its payer, not the address", async () => {
        app = await startTestApp({ db, limiter: createRateLimiter({ db, now, windows }) });
        const paid = (payer: string) => fetch(`${app?.base}/api/thing`, { headers: { "x-payment": "opaque", "x-test-payer": payer } });
        // Two agents behind one address each get their own two requests.
        expect((await paid(wallet(1))).status).to.equal(200);
        expect((await paid(wallet(1))).status).to.equal(200);
        expect((await paid(wallet(2))).status).to.equal(200);
        const refused = await paid(wallet(1));
        expect(refused.status).to.equal(429);
        expect(refused.headers.get("retry-after")).to.equal("50");
        expect((await paid(wallet(2))).status).to.equal(200);
        // The address itself was never charged.
        expect((await fetch(`${app.base}/api/thing`)).headers.get("ratelimit-remaining")).to.equal("1");
      });

      it("answers 503 database_unavailable when the counters cannot be reached", async () => {
        const down: Database = { ...db, query: () => Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })) };
        app = await startTestApp({ db, limiter: createRateLimiter({ db: down, now, windows }) });
        const response = await fetch(`${app.base}/api/thing`);
        expect(response.status).to.equal(503);
        expect(await response.json()).to.deep.include({ error: "database_unavailable" });
      });

      it("counts an unverified payment against the address, and refuses it up front once over", async () => {
        app = await startTestApp({ db, limiter: createRateLimiter({ db, now, windows }) });
        // A payment header but no verified payer (the fake route identifies nobody).
        const junk = () => fetch(`${app?.base}/api/thing`, { headers: { "x-payment": "junk" } });
        expect((await junk()).status).to.equal(200);
        expect((await junk()).status).to.equal(200);
        const refused = await junk();
        expect(refused.status).to.equal(429);
        expect((await refused.json()) as { error: string }).to.deep.include({ error: "rate_limited" });
        expect((await fetch(`${app.base}/api/thing`)).status).to.equal(429);
      });
    });
  });
}
