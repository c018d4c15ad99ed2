/**
 * The dashboard in a real browser: Debian's headless Chromium loads /dashboard from a running
 * app whose figures come from requests recorded through the app and confirmed payments in the
 * ledger, then the test checks the rendered DOM shows those figures and saves a screenshot
 * (test-output/dashboard.png). Chromium is driven with command-line flags only (--dump-dom,
 * --screenshot): no browser-automation dependency.
 *
 * Without a `chromium` binary the suite is skipped locally and FAILS under CI (CI=true), where
 * .ci/run installs it.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { createRecorder } from "../../gateway/analytics/index.js";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { createMetrics } from "../../gateway/observability/index.js";
import { silentLogger } from "../../gateway/log.js";
import { type TestApp, startTestApp, txHash, wallet } from "./helpers.js";

const run = promisify(execFile);

after(closeTestBackends);

const TOKEN_USDC = "0x00000000000000000000000000000000000000aa";
const TOKEN_WETH = "0x00000000000000000000000000000000000000bb";
const tokenInfo = (address: string) =>
  address === TOKEN_USDC ? { symbol: "USDC", decimals: 6 } : address === TOKEN_WETH ? { symbol: "WETH", decimals: 18 } : undefined;

function findChromium(): string | undefined {
  for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
    try {
      return execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim() || undefined;
    } catch {
      // not this one
    }
  }
  return undefined;
}

async function chromium(binary: string, args: readonly string[]): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), "ppa-chromium-"));
  try {
    const { stdout } = await run(
      binary,
      [
        "--headless",
        // The sandbox needs user namespaces, which containers and root shells usually lack.
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        `--user-data-dir=${profile}`,
        // Virtual time runs the page's timers and fetches to completion, then stops.
        "--virtual-time-budget=15000",
        ...args,
      ],
      { timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
    );
    return stdout;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

// The browser test needs one backend only: what it checks is the page, not the SQL.
const backend = testBackends()[0];

describe("dashboard in headless Chromium", function () {
  this.timeout(180_000);
  const binary = findChromium();
  let db: TestDatabase;
  let app: TestApp;

  before(async function () {
    if (binary === undefined) {
      if (process.env.CI) throw new Error("chromium is not installed (apt-get install -y chromium)");
      this.skip();
    }
    db = await (backend?.fresh() ?? Promise.reject(new Error("no test backend")));
    const recorder = createRecorder({ db, log: silentLogger() });
    app = await startTestApp({
      db,
      recorder,
      metrics: createMetrics({ processMetrics: false }),
      ops: {
        tokenInfo,
        breakerStates: () => ({ openweather: "open", coingecko: "closed", newsapi: "half-open" }),
        backlog: async () => ({ pending: 2, oldestAgeSeconds: 75 }),
      },
    });
    // Real traffic through the app: 7 paid calls (USDC and WETH), 2 challenges, 1 upstream failure.
    const get = (headers: Record<string, string>) => fetch(`${app.base}/api/thing`, { headers }).then((r) => r.arrayBuffer());
    for (let i = 0; i < 5; i += 1) await get({ "x-test-payer": wallet(1), "x-test-token": TOKEN_USDC, "x-test-amount": "1500" });
    await get({ "x-test-payer": wallet(2), "x-test-token": TOKEN_USDC, "x-test-amount": "2500" });
    await get({ "x-test-payer": wallet(2), "x-test-token": TOKEN_WETH, "x-test-amount": "1250000000000000000" });
    await get({ "x-test-status": "402" });
    await get({ "x-test-status": "402" });
    await get({ "x-test-payer": wallet(3), "x-test-charged": "false", "x-test-status": "502" });
    await recorder.close();
    // Two confirmed settlements and one still pending in the ledger.
    const settle = (n: number, state: string, amount: string, token: string) =>
      db.query(
        `INSERT INTO payments (payment_key, scheme, network, chain_id, token, payer, payee, amount, request_fingerprint, state, tx_hash, payload)
         VALUES ($1, 'exact', 'eip155:324705682', 324705682, $2, $3, $4, $5, 'fp', $6, $7, '{}')`,
        [`exact:324705682:${n}`, token, wallet(1), wallet(999), amount, state, state === "confirmed" ? txHash(0xabc000 + n) : null],
      );
    await settle(1, "confirmed", "1500", TOKEN_USDC);
    await settle(2, "confirmed", "1250000000000000000", TOKEN_WETH);
    await settle(3, "verified", "2500", TOKEN_USDC);
  });

  after(async () => {
    await app?.close();
    await db?.close();
  });

  it("shows the recorded figures, breakers and settlements", async () => {
    const dom = await chromium(binary as string, ["--dump-dom", `${app.base}/dashboard`]);
    const figure = (name: string) => new RegExp(`data-figure="${name}"[^>]*>([^<]*)<`).exec(dom)?.[1];
    expect(dom).to.include('data-loaded="true"');
    expect(figure("requests-total")).to.equal("10");
    expect(figure("requests-ok")).to.equal("7");
    expect(figure("requests-402")).to.equal("2");
    expect(figure("server-errors")).to.equal("1");
    expect(figure("error-rate")).to.equal("10.00 %");
    expect(figure("backlog")).to.equal("2");
    expect(figure("lag")).to.equal("1 min");
    for (const p of ["p50", "p95", "p99"]) expect(figure(p), p).to.match(/^\d+(\.\d+)?$/);
    // Revenue per token, exact: 5 × 1500 + 2500 atomic USDC, 1.25 WETH.
    expect(dom).to.include("0.01 USDC (6 payments)");
    expect(dom).to.include("1.25 WETH (1 payment)");
    // Breakers.
    expect(dom).to.include("openweather: open");
    expect(dom).to.include("newsapi: half-open");
    // Settlements with their transaction hashes; the pending payment is not among them.
    expect(dom).to.include(txHash(0xabc001));
    expect(dom).to.include(txHash(0xabc002));
    expect(dom).to.include("1.25 WETH");
    expect(dom).to.not.include("could not load figures");
    // Top agents.
    expect(dom).to.include(wallet(1));
    expect(dom).to.include("0.0075 USDC");
  });

  it("saves a screenshot", async () => {
    mkdirSync("test-output", { recursive: true });
    const file = join("test-output", "dashboard.png");
    rmSync(file, { force: true });
    await chromium(binary as string, [`--screenshot=${file}`, "--window-size=1280,1500", `${app.base}/dashboard`]);
    const png = readFileSync(file);
    expect(png.subarray(0, 8).toString("hex")).to.equal("89504e470d0a1a0a");
    // A blank page compresses to a few KB; charts and tables make it much larger.
    expect(statSync(file).size).to.be.greaterThan(20_000);
  });
});
