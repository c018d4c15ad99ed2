/**
 * Reputation tiers (a pure function, checked at every boundary), the recorder that writes
 * api_requests and agent_reputation off the request path, and the discount the flow asks for.
 */
import { expect } from "chai";
import fc from "fast-check";
import { TIERS, type TierName, createRecorder, createReputation, tierFor } from "../../gateway/analytics/index.js";
import type { ApiRequestRecord, ObservedPayment, Recorder } from "../../gateway/analytics/index.js";
import type { Database } from "../../gateway/db/index.js";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { txHash, wallet } from "./helpers.js";

after(closeTestBackends);

describe("reputation tiers", () => {
  const name = (successful: number, total: number): TierName => tierFor(successful, total).name;

  it("has the published thresholds and discounts", () => {
    expect(TIERS.map((t) => [t.name, t.minSuccessful, t.minRatePercent, t.discountBps])).to.deep.equal([
      ["diamond", 10_000, 98, 2_000],
      ["platinum", 2_000, 95, 1_500],
      ["gold", 500, 90, 1_000],
      ["silver", 100, 85, 500],
      ["bronze", 0, 0, 0],
    ]);
  });

  it("starts at bronze", () => {
    expect(name(0, 0)).to.equal("bronze");
    expect(name(0, 50)).to.equal("bronze");
    expect(name(99, 99)).to.equal("bronze");
  });

  // For each tier: exactly at both thresholds, one success short, and one failure too many.
  const boundaries: [TierName, TierName, number, number][] = [
    // tier, the one below, min successful, min rate %
    ["silver", "bronze", 100, 85],
    ["gold", "silver", 500, 90],
    ["platinum", "gold", 2_000, 95],
    ["diamond", "platinum", 10_000, 98],
  ];
  for (const [tier, below, minimum, percent] of boundaries) {
    it(`${tier}: ${minimum} successes at ≥ ${percent} %`, () => {
      // Largest total keeping the rate at or above the threshold with exactly `minimum` successes.
      const maxTotal = Math.floor((minimum * 100) / percent);
      expect(name(minimum, minimum)).to.equal(tier);
      expect(name(minimum, maxTotal)).to.equal(tier);
      // One more failure: the rate drops below the threshold.
      expect(name(minimum, maxTotal + 1)).to.equal(below);
      // One success short, even at 100 %: the tier below.
      expect(name(minimum - 1, minimum - 1)).to.equal(below);
    });
  }

  it("compares rates exactly, without floating point", () => {
    // 85 % of 2,000 is exactly 1,700.
    expect(name(1_700, 2_000)).to.equal("silver");
    expect(name(1_699, 2_000)).to.equal("bronze");
    // 98 % exactly with 10,000 successes: 10,000 / 10,204 = 98.0007 %, 10,000 / 10,205 = 97.99 %.
    expect(name(10_000, 10_204)).to.equal("diamond");
    expect(name(10_000, 10_205)).to.equal("platinum");
  });

  it("falls back to the best tier whose rate is met", () => {
    // 600 successes would be gold by count, but 88 % is only silver.
    expect(name(600, 682)).to.equal("silver");
    // 20,000 successes at 96 % is platinum, at 91 % gold, at 86 % silver, at 80 % bronze.
    expect(name(20_000, 20_833)).to.equal("platinum");
    expect(name(20_000, 21_978)).to.equal("gold");
    expect(name(20_000, 23_255)).to.equal("silver");
    expect(name(20_000, 25_000)).to.equal("bronze");
  });

  it("refuses impossible counts", () => {
    expect(() => tierFor(2, 1)).to.throw(RangeError);
    expect(() => tierFor(-1, 5)).to.throw(RangeError);
    expect(() => tierFor(1.5, 5)).to.throw(RangeError);
    expect(() => tierFor(0, Number.NaN)).to.throw(RangeError);
    expect(tierFor(10n ** 20n, 10n ** 20n).name).to.equal("diamond");
  });

  it("never drops on a success and never rises on a failure", () => {
    const rank = (successful: number, total: number) => TIERS.length - TIERS.findIndex((t) => t.name === name(successful, total));
    fc.assert(
      fc.property(fc.nat(30_000), fc.nat(3_000), (successful, failed) => {
        const total = successful + failed;
        expect(rank(successful + 1, total + 1)).to.be.at.least(rank(successful, total));
        expect(rank(successful, total + 1)).to.be.at.most(rank(successful, total));
      }),
      { numRuns: 2_000 },
    );
  });
});

const TOKEN_A = "0x00000000000000000000000000000000000000aa";
const TOKEN_B = "0x00000000000000000000000000000000000000bb";

function call(overrides: Partial<ApiRequestRecord> = {}, payment?: Partial<ObservedPayment>): ApiRequestRecord {
  return {
    requestedAt: new Date(),
    method: "GET",
    endpoint: "/api/weather",
    status: 200,
    responseTimeMs: 12.4,
    payment: payment === undefined ? undefined : { payer: wallet(1), scheme: "exact", token: TOKEN_A, amount: 1_000n, charged: true, ...payment },
    ...overrides,
  };
}

function quietLog() {
  const lines: string[] = [];
  return { lines, error: (_: object, m: string) => void lines.push(`error ${m}`), warn: (_: object, m: string) => void lines.push(`warn ${m}`) };
}

for (const backend of testBackends()) {
  describe(`analytics recorder and reputation [${backend.name}]`, function () {
    this.timeout(60_000);
    let db: TestDatabase;
    let recorder: Recorder;
    let log: ReturnType<typeof quietLog>;

    beforeEach(async () => {
      db = await backend.fresh();
      log = quietLog();
      recorder = createRecorder({ db, log });
    });
    afterEach(async () => {
      await recorder.close();
      await db.close();
    });

    it("writes after the caller returns, and keeps amounts exact", async () => {
      const huge = 123_456_789_012_345_678_901_234_567_890n;
      recorder.record(call({}, { payer: "0xABCDEF0123456789abcdef0123456789ABCDEF01", amount: huge, priceNanoUsd: 1_000_000n, txHash: txHash(7).toUpperCase().replace("0X", "0x") }));
      // Nothing has been written synchronously.
      expect(recorder.pending).to.equal(1);
      await recorder.flush();
      expect(recorder.pending).to.equal(0);
      const { rows } = await db.query<Record<string, unknown>>("SELECT wallet, endpoint, amount::text, token, scheme, success, response_time_ms, tx_hash, price_nano_usd::text FROM api_requests");
      expect(rows).to.deep.equal([
        {
          wallet: "0xabcdef0123456789abcdef0123456789abcdef01",
          endpoint: "/api/weather",
          amount: huge.toString(),
          token: TOKEN_A,
          scheme: "exact",
          success: true,
          response_time_ms: 12,
          tx_hash: txHash(7),
          price_nano_usd: "1000000",
        },
      ]);
      const reputation = createReputation({ db });
      const agent = await reputation.get("0xabcdef0123456789abcdef0123456789abcdef01");
      expect(agent?.totalRequests).to.equal(1n);
      expect(agent?.successfulRequests).to.equal(1n);
      expect(agent?.spent).to.deep.equal({ [TOKEN_A]: huge });
      expect(agent?.totalSpentNanoUsd).to.equal(1_000_000n);
    });

    it("records unpaid calls without touching reputation", async () => {
      recorder.record(call({ status: 402, responseTimeMs: 1 }));
      await recorder.flush();
      const { rows } = await db.query<{ n: number; wallets: number }>("SELECT count(*)::int AS n, count(wallet)::int AS wallets FROM api_requests");
      expect(rows[0]).to.deep.equal({ n: 1, wallets: 0 });
      expect((await db.query("SELECT * FROM agent_reputation")).rows).to.have.length(0);
    });

    it("counts only outcomes that are the agent's doing", async () => {
      const payer = wallet(5);
      recorder.record(call({}, { payer })); // charged: success
      recorder.record(call({ status: 402 }, { payer, charged: false })); // its payment refused: failure
      recorder.record(call({ status: 502 }, { payer, charged: false })); // upstream failed: not counted
      recorder.record(call({ status: 429 }, { payer, charged: false })); // rate limited: not counted
      recorder.record(call({ status: 409 }, { payer, charged: false })); // same payment in flight: not counted
      await recorder.flush();
      const agent = await createReputation({ db }).get(payer);
      expect(agent?.totalRequests).to.equal(2n);
      expect(agent?.successfulRequests).to.equal(1n);
      // Uncharged calls have no amount.
      const { rows } = await db.query<{ charged: number }>("SELECT count(amount)::int AS charged FROM api_requests");
      expect(rows[0]?.charged).to.equal(1);
    });

    it("sums spending per token across batches", async () => {
      const payer = wallet(6);
      for (let i = 0; i < 5; i += 1) recorder.record(call({}, { payer, token: TOKEN_A, amount: 10n ** 18n }));
      await recorder.flush();
      for (let i = 0; i < 3; i += 1) recorder.record(call({}, { payer, token: TOKEN_B, amount: 7n }));
      recorder.record(call({}, { payer, token: TOKEN_A, amount: 1n }));
      await recorder.flush();
      const agent = await createReputation({ db }).get(payer);
      expect(agent?.spent).to.deep.equal({ [TOKEN_A]: 5n * 10n ** 18n + 1n, [TOKEN_B]: 21n });
      expect(agent?.totalRequests).to.equal(9n);
    });

    it("promotes an agent when it crosses a tier, and the flow sees the discount", async () => {
      const payer = wallet(7);
      const reputation = createReputation({ db, cacheTtlMs: 0 });
      expect(await reputation.discountFor(payer)).to.deep.equal({ tier: "bronze", discountBps: 0 });
      // 99 successes and 10 failures: still bronze (too few successes).
      for (let i = 0; i < 99; i += 1) recorder.record(call({}, { payer }));
      for (let i = 0; i < 10; i += 1) recorder.record(call({ status: 402 }, { payer, charged: false }));
      await recorder.flush();
      expect(await reputation.discountFor(payer)).to.deep.equal({ tier: "bronze", discountBps: 0 });
      // The 100th success at 100/110 = 90.9 %: silver.
      recorder.record(call({}, { payer }));
      await recorder.flush();
      expect(await reputation.discountFor(payer)).to.deep.equal({ tier: "silver", discountBps: 500 });
      const { rows } = await db.query<{ tier: string; discount_bps: number }>("SELECT tier, discount_bps FROM agent_reputation WHERE wallet = $1", [payer]);
      expect(rows[0]).to.deep.equal({ tier: "silver", discount_bps: 500 });
      // Failures pulling the rate under 85 % demote it again: 100 / 118 = 84.7 %.
      for (let i = 0; i < 8; i += 1) recorder.record(call({ status: 402 }, { payer, charged: false }));
      await recorder.flush();
      expect(await reputation.discountFor(payer)).to.deep.equal({ tier: "bronze", discountBps: 0 });
    });

    it("caches discounts briefly, and forgets a wallet on request", async () => {
      const payer = wallet(8);
      const reputation = createReputation({ db, cacheTtlMs: 60_000 });
      expect((await reputation.discountFor(payer)).tier).to.equal("bronze");
      await db.query("INSERT INTO agent_reputation (wallet, total_requests, successful_requests) VALUES ($1, 500, 500)", [payer]);
      expect((await reputation.discountFor(payer)).tier).to.equal("bronze");
      reputation.invalidate([payer.toUpperCase().replace("0X", "0x")]);
      expect(await reputation.discountFor(payer)).to.deep.equal({ tier: "gold", discountBps: 1_000 });
      // The tier comes from the counts, whatever the stored tier column says.
      expect((await db.query<{ tier: string }>("SELECT tier FROM agent_reputation WHERE wallet = $1", [payer])).rows[0]?.tier).to.equal("bronze");
    });

    it("refuses a payer that is not an address", async () => {
      const reputation = createReputation({ db });
      for (const bad of ["", "0x1234", "not an address", `${wallet(1)}00`]) {
        let error: unknown;
        try {
          await reputation.discountFor(bad);
        } catch (e) {
          error = e;
        }
        expect(error, bad).to.be.instanceOf(TypeError);
      }
    });

    it("skips and logs an invalid record without losing the others", async () => {
      recorder.record(call({}, { payer: "0xnot-an-address" }));
      recorder.record(call({ status: 42 }));
      recorder.record(call());
      await recorder.flush();
      expect(recorder.dropped).to.equal(2);
      expect(log.lines.filter((l) => l.startsWith("error"))).to.have.length(2);
      expect((await db.query("SELECT * FROM api_requests")).rows).to.have.length(1);
    });

    it("keeps records while the database is unreachable and writes them once it is back", async () => {
      let down = true;
      const flaky: Database = {
        ...db,
        transaction: (fn) => (down ? Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })) : db.transaction(fn)),
      };
      const outage = createRecorder({ db: flaky, log, retryDelayMs: 10 });
      try {
        outage.record(call({}, { payer: wallet(9) }));
        await outage.flush();
        expect(outage.pending).to.equal(1);
        expect(log.lines).to.include("warn analytics: database unavailable; will retry");
        down = false;
        await outage.flush();
        expect(outage.pending).to.equal(0);
        expect((await db.query("SELECT * FROM api_requests")).rows).to.have.length(1);
      } finally {
        await outage.close();
      }
    });

    it("bounds the queue during an outage, dropping the oldest", async () => {
      const flaky: Database = { ...db, transaction: () => Promise.reject(Object.assign(new Error("gone"), { code: "57P01" })) };
      const outage = createRecorder({ db: flaky, log, maxQueue: 3, retryDelayMs: 60_000 });
      for (let i = 0; i < 5; i += 1) outage.record(call({ responseTimeMs: i }));
      expect(outage.pending).to.equal(3);
      expect(outage.dropped).to.equal(2);
      await outage.close();
      expect(log.lines).to.include("error analytics: records could not be written before shutdown");
    });

    it("isolates a row the database refuses instead of dropping the batch", async () => {
      // A timestamp PostgreSQL cannot store: the row is refused, its neighbours are not.
      recorder.record(call({ endpoint: "/api/a" }));
      recorder.record(call({ endpoint: "/api/b", requestedAt: new Date(-8_640_000_000_000_000) }));
      recorder.record(call({ endpoint: "/api/c" }));
      await recorder.flush();
      const { rows } = await db.query<{ endpoint: string }>("SELECT endpoint FROM api_requests ORDER BY endpoint");
      expect(rows.map((r) => r.endpoint)).to.deep.equal(["/api/a", "/api/c"]);
      expect(recorder.dropped).to.equal(1);
    });
  });
}
