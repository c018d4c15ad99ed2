import { type AgentErrorCode, isAgentError } from "../sdk/index.js";

/**
 * Exit codes, so scripts can tell "fix your command" from "the agent refused to pay" from "the
 * chain is down" without parsing messages.
 */
export const EXIT = {
  ok: 0,
  /** The request was made (and possibly paid) but answered with a non-2xx status. */
  httpError: 1,
  /** Bad arguments or configuration. */
  usage: 2,
  /** The policy refused to pay: price, budget, funds, nothing acceptable. */
  refused: 3,
  /** A payment or transaction was attempted and failed or was rejected. */
  failed: 4,
  /** The chain or the server could not be reached. */
  unavailable: 5,
  /** A bug. */
  internal: 70,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A problem the user can fix, with the exit code it maps to. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.usage,
  ) {
    super(message);
  }
}

const exitByAgentCode: Record<AgentErrorCode, ExitCode> = {
  invalid_argument: EXIT.usage,
  signer_unsupported: EXIT.usage,
  no_acceptable_offer: EXIT.refused,
  price_too_high: EXIT.refused,
  budget_exceeded: EXIT.refused,
  insufficient_funds: EXIT.refused,
  invalid_challenge: EXIT.failed,
  payment_rejected: EXIT.failed,
  payment_failed: EXIT.failed,
  transaction_failed: EXIT.failed,
  chain_unavailable: EXIT.unavailable,
};

export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof CliError) return error.exitCode;
  if (isAgentError(error)) return exitByAgentCode[error.code];
  // fetch's network failures ("fetch failed", ECONNREFUSED) are a server we cannot reach.
  if (error instanceof TypeError && /fetch failed/i.test(error.message)) return EXIT.unavailable;
  return EXIT.internal;
}
