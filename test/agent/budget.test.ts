/**
 * The daily budget and exact amount parsing, without a chain: reservations that can never jointly
 * overshoot, a day boundary at UTC midnight, the JSON file shared between processes, and human
 * amounts that are exact or refused.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { AgentError, DailyBudget, formatAmount, jsonFileBudgetStore, memoryBudgetStore, parseAmount } from "../../agent/sdk/index.js";

describe("agent daily budget", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "agent-budget-unit-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("reserves up to the limit, counting payments in flight", async () => {
    const budget = new DailyBudget(memoryBudgetStore());
    const a = await budget.reserve("k", 600n, 1_000n);
    expect(a).to.not.equal(undefined);
    // 600 in flight: another 600 would overshoot even though nothing is committed yet.
    expect(await budget.reserve("k", 600n, 1_000n)).to.equal(undefined);
    const b = await budget.reserve("k", 400n, 1_000n);
    expect(b).to.not.equal(undefined);
    await a!.release();
    expect(await budget.usedToday("k")).to.equal(400n);
    await b!.commit();
    await b!.commit(); // idempotent
    expect(await budget.usedToday("k")).to.equal(400n);
    expect(await budget.reserve("other", 10n ** 30n, undefined)).to.not.equal(undefined);
  });

  it("lets concurrent reservations through only as far as the limit", async () => {
    const budget = new DailyBudget(memoryBudgetStore());
    const results = await Promise.all(Array.from({ length: 20 }, () => budget.reserve("k", 100n, 1_000n)));
    expect(results.filter((r) => r !== undefined)).to.have.length(10);
  });

  it("starts a new day at UTC midnight, keeping payments still in flight", async () => {
    let now = new Date("2025-03-01T23:59:59Z");
    const budget = new DailyBudget(memoryBudgetStore(), () => now);
    await (await budget.reserve("k", 900n, 1_000n))!.commit();
    const inFlight = await budget.reserve("k", 100n, 1_000n);
    expect(await budget.reserve("k", 1n, 1_000n)).to.equal(undefined);
    now = new Date("2025-03-02T00:00:00Z");
    expect(await budget.usedToday("k")).to.equal(100n);
    await inFlight!.commit();
    expect(await budget.usedToday("k")).to.equal(100n);
    expect(await budget.reserve("k", 900n, 1_000n)).to.not.equal(undefined);
  });

  it("shares one JSON file between budget instances, as separate CLI runs do", async () => {
    const file = path.join(dir, "shared.json");
    const one = new DailyBudget(jsonFileBudgetStore(file));
    const two = new DailyBudget(jsonFileBudgetStore(file));
    const held = await one.reserve("k", 700n, 1_000n);
    expect(await two.reserve("k", 400n, 1_000n)).to.equal(undefined);
    await held!.commit();
    const record = JSON.parse(readFileSync(file, "utf8")) as { spent: Record<string, string>; pending: object };
    expect(record.spent).to.deep.equal({ k: "700" });
    expect(record.pending).to.deep.equal({});
    expect(await two.usedToday("k")).to.equal(700n);
  });

  it("refuses a corrupt budget file instead of starting from zero", async () => {
    const file = path.join(dir, "corrupt.json");
    writeFileSync(file, JSON.stringify({ version: 1, day: "2025-01-01", spent: { k: 5 }, pending: {} }));
    const error = await new DailyBudget(jsonFileBudgetStore(file)).usedToday("k").catch((e: unknown) => e);
    expect(error).to.be.instanceOf(AgentError);
    writeFileSync(file, "{not json");
    expect(await new DailyBudget(jsonFileBudgetStore(file)).usedToday("k").catch((e: unknown) => (e as AgentError).code)).to.equal("invalid_argument");
  });
});

describe("agent amounts", () => {
  it("parses human amounts exactly into atomic units", () => {
    expect(parseAmount("1.5", 6)).to.equal(1_500_000n);
    expect(parseAmount("0.000001", 6)).to.equal(1n);
    expect(parseAmount("0.1", 18)).to.equal(10n ** 17n);
    expect(parseAmount("12", 0)).to.equal(12n);
    expect(parseAmount("1.500000", 6)).to.equal(1_500_000n);
    expect(parseAmount("123456789012345678901234567890.123456789012345678", 18)).to.equal(123456789012345678901234567890123456789012345678n);
  });

  it("refuses what it cannot represent exactly instead of rounding", () => {
    for (const bad of ["0.0000001", "1e6", "-1", "1,5", "", ".5", "1.", "0x10", "01.5", " ", "NaN"]) {
      expect(() => parseAmount(bad, 6), bad).to.throw(AgentError);
    }
  });

  it("formats atomic units without floats", () => {
    expect(formatAmount(1_500_000n, 6)).to.equal("1.5");
    expect(formatAmount(1n, 18)).to.equal("0.000000000000000001");
    expect(formatAmount(0n, 6)).to.equal("0");
    expect(formatAmount(10n ** 30n, 18)).to.equal("1000000000000");
    expect(formatAmount(parseAmount("0.3", 18) + parseAmount("0.6", 18), 18)).to.equal("0.9");
  });
});
