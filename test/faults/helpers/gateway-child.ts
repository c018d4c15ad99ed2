/**
 * A gateway replica as a child process, for the crash tests: `node --import tsx gateway-child.ts`
 * with its settings in the environment (below). It is `createGateway` with the chain reached over
 * HTTP, a paid GET /quote, and two test-only control routes: POST /__test/settle runs one
 * settlement cycle (so the parent decides when a batch is made), POST /__test/start starts the
 * engine's timer (reconciliation first, as at a gateway's start). With KILL_AT set, the process
 * SIGKILLs itself around its first raw transaction broadcast:
 *   - `after-broadcast`: the node has the transaction (and mines it); the process dies before the
 *     engine hears back, so the batch stays `sending` in the database;
 *   - `before-broadcast`: the batch is signed and stored, nothing has left the process.
 * With WAIT_DRAINED=1 it prints "DRAINED" once nothing is owed to the chain any more.
 *
 * Environment: RPC_URL CHAIN_ID REGISTRY ESCROW PAY_TO SIGNER_PRIVATE_KEY WORKER_ID, DATABASE_URL +
 * DB_SCHEMA (PostgreSQL) or DATA_DIR (PGlite), LEASE_MS RECEIPT_TIMEOUT_MS INTERVAL_MS,
 * START_ENGINE=1, KILL_AT, WAIT_DRAINED=1, LOG_LEVEL.
 *
 * Only runs when executed directly: hardhat-mocha imports every .ts file under test/.
 */
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { type Address, type Hex, type Transport, createPublicClient, createWalletClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { loadConfig } from "../../../gateway/config/index.js";
import { type Database, migrate, openDatabase, openPostgres } from "../../../gateway/db/index.js";
import { createGateway } from "../../../gateway/http/index.js";
import { createLogger } from "../../../gateway/log.js";
import { parseUsd } from "../../../gateway/pricing/index.js";
import type { ChainReader, SettlementWallet } from "../../../gateway/schemes/index.js";
import { createSettlementEngine, settlementBacklog } from "../../../gateway/settlement/index.js";

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`${name} is not set`);
  return value;
}

/** The HTTP transport, with the process dying around `eth_sendRawTransaction` when asked to. */
function dyingTransport(url: string, killAt: string | undefined): Transport {
  const base = http(url, { timeout: 2_000, retryCount: 0 });
  return (params) => {
    const inner = base(params);
    return {
      ...inner,
      request: (async (args: { method: string; params?: unknown }) => {
        const broadcast = args.method === "eth_sendRawTransaction";
        if (broadcast && killAt === "before-broadcast") process.kill(process.pid, "SIGKILL");
        const result = await inner.request(args as never);
        if (broadcast && killAt === "after-broadcast") process.kill(process.pid, "SIGKILL");
        return result;
      }) as typeof inner.request,
    };
  };
}

async function openDb(): Promise<Database> {
  const url = process.env.DATABASE_URL;
  if (url !== undefined && url !== "") {
    const db = await openPostgres(url, { schema: env("DB_SCHEMA"), max: 5 });
    await migrate(db);
    return db;
  }
  return openDatabase({ url: "", dataDir: env("DATA_DIR") });
}

async function main(): Promise<void> {
  const rpcUrl = env("RPC_URL");
  const key = env("SIGNER_PRIVATE_KEY") as Hex;
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? "silent", destination: process.stderr });
  const transport = dyingTransport(rpcUrl, process.env.KILL_AT);
  const publicClient = createPublicClient({ transport, pollingInterval: 50, cacheTime: 0 }) as unknown as ChainReader;
  const walletClient = createWalletClient({ account: privateKeyToAccount(key), transport }) as unknown as SettlementWallet;
  const db = await openDb();
  const config = loadConfig({
    RPC_URL: rpcUrl,
    CHAIN_ID: env("CHAIN_ID"),
    DEPLOYMENTS_FILE: "deployments/unused.json",
    PAY_TO: env("PAY_TO"),
    SIGNER_PRIVATE_KEY: key,
    SETTLEMENT_HORIZON_SECONDS: "120",
    SCHEMES: "escrow",
  });
  let engine: ReturnType<typeof createSettlementEngine> | undefined;
  const parts = await createGateway({
    config,
    logger,
    db,
    publicClient,
    walletClient,
    contracts: { registry: env("REGISTRY") as Address, escrow: env("ESCROW") as Address },
    routes: (router, { paid }) => {
      router.get("/quote", paid({ priceUsd: parseUsd("0.01"), description: "Quote", mimeType: "application/json" }, async () => ({ body: { quote: 42 } })));
      router.post("/__test/settle", async (ctx) => {
        ctx.body = await engine!.runOnce();
      });
      router.post("/__test/start", (ctx) => {
        engine!.start();
        ctx.body = { started: true };
      });
    },
    settlementEngine: (options) =>
      (engine = createSettlementEngine({
        ...options,
        workerId: env("WORKER_ID"),
        intervalMs: Number(process.env.INTERVAL_MS ?? 200),
        leaseMs: Number(process.env.LEASE_MS ?? 15_000),
        receiptTimeoutMs: Number(process.env.RECEIPT_TIMEOUT_MS ?? 2_000),
      })),
  });
  const server = parts.app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));
  if (process.env.START_ENGINE === "1") parts.engine?.start();
  process.stdout.write(`LISTENING http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.closeAllConnections();
    server.close();
    await parts.close();
    await db.close();
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop());
  if (process.env.WAIT_DRAINED === "1") {
    for (;;) {
      const backlog = await settlementBacklog(db).catch(() => undefined);
      if (backlog !== undefined && backlog.pending === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    process.stdout.write("DRAINED\n");
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`gateway child failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
