/**
 * `node gateway/http/main.ts`: loads the configuration, starts the gateway, stops it cleanly on
 * SIGINT/SIGTERM. Configuration and start-up problems end the process with a one-paragraph
 * explanation instead of a stack trace.
 */
import { ConfigError, describeConfig, loadConfig } from "../config/index.js";
import { createLogger } from "../log.js";
import { StartupError, startGateway } from "./server.js";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
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
    if (error instanceof StartupError) {
      logger.fatal(error.message);
      process.exit(1);
    }
    logger.fatal({ err: error }, "start-up failed");
    process.exit(1);
  }
}

await main();
