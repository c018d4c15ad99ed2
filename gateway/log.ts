import { pino, type Logger, type LoggerOptions } from "pino";
import { BaseError } from "viem";

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

/**
 * An error as it may be logged. viem's errors carry the whole request in their message, calldata
 * included (a payer's signed authorization, which anyone reading the logs could then submit), so
 * only their one-line `shortMessage` is kept; the same for causes. Other errors keep their stack.
 */
export function loggableError(error: unknown): Record<string, unknown> {
  if (error instanceof BaseError) return { type: error.name, message: error.shortMessage };
  if (error instanceof Error) {
    const cause = error.cause instanceof BaseError ? { type: error.cause.name, message: error.cause.shortMessage } : undefined;
    const code = (error as { code?: unknown }).code;
    return {
      type: error.name,
      message: error.message,
      ...(typeof code === "string" ? { code } : {}),
      ...(cause === undefined ? { stack: error.stack } : { cause }),
    };
  }
  return { message: String(error) };
}
