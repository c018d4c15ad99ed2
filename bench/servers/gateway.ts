/**
 * The gateway process the load sections measure: `createGateway` (gateway/http/server.ts), with
 * its real payment flow, schemes, token catalog and database, on a loopback port. Not meant to
 * be run by hand; bench/lib/gateway-process.ts starts it:
 *
 *   node --import tsx bench/servers/gateway.ts     (configured through the environment below)
 *
 * Routes, mounted through createGateway's `routes`:
 *   GET /bench/free    a fixed JSON body, no payment: what Koa and the middlewares cost alone;
 *   GET /bench/paid    the same body behind `paid()`: full x402 verification of every request.
 *                      The "upstream" is an in-process handler returning that fixed body: a cache
 *                      hit, so the measurement is the payment path and nothing else;
 *   GET /bench/memory  process.memoryUsage() of this process, for the memory section;
 *   GET /bench/timing  what this process saw since the last `?reset=1`: paid requests from arrival
 *                      to the last byte written, the statement that records a payment, and the
 *                      event loop's delay (perf_hooks), as percentiles in ms. It tells a latency
 *                      tail measured by the load generator apart: the gateway's own, the
 *                      database's, or the event loop's.
 * No settlement engine (`settlementEngine: null`): accepted payments stay `verified`, and the
 * settlement section measures the engine on its own.
 *
 * Environment: the gateway's own variables (RPC_URL, CHAIN_ID, DEPLOYMENTS_FILE, PAY_TO,
 * SIGNER_PRIVATE_KEY, PUBLIC_URL, LOG_LEVEL…, see gateway/config) plus
 *   BENCH_PORT        port to listen on (0: any), on 127.0.0.1;
 *   BENCH_DB_URL      PostgreSQL URL, with BENCH_DB_SCHEMA (created by the caller) — or
 *   BENCH_PGLITE_DIR  an embedded PGlite data directory when there is no PostgreSQL;
 *   BENCH_DB_POOL     PostgreSQL pool size (default the gateway's 10).
 * Prints one line `BENCH_READY {"url": …}` on stdout once it listens; SIGTERM closes it once the
 * requests in flight are finished.
 */
import { createServer } from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";
import * as hdr from "hdr-histogram-js";
import type { AddressInfo } from "node:net";
import { type Address, createPublicClient, createWalletClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { readDeploymentRecord } from "../../scripts/lib/deployment-record.js";
import { loadConfig } from "../../gateway/config/index.js";
import { type Database, migrate, openPGlite, openPostgres } from "../../gateway/db/index.js";
import { createGateway } from "../../gateway/http/server.js";
import { createLogger } from "../../gateway/log.js";
import type { PaidRoute } from "../../gateway/payments/index.js";
import { parseUsd } from "../../gateway/pricing/index.js";

/** Must match bench/lib/processes.ts, which waits for this line. */
const READY_PREFIX = "BENCH_READY ";

/** What the "cached upstream" answers: a small, fixed JSON document (the same on the free route). */
const BODY = { city: "Lisbon", temperatureC: 21, conditions: "clear", source: "bench fixed body" };

/**
 * $0.001 a call. maxTimeoutSeconds 600: the default (300 s) does not outlast the default
 * settlement horizon (300 s) plus the validity margin, which makes every escrow offer "sync", and
 * these sections measure payments served on credit, as a committed payer's are.
 */
const PAID_ROUTE: PaidRoute = {
  priceUsd: parseUsd("0.001"),
  description: "bench: fixed body",
  mimeType: "application/json",
  maxTimeoutSeconds: 600,
};

async function openBenchDatabase(env: NodeJS.ProcessEnv): Promise<Database> {
  const url = env["BENCH_DB_URL"];
  const db =
    url !== undefined && url !== ""
      ? await openPostgres(url, {
          schema: env["BENCH_DB_SCHEMA"],
          ...(env["BENCH_DB_POOL"] === undefined ? {} : { max: Number(env["BENCH_DB_POOL"]) }),
          applicationName: "payperagent-bench",
        })
      : await openPGlite({ dataDir: env["BENCH_PGLITE_DIR"] ?? ".data/bench-pglite" });
  await migrate(db);
  return db;
}

/** Microsecond histograms, and their percentiles in ms. */
const newHistogram = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
type Histogram = ReturnType<typeof newHistogram>;
const summary = (h: Histogram) => ({
  count: h.totalCount,
  p50: h.getValueAtPercentile(50) / 1_000,
  p99: h.getValueAtPercentile(99) / 1_000,
  p999: h.getValueAtPercentile(99.9) / 1_000,
  max: h.maxValue / 1_000,
});
const sinceUs = (start: bigint) => Number((process.hrtime.bigint() - start) / 1_000n);

/** The database with the statements that record payments timed into `histogram`. */
function timingRecords(db: Database, histogram: Histogram): Database {
  return {
    ...db,
    async query(sql, params, options) {
      if (!sql.includes("record_payment(")) return db.query(sql, params, options);
      const start = process.hrtime.bigint();
      try {
        return await db.query(sql, params, options);
      } finally {
        histogram.recordValue(Math.max(1, sinceUs(start)));
      }
    },
  } as Database;
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel, destination: process.stderr });
  const record = readDeploymentRecord(config.deploymentsFile);
  const registry = record.contracts.TokenRegistry?.address as Address | undefined;
  const escrow = record.contracts.SettlementEscrow?.address as Address | undefined;
  if (registry === undefined) throw new Error(`${config.deploymentsFile} records no TokenRegistry`);

  // The same clients startGateway builds: the concurrent reads of one verification go out as one
  // JSON-RPC batch (BENCH_RPC_BATCH=false sends them one request each, for comparison).
  const batch = process.env["BENCH_RPC_BATCH"] !== "false";
  const publicClient = createPublicClient({ transport: http(config.rpcUrl, batch ? { batch: { wait: 0 } } : {}) });
  const walletClient = createWalletClient({ account: privateKeyToAccount(config.signerKey), transport: http(config.rpcUrl) });
  const paidTimes = newHistogram();
  const recordTimes = newHistogram();
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const db = timingRecords(await openBenchDatabase(process.env), recordTimes);
  const parts = await createGateway({
    config,
    logger,
    db,
    publicClient,
    walletClient,
    contracts: { registry, escrow },
    settlementEngine: null,
    routes: (router, { paid }) => {
      router.get("/bench/free", (ctx) => {
        ctx.body = BODY;
      });
      router.get("/bench/paid", paid(PAID_ROUTE, async () => ({ body: BODY })));
      router.get("/bench/memory", (ctx) => {
        ctx.body = process.memoryUsage();
      });
      router.get("/bench/timing", (ctx) => {
        ctx.body = {
          paidRequest: summary(paidTimes),
          recordStatement: summary(recordTimes),
          eventLoopDelay: { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
        };
        if (ctx.query["reset"] === "1") {
          paidTimes.reset();
          recordTimes.reset();
          loopDelay.reset();
        }
      });
    },
  });

  // Requests are counted until Koa has finished them, even when the client has gone: autocannon
  // closes its connections the moment its run ends, and the requests still in flight then are
  // served (and their payments accepted) all the same. Stopping waits for them.
  const handle = parts.app.callback();
  let inFlight = 0;
  const server = createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => {
    inFlight += 1;
    if (req.url?.startsWith("/bench/paid") === true) {
      const start = process.hrtime.bigint();
      res.once("finish", () => paidTimes.recordValue(Math.max(1, sinceUs(start))));
    }
    void Promise.resolve(handle(req, res)).finally(() => {
      inFlight -= 1;
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(process.env["BENCH_PORT"] ?? 0), "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${READY_PREFIX}${JSON.stringify({ url: `http://127.0.0.1:${port}`, pid: process.pid })}\n`);

  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    server.close();
    server.closeIdleConnections();
    for (const deadline = Date.now() + 30_000; inFlight > 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
    server.closeAllConnections();
    await parts.close();
    await db.close();
    process.exit(0);
  };
  process.once("SIGTERM", () => void close());
  process.once("SIGINT", () => void close());
}

main().catch((error: unknown) => {
  process.stderr.write(`bench gateway failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
