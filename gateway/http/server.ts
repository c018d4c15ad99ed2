import { type Server, createServer } from "node:http";
import { type Address, createPublicClient, createWalletClient, http, isAddressEqual } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { readDeploymentRecord } from "../../scripts/lib/deployment-record.js";
import { type TokenCatalog, createTokenCatalog } from "../chain/token-catalog.js";
import type { GatewayConfig } from "../config/index.js";
import { type Database, openDatabase } from "../db/index.js";
import type { Logger } from "../log.js";
import { type PricedToken, createPaymentFlow } from "../payments/index.js";
import { stablecoinPriceSource } from "../pricing/index.js";
import { createExactScheme } from "../schemes/index.js";
import { type AppDeps, createApp } from "./app.js";

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

/**
 * Wires the production gateway from its configuration: database (migrated), chain clients (the
 * RPC must serve the configured chain), the token catalog of the recorded TokenRegistry, the exact
 * scheme, and the HTTP server. `routes` mounts the API catalogue.
 */
export async function startGateway(config: GatewayConfig, logger: Logger, routes?: AppDeps["routes"]): Promise<RunningGateway> {
  const record = readDeploymentRecord(config.deploymentsFile);
  if (record.chainId !== config.chainId) {
    throw new StartupError(`${config.deploymentsFile} is for chain ${record.chainId}, the gateway is configured for ${config.chainId}`);
  }
  const registry = record.contracts.TokenRegistry?.address as Address | undefined;
  if (registry === undefined) throw new StartupError(`${config.deploymentsFile} records no TokenRegistry`);

  const publicClient = createPublicClient({ transport: http(config.rpcUrl) });
  const rpcChainId = await publicClient.getChainId().catch((error: unknown) => {
    throw new StartupError(`the RPC at ${new URL(config.rpcUrl).host} cannot be reached: ${(error as Error).message}`);
  });
  if (rpcChainId !== config.chainId) {
    throw new StartupError(`the RPC serves chain ${rpcChainId}, the gateway is configured for ${config.chainId}`);
  }
  const walletClient = createWalletClient({ account: privateKeyToAccount(config.signerKey), transport: http(config.rpcUrl) });

  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch((error: unknown) => logger.error({ err: error }, "shutdown step failed"));
  };
  try {
    const db: Database = await openDatabase({
      ...(config.databaseUrl === undefined ? {} : { url: config.databaseUrl }),
      dataDir: config.dataDir,
      logger,
    });
    closers.push(() => db.close());
    const catalog: TokenCatalog = await createTokenCatalog({ client: publicClient, registry, logger });
    closers.push(() => catalog.close());

    const stablecoin = stablecoinPriceSource();
    const isStable = (address: Address, symbol: string) =>
      config.stablecoins === undefined ? /^USD/i.test(symbol) : config.stablecoins.some((a) => isAddressEqual(a, address));
    const tokens = (): PricedToken[] =>
      catalog
        .accepted()
        .filter((t) => isStable(t.address, t.symbol))
        .map((token) => ({ token, price: stablecoin }));

    const scheme = createExactScheme({ chainId: config.chainId, publicClient, walletClient });
    const flow = createPaymentFlow({ db, schemes: [scheme], tokens, payTo: config.payTo, log: logger });
    const app = createApp({
      logger,
      db,
      publicClient,
      flow,
      corsOrigins: config.corsOrigins,
      trustProxy: config.trustProxy,
      maxBodyBytes: config.maxBodyBytes,
      publicUrl: config.publicUrl,
      ...(routes === undefined ? {} : { routes }),
    });

    const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 120_000 }, app.callback());
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.port, config.host, () => resolve());
    });
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const address = server.address();
    const url = typeof address === "object" && address !== null ? `http://${config.host}:${address.port}` : String(address);
    logger.info({ url, chainId: config.chainId, payTo: config.payTo, signer: walletClient.account.address }, "gateway listening");
    return { server, url, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
