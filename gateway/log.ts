import { pino, type Logger, type LoggerOptions } from "pino";

/**
 * The gateway's logger. Redaction is by path, not by value: any field that may carry a key, a
 * signed payment or a credential is censored wherever the logging call put it, so a careless
 * `log.info({ config })` cannot leak the signer key.
 */
export const REDACT_PATHS: readonly string[] = [
  "signerKey",
  "*.signerKey",
  "privateKey",
  "*.privateKey",
  "password",
  "*.password",
  "secret",
  "*.secret",
  "databaseUrl",
  "*.databaseUrl",
  "adminToken",
  "*.adminToken",
  "facilitatorTokens",
  "*.facilitatorTokens",
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["x-payment"]',
  'req.headers["payment-signature"]',
  "headers.authorization",
  'headers["x-payment"]',
  'headers["payment-signature"]',
];

export type { Logger };

export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } & LoggerOptions = {}): Logger {
  const { destination, ...rest } = options;
  const config: LoggerOptions = {
    level: options.level ?? process.env.LOG_LEVEL ?? "info",
    ...rest,
    redact: { paths: [...REDACT_PATHS], censor: "[redacted]" },
  };
  return destination === undefined ? pino(config) : pino(config, destination as pino.DestinationStream);
}

/** A logger that writes nothing, for tests. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
