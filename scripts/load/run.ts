/**
 * `npm run test:load`: load with reconciliation against the local stack.
 *
 * Starts its own stack on loopback (a Hardhat node imitating SKALE Base Sepolia, the deployment
 * with mock tokens, the gateway on PGlite with the demo upstream and settlement engine, as
 * `npm start` runs it), funds LOAD_AGENTS agents (default 200) and has them pay for catalogue
 * calls concurrently for LOAD_SECONDS (default 60) with mixed schemes and tokens through the agent
 * SDK. Then it waits for the settlement engine to drain, stops the gateway, and reconciles the
 * gateway's ledger with the chain's events (scripts/load/reconcile.ts). Exit code 1 when any check
 * fails: a double charge, a lost settlement, a ledger/chain mismatch, a charge the ledger does not
 * know, responses the agents bought that the ledger does not show, a run that served nothing, or
 * more failed requests than LOAD_MAX_ERROR_PERCENT (default 1) percent.
 *
 * Everything is bounded: each request (LOAD_REQUEST_TIMEOUT_MS, 30 s), each agent's loop (a
 * request cap), the drain (LOAD_DRAIN_TIMEOUT_MS, 5 min) and the whole run (a watchdog).
 */
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { type Address, type PublicClient, createPublicClient, getAddress, http } from "viem";
import { openPGlite } from "../../gateway/db/index.js";
import { createLogger } from "../../gateway/log.js";
import { readDeploymentRecord } from "../lib/deployment-record.js";
import { startLocalGateway } from "../lib/local-gateway.js";
import { PROJECT_ROOT, deployLocal, freePort, localRoleKeys, resetStackState, startLocalChain, stackPaths } from "../lib/local-stack.js";
import { type AgentTally, percentile, runAgents } from "./agents.js";
import { type LoadToken, type TokenRef, fundAgents, planAgents } from "./fund.js";
import { type ReconcileReport, reconcileLedger, reconcileProblems } from "./reconcile.js";

const CHAIN_ID = 324705682;

function intEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got ${raw}`);
  return value;
}

const seconds = intEnv("LOAD_SECONDS", 60, 1, 3_600);
const agentCount = intEnv("LOAD_AGENTS", 200, 1, 2_000);
const requestTimeoutMs = intEnv("LOAD_REQUEST_TIMEOUT_MS", 30_000, 1_000, 600_000);
const drainTimeoutMs = intEnv("LOAD_DRAIN_TIMEOUT_MS", 300_000, 10_000, 3_600_000);
/** Share of requests that may fail (any non-2xx or client error), in percent. */
const maxErrorPercent = intEnv("LOAD_MAX_ERROR_PERCENT", 1, 0, 100);
/** The Hardhat node's process group, for the watchdog. */
let chainPid: number | undefined;
const log = (line: string) => process.stdout.write(`[load] ${line}\n`);

// The paths agents call, round robin: three upstreams, a cached and an uncached answer.
const PATHS = ["/api/weather?city=London", "/api/crypto/price?ids=bitcoin", "/api/wikipedia/search?q=agents", "/api/weather?city=Tokyo"];

async function main(): Promise<number> {
  if (process.env.DATABASE_URL?.trim()) {
    log("note: DATABASE_URL is ignored; the local stack's gateway runs on PGlite (scripts/lib/local-gateway.ts)");
  }
  const paths = stackPaths(path.join(PROJECT_ROOT, ".data/load"));
  resetStackState(paths);
  mkdirSync(paths.root, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  try {
    const started = Date.now();
    const chain = await startLocalChain(await freePort(8645));
    chainPid = chain.child.pid;
    stops.push(() => chain.stop());
    log(`chain ${chain.rpcUrl}`);
    await deployLocal(chain.rpcUrl, paths);
    const record = readDeploymentRecord(paths.deploymentsFile);
    const escrow = record.contracts.SettlementEscrow?.address as Address | undefined;
    if (escrow === undefined) throw new Error("the deployment has no SettlementEscrow");
    const tokens: TokenRef[] = record.tokens.map((t) => ({
      symbol: (t.symbol.startsWith("USDC") ? "USDC" : t.symbol) as LoadToken,
      address: getAddress(t.address),
      decimals: t.decimals,
    }));
    const publicClient = createPublicClient({ transport: http(chain.rpcUrl), pollingInterval: 100 }) as PublicClient;
    // One block a second, as on SKALE, instead of one block per transaction: Hardhat gives each
    // block a timestamp one second past its parent's, so thousands of automined transactions
    // would push the chain's clock far ahead of the agents' (their authorizations would be
    // "expired" on arrival, and the demo pairs' prices "from the future").
    await publicClient.request({ method: "evm_setAutomine" as never, params: [false] as never });
    await publicClient.request({ method: "evm_setIntervalMining" as never, params: [1_000] as never });
    const { settlementSigner, payee } = localRoleKeys();

    const agents = planAgents(agentCount, tokens);
    await fundAgents({ rpcUrl: chain.rpcUrl, publicClient, escrow: getAddress(escrow), payTo: getAddress(payee), agents });
    log(`funded ${agents.length} agents in ${Math.round((Date.now() - started) / 1000)} s`);

    // Agents share 127.0.0.1; the per-agent limits are for the public internet, not this test.
    process.env.RATE_LIMIT_PER_MINUTE ??= "1000000";
    process.env.RATE_LIMIT_PER_DAY ??= "100000000";
    const gateway = await startLocalGateway({
      rpcUrl: chain.rpcUrl,
      chainId: CHAIN_ID,
      deploymentsFile: paths.deploymentsFile,
      dataDir: paths.pgliteDir,
      port: await freePort(8680),
      payTo: getAddress(payee),
      signerKey: settlementSigner,
      logger: createLogger({ level: process.env.LOAD_LOG_LEVEL ?? "fatal", destination: process.stderr }),
    });
    let gatewayOpen = true;
    stops.push(async () => {
      if (gatewayOpen) await gateway.close();
    });
    log(`gateway ${gateway.url}`);

    const fromBlock = await publicClient.getBlockNumber();
    log(`${agents.length} agents for ${seconds} s …`);
    const loadStarted = Date.now();
    const tally = await runAgents({
      gatewayUrl: gateway.url,
      rpcUrl: chain.rpcUrl,
      chainId: CHAIN_ID,
      publicClient,
      agents,
      deadline: loadStarted + seconds * 1000,
      paths: PATHS,
      // A generous cap that still bounds a loop whose requests fail instantly.
      maxRequestsPerAgent: seconds * 50,
      requestTimeoutMs,
    });
    const loadSeconds = (Date.now() - loadStarted) / 1000;

    const drained = await waitForDrain(gateway.url, drainTimeoutMs);
    await gateway.close();
    gatewayOpen = false;

    const db = await openPGlite({ dataDir: paths.pgliteDir });
    let report: ReconcileReport;
    try {
      report = await reconcileLedger({
        db,
        publicClient: publicClient as never,
        escrow: getAddress(escrow),
        eip3009Tokens: tokens.filter((t) => t.symbol === "USDC").map((t) => t.address),
        fromBlock,
        payers: agents.map((a) => a.address),
        final: true,
      });
    } finally {
      await db.close();
    }
    return printReport(tally, report, { agents: agents.length, loadSeconds, drained, tokens });
  } finally {
    for (const stop of stops.reverse()) await stop().catch((error: unknown) => log(`shutdown step failed: ${(error as Error).message}`));
    if (process.env.LOAD_KEEP_DATA !== "1") rmSync(paths.root, { recursive: true, force: true });
  }
}

/** Polls the gateway's /stats until no served payment waits for the chain. */
async function waitForDrain(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let last: number | undefined;
  while (Date.now() < deadline) {
    try {
      const stats = (await (await fetch(`${url}/stats`, { signal: AbortSignal.timeout(10_000) })).json()) as { settlement?: { pending: number } | null };
      last = stats.settlement?.pending;
      if (last === 0) return true;
    } catch {
      // The gateway is busy or restarting its pool; ask again.
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  log(`the settlement engine did not drain in ${timeoutMs / 1000} s (${last ?? "?"} pending)`);
  return false;
}

function printReport(tally: AgentTally, report: ReconcileReport, run: { agents: number; loadSeconds: number; drained: boolean; tokens: readonly TokenRef[] }): number {
  const symbolOf = (key: string) => {
    const [scheme, address] = key.split(":");
    const token = run.tokens.find((t) => t.address === address);
    return `${scheme} ${token?.symbol ?? address}`;
  };
  const format = (table: Record<string, { count: number; amount: bigint }>) =>
    Object.entries(table)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, v]) => `    ${symbolOf(key).padEnd(16)} ${String(v.count).padStart(7)} payments  ${v.amount} atomic units`)
      .join("\n") || "    (none)";
  const problems = reconcileProblems(report);
  const checks: [string, boolean][] = [
    ["requests were served", tally.served > 0],
    [`failed requests ≤ ${maxErrorPercent}%`, (tally.requests - tally.served) * 100 <= maxErrorPercent * tally.requests],
    ["the settlement engine drained", run.drained],
    ["double charges = 0", report.doubleCharges.length === 0],
    ["lost settlements = 0", report.lost.length === 0],
    ["ledger and chain agree", report.mismatches.length === 0],
    ["no charge unknown to the ledger", report.unknownSpends.length === 0],
    ["every response an agent bought is in the ledger", tally.served === report.served],
    ["every confirmed payment is settled on chain", sameTotals(report.confirmedInLedger, report.settledOnChain)],
  ];
  const lines = [
    "",
    "=== load reconciliation report ===",
    `${run.agents} agents for ${run.loadSeconds.toFixed(1)} s`,
    `requests sent           ${tally.requests}  (${(tally.requests / run.loadSeconds).toFixed(1)}/s)`,
    `requests served (2xx)   ${tally.served}  (p50 ${percentile(tally.latenciesMs, 50).toFixed(0)} ms, p99 ${percentile(tally.latenciesMs, 99).toFixed(0)} ms)`,
    `answers by status       ${JSON.stringify(tally.statuses)}`,
    `errors                  ${JSON.stringify(tally.errors)}`,
    ...Object.entries(tally.samples).map(([key, message]) => `  e.g. ${key}: ${message}`),
    `served by scheme:token  ${JSON.stringify(tally.servedBy)}`,
    `ledger rows             ${JSON.stringify(report.rows)}`,
    `payments verified       ${report.verified}`,
    `payments served (ledger) ${report.served}`,
    "payments settled on chain, by token (chain events):",
    format(report.settledOnChain),
    "payments confirmed in the ledger, by token:",
    format(report.confirmedInLedger),
    `double charges          ${report.doubleCharges.length}`,
    `lost settlements        ${report.lost.length}`,
    `ledger/chain mismatches ${report.mismatches.length}`,
    `unknown charges         ${report.unknownSpends.length}`,
    ...problems.slice(0, 20).map((p) => `  ! ${p}`),
    ...(problems.length > 20 ? [`  ! … and ${problems.length - 20} more`] : []),
    "checks:",
    ...checks.map(([name, ok]) => `  ${ok ? "PASS" : "FAIL"}  ${name}`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  return checks.every(([, ok]) => ok) ? 0 : 1;
}

function sameTotals(ledger: ReconcileReport["confirmedInLedger"], chain: ReconcileReport["settledOnChain"]): boolean {
  const keys = new Set([...Object.keys(ledger), ...Object.keys(chain)]);
  for (const key of keys) {
    const a = ledger[key];
    const b = chain[key];
    if (a?.count !== b?.count || a?.amount !== b?.amount) return false;
  }
  return true;
}

// The whole run is bounded: funding, load, drain and reconciliation, plus a margin.
const watchdog = setTimeout(
  () => {
    process.stderr.write("[load] watchdog: the run took too long; exiting\n");
    try {
      if (chainPid !== undefined) process.kill(-chainPid, "SIGKILL");
    } catch {
      // Already gone.
    }
    process.exit(1);
  },
  (seconds + 900) * 1000 + drainTimeoutMs,
);
watchdog.unref();

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`[load] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
