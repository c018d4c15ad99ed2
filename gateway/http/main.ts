/**
 * `node --import tsx gateway/http/main.ts`: loads the configuration from the environment (see the
 * variable reference in docs/operations.md), starts the gateway — payments, the paid API
 * catalogue, rate limits, analytics, metrics and dashboard, the facilitator API and the
 * settlement engine — and stops it cleanly on SIGINT/SIGTERM (in-flight requests finish, queued
 * analytics are written, then the database closes). Configuration and start-up problems end the
 * process with a one-paragraph explanation instead of a stack trace: exit code 2 for a bad
 * configuration, 1 for anything else.
 */
import { loadCatalogConfig } from "../catalog/index.js";
import { ConfigError, describeConfig, loadConfig } from "../config/index.js";
import { createLogger } from "../log.js";
import { builtinUpstreams } from "../upstreams/index.js";
import { StartupError, startGateway } from "./server.js";

function exitOnConfigError(error: unknown): void {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
    // Checked again when the gateway builds the catalogue; here so a typo fails before connecting.
    loadCatalogConfig(process.env, builtinUpstreams.map((u) => u.name));
  } catch (error) {
    exitOnConfigError(error);
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });
  logger.info({ config: describeConfig(config) }, "starting");
  try {
    const gateway = await startGateway(config, logger);
    const stop = (signal: string) => {
      logger.info({ signal }, "stopping");
      void gateway.close().then(() => process.exit(0));
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  } catch (error) {
    // The API catalogue's configuration (CATALOG_CONFIG, RUBY_PAIRS…) is read at start-up.
    exitOnConfigError(error);
    if (error instanceof StartupError) {
      logger.fatal(error.message);
      process.exit(1);
    }
    logger.fatal({ err: error }, "start-up failed");
    process.exit(1);
  }
}

await main();
