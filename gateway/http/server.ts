import { type Server, createServer } from "node:http";
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import type Koa from "koa";
import { type Address, createPublicClient, createWalletClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { readDeploymentRecord } from "../../scripts/lib/deployment-record.js";
import { type Recorder, type Reputation, createRecorder, createReputation } from "../analytics/index.js";
import { type Catalog, createCatalog, loadCatalogConfig } from "../catalog/index.js";
import { type TokenCatalog, createTokenCatalog } from "../chain/token-catalog.js";
import type { GatewayConfig } from "../config/index.js";
import { type Database, openDatabase } from "../db/index.js";
import { createFacilitator } from "../facilitator/index.js";
import type { Logger } from "../log.js";
import { type CatalogueDescription, type GatewayMetrics, type SettlementBacklog, createMetrics } from "../observability/index.js";
import { type PaymentFlow, type PricedToken, createPaymentFlow } from "../payments/index.js";
import { createTokenPricer } from "../pricing/index.js";
import { type RateLimiter, createRateLimiter } from "../ratelimit/index.js";
import { settlementBacklog } from "../settlement/backlog.js";
import { builtinUpstreams } from "../upstreams/index.js";
import {
  type ChainReader,
  DEFAULT_ESCROW_VALIDITY_MARGIN_SECONDS,
  type PaymentScheme,
  type SettlementWallet,
  checkEscrowDeployment,
  createEscrowScheme,
  createExactScheme,
  createTransferScheme,
} from "../schemes/index.js";
import { type AppDeps, createApp } from "./app.js";
import { mountCatalog } from "./catalog-routes.js";
import type { AdminActions } from "./ops-routes.js";

/** Node's default is 16 KiB; x402 headers stay far below (the codec caps a value at 8 KiB). */
const MAX_HEADER_BYTES = 16 * 1024;

export interface RunningGateway {
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

export class StartupError extends Error {
  override readonly name = "StartupError";
}

/** What the settlement engine (gateway/settlement) needs for one chain. */
export interface SettlementChain {
  readonly chainId: number;
  readonly publicClient: ChainReader;
  readonly walletClient: SettlementWallet;
  readonly escrow: Address;
}

export interface SettlementEngineOptions {
  readonly db: Database;
  readonly chains: readonly SettlementChain[];
  readonly workerId: string;
  readonly log: Logger;
  readonly intervalMs?: number;
  readonly batchMax?: number;
  readonly simulation?: "always" | "retries";
  readonly onBatchMined?: (batch: { readonly status: "success" | "reverted"; readonly skipped: number }) => void;
}

export interface SettlementEngine {
  start(): void;
  stop(): Promise<void>;
  runOnce(): Promise<unknown>;
}

export type SettlementEngineFactory = (options: SettlementEngineOptions) => SettlementEngine;

/** Everything the gateway is made of, before it listens. */
export interface GatewayParts {
  readonly app: Koa;
  readonly flow: PaymentFlow;
  /** The token registry's view. */
  readonly catalog: TokenCatalog;
  /** The paid API catalogue; undefined when the caller mounted its own `routes`. */
  readonly apiCatalog: Catalog | undefined;
  readonly schemes: readonly PaymentScheme[];
  /** Undefined when this instance runs no settlement worker. */
  readonly engine: SettlementEngine | undefined;
  readonly metrics: GatewayMetrics;
  readonly recorder: Recorder;
  readonly reputation: Reputation;
  readonly limiter: RateLimiter;
  /** Stops the engine and the catalog and flushes the analytics; the database belongs to the caller. */
  close(): Promise<void>;
}

export interface GatewayDeps {
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly db: Database;
  readonly publicClient: ChainReader;
  /** Sends synchronous settlements (and the engine's batches) and pays their gas. */
  readonly walletClient: SettlementWallet;
  /** From the deployment record. */
  readonly contracts: { readonly registry: Address; readonly escrow: Address | undefined };
  /** Mounts these routes instead of the API catalogue (tests, embedding). */
  readonly routes?: AppDeps["routes"];
  /** Where the API catalogue reads CATALOG_CONFIG, upstream keys and base URLs; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Default: `createSettlementEngine` of gateway/settlement; `null` runs no engine. */
  readonly settlementEngine?: SettlementEngineFactory | null;
}

/**
 * Wires the gateway from configuration and open resources: the token catalog of the registry,
 * one instance of every configured scheme (exact, escrow against the recorded SettlementEscrow,
 * transfer proofs), the unsettled ledger, price sources, reputation discounts, the payment flow,
 * the paid API catalogue (unless `routes` replaces it), rate limits, analytics, metrics, the ops
 * routes, the facilitator API, the Koa app and the settlement engine. Checks the escrow
 * deployment against the settlement horizon first. `startGateway` is this plus the database,
 * chain clients and an HTTP server; tests call it with an in-process chain.
 */
export async function createGateway(deps: GatewayDeps): Promise<GatewayParts> {
  const { config, logger, db, publicClient, walletClient } = deps;
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch((error: unknown) => logger.error({ err: error }, "shutdown step failed"));
  };
  try {
    const wantsEscrow = config.schemes.includes("escrow");
    const escrow = deps.contracts.escrow;
    if (wantsEscrow && escrow === undefined) {
      throw new StartupError(`${config.deploymentsFile} records no SettlementEscrow; remove "escrow" from SCHEMES or deploy it`);
    }
    const horizon = BigInt(config.settlementHorizonSeconds);
    if (escrow !== undefined) {
      try {
        await checkEscrowDeployment(publicClient, {
          chainId: config.chainId,
          escrow,
          settlementHorizonSeconds: horizon,
          validityMarginSeconds: DEFAULT_ESCROW_VALIDITY_MARGIN_SECONDS,
        });
      } catch (error) {
        throw new StartupError(`the SettlementEscrow at ${escrow} is not usable: ${(error as Error).message}`, { cause: error });
      }
    }

    const catalog = await createTokenCatalog({ client: publicClient, registry: deps.contracts.registry, logger });
    closers.push(() => catalog.close());

    const schemes: PaymentScheme[] = [];
    const chainId = config.chainId;
    if (config.schemes.includes("exact")) schemes.push(createExactScheme({ chainId, publicClient, walletClient }));
    if (wantsEscrow && escrow !== undefined) {
      schemes.push(
        createEscrowScheme({
          chainId,
          escrow,
          publicClient,
          walletClient,
          settlementHorizonSeconds: horizon,
          headMaxAgeMs: config.chainHeadMaxAgeMs,
        }),
      );
    }
    if (config.schemes.includes("transfer")) {
      schemes.push(
        createTransferScheme({
          chainId,
          publicClient,
          minConfirmations: config.transferMinConfirmations,
          maxAgeSeconds: config.transferMaxAgeSeconds,
        }),
      );
    }

    const priceOf = createTokenPricer({ stablecoins: config.stablecoins, sources: config.priceSources, client: publicClient });
    const tokens = (): PricedToken[] =>
      catalog.accepted().flatMap((token) => {
        const price = priceOf(token);
        return price === undefined ? [] : [{ token, price }];
      });
    const unpriced = catalog.accepted().filter((token) => priceOf(token) === undefined).map((token) => token.symbol);
    if (unpriced.length > 0) logger.warn({ tokens: unpriced }, "tokens without a price source are not offered (see PRICE_SOURCES)");

    const workerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    const reputation = createReputation({ db });
    const flow = createPaymentFlow({
      db,
      schemes,
      tokens,
      payTo: config.payTo,
      log: logger,
      workerId,
      discountFor: (payer) => reputation.discountFor(payer),
      serveBeforeRecording: config.serveBeforeRecording,
    });

    const apiCatalog =
      deps.routes === undefined
        ? createCatalog(loadCatalogConfig(deps.env ?? process.env, builtinUpstreams.map((u) => u.name)), {
            env: deps.env ?? process.env,
            db,
            chainClient: publicClient,
            log: logger,
            onBreakerStateChange: (upstream, state) => logger.warn({ upstream, state }, "circuit breaker changed state"),
          })
        : undefined;
    const routes: AppDeps["routes"] =
      deps.routes ?? ((router, helpers) => mountCatalog(router, apiCatalog as Catalog, helpers, { maxBodyBytes: config.maxBodyBytes }));

    // Flushed before the database closes (the caller closes it after `close`).
    const recorder = createRecorder({ db, log: logger, onStored: (wallets) => reputation.invalidate(wallets) });
    closers.push(() => recorder.close());
    const limiter = createRateLimiter({
      db,
      windows: [
        { seconds: 60, max: config.rateLimitPerMinute },
        { seconds: 86_400, max: config.rateLimitPerDay },
      ],
    });
    const backlog = async (): Promise<SettlementBacklog> => {
      const { pending, oldestSeconds } = await settlementBacklog(db);
      return { pending, oldestAgeSeconds: oldestSeconds ?? 0 };
    };
    const breakerStates = apiCatalog === undefined ? undefined : () => apiCatalog.breakers.breakerStates();
    const metrics = createMetrics({ backlog, analytics: recorder, ...(breakerStates === undefined ? {} : { breakerStates }) });

    const facilitator = createFacilitator({
      db,
      schemes,
      chains: [
        {
          chainId,
          tokens: () => catalog.accepted(),
          signers: [walletClient.account.address],
          ...(escrow === undefined || !wantsEscrow ? {} : { kindExtra: { escrow: { escrow } } }),
        },
      ],
      log: logger,
    });

    const app = createApp({
      logger,
      db,
      publicClient,
      flow,
      corsOrigins: config.corsOrigins,
      trustProxy: config.trustProxy,
      maxBodyBytes: config.maxBodyBytes,
      publicUrl: config.publicUrl,
      routes,
      metrics,
      recorder,
      limiter,
      ops: {
        db,
        metrics,
        catalogue: () => (apiCatalog === undefined ? [] : describeCatalogue(apiCatalog)),
        quote: async (entry, resource) => {
          const route = apiCatalog?.byPath(entry.path);
          return route === undefined ? [] : flow.quote(route, resource);
        },
        ...(config.publicUrl === undefined ? {} : { publicUrl: config.publicUrl }),
        tokenInfo: (address) => catalog.get(address),
        ...(breakerStates === undefined ? {} : { breakerStates }),
        backlog,
        ...(config.adminToken === undefined ? {} : { adminToken: config.adminToken }),
        admin: adminActions(apiCatalog, catalog),
        log: logger,
      },
      facilitator: {
        facilitator,
        tokens: config.facilitatorTokens,
        unauthenticated: config.facilitatorOpen ? "open" : "loopback",
      },
      health: {
        ...(breakerStates === undefined ? {} : { breakers: breakerStates }),
        settlementBacklog: () => settlementBacklog(db),
        settlementHorizonSeconds: config.settlementHorizonSeconds,
        tokens: () => catalog.health(),
      },
    });

    let engine: SettlementEngine | undefined;
    if (config.settlementWorker && deps.settlementEngine !== null) {
      if (escrow === undefined) {
        logger.warn("no SettlementEscrow recorded: this instance runs no settlement engine");
      } else {
        const factory = deps.settlementEngine ?? (await defaultSettlementEngine());
        engine = factory({
          db,
          chains: [{ chainId, publicClient, walletClient, escrow }],
          workerId,
          log: logger,
          intervalMs: config.settlementIntervalMs,
          batchMax: config.settlementBatchMax,
          simulation: config.settlementSimulation,
          onBatchMined: (batch) => metrics.countMinedBatch(batch),
        });
        const running = engine;
        closers.push(() => running.stop());
      }
    }
    return { app, flow, catalog, apiCatalog, schemes, engine, metrics, recorder, reputation, limiter, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** The paid routes as /openapi.json and the discovery list describe them. */
function describeCatalogue(apiCatalog: Catalog): CatalogueDescription[] {
  return apiCatalog.routes.map((route) => ({
    name: route.id,
    method: route.method,
    path: route.path,
    description: route.description,
    priceUsd: route.priceUsd,
    input: route.input,
    mimeType: route.mimeType,
    enabled: route.enabled,
    ...(route.disabledReason === undefined ? {} : { disabledReason: route.disabledReason }),
    tags: [route.source],
  }));
}

/** What /admin/* can do; the cache and breaker actions need the API catalogue. */
function adminActions(apiCatalog: Catalog | undefined, tokens: TokenCatalog): AdminActions {
  const refreshTokens = async () => {
    await tokens.refresh();
    return { accepted: tokens.accepted().map((token) => token.symbol), syncedBlock: tokens.health().syncedBlock };
  };
  if (apiCatalog === undefined) return { refreshTokens };
  return {
    refreshTokens,
    clearCache: () => apiCatalog.cache.clear(),
    resetBreaker: (name) => {
      try {
        apiCatalog.breakers.resetBreaker(name);
        return true;
      } catch (error) {
        // The breakers' way of saying "no such upstream": a 404, not a 500.
        if (error instanceof RangeError) return false;
        throw error;
      }
    },
  };
}

/** Loaded on demand: only a running gateway needs the engine, so the HTTP layer's tests do not. */
async function defaultSettlementEngine(): Promise<SettlementEngineFactory> {
  const { createSettlementEngine } = await import("../settlement/index.js");
  return createSettlementEngine as SettlementEngineFactory;
}

export interface StartOptions {
  /** In-process chain clients instead of `config.rpcUrl` and the signer key (tests). */
  readonly chain?: { readonly publicClient: ChainReader; readonly walletClient: SettlementWallet };
  readonly settlementEngine?: SettlementEngineFactory | null;
  /** Where the API catalogue reads its variables; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Starts the production gateway from its configuration: database (migrated), chain clients (the
 * RPC must serve the configured chain), the contracts of the deployment record, `createGateway`,
 * the HTTP server, and then the settlement engine. The API catalogue is read from `options.env`
 * (default process.env) unless `routes` replaces it.
 */
export async function startGateway(
  config: GatewayConfig,
  logger: Logger,
  routes?: AppDeps["routes"],
  options: StartOptions = {},
): Promise<RunningGateway> {
  const record = readDeploymentRecord(config.deploymentsFile);
  if (record.chainId !== config.chainId) {
    throw new StartupError(`${config.deploymentsFile} is for chain ${record.chainId}, the gateway is configured for ${config.chainId}`);
  }
  const registry = record.contracts.TokenRegistry?.address as Address | undefined;
  if (registry === undefined) throw new StartupError(`${config.deploymentsFile} records no TokenRegistry`);
  const escrow = record.contracts.SettlementEscrow?.address as Address | undefined;

  // viem's defaults (10 s, 3 retries) would hold a paid request ~40 s on a hanging node before the 503.
  // The reads one verification makes at once go out as one JSON-RPC batch (bench: 1.8x paid throughput).
  const transport = () => http(config.rpcUrl, { timeout: 5_000, retryCount: 1, batch: { wait: 0 } });
  const publicClient: ChainReader = options.chain?.publicClient ?? createPublicClient({ transport: transport() });
  const rpcChainId = await publicClient.getChainId().catch((error: unknown) => {
    throw new StartupError(`the RPC at ${new URL(config.rpcUrl).host} cannot be reached: ${(error as Error).message}`);
  });
  if (rpcChainId !== config.chainId) {
    throw new StartupError(`the RPC serves chain ${rpcChainId}, the gateway is configured for ${config.chainId}`);
  }
  const walletClient: SettlementWallet =
    options.chain?.walletClient ?? createWalletClient({ account: privateKeyToAccount(config.signerKey), transport: transport() });

  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch((error: unknown) => logger.error({ err: error }, "shutdown step failed"));
  };
  try {
    const db: Database = await openDatabase({
      ...(config.databaseUrl === undefined ? {} : { url: config.databaseUrl }),
      postgres: { preparedStatements: config.databasePreparedStatements },
      dataDir: config.dataDir,
      logger,
    });
    closers.push(() => db.close());
    const parts = await createGateway({
      config,
      logger,
      db,
      publicClient,
      walletClient,
      contracts: { registry, escrow },
      ...(routes === undefined ? {} : { routes }),
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.settlementEngine === undefined ? {} : { settlementEngine: options.settlementEngine }),
    });
    closers.push(() => parts.close());

    const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 120_000 }, parts.app.callback());
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.port, config.host, () => resolve());
    });
    // Closed before the engine stops, so no request is left half-paid.
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    parts.engine?.start();
    const address = server.address();
    const url = typeof address === "object" && address !== null ? `http://${config.host}:${address.port}` : String(address);
    logger.info(
      {
        url,
        chainId: config.chainId,
        payTo: config.payTo,
        signer: walletClient.account.address,
        schemes: parts.schemes.map((s) => s.name),
        routes: parts.apiCatalog?.routes.filter((r) => r.enabled).map((r) => r.path),
        facilitator: config.facilitatorTokens.length > 0 ? "tokens" : config.facilitatorOpen ? "open" : "loopback only",
        admin: config.adminToken !== undefined,
      },
      "gateway listening",
    );
    return { server, url, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
