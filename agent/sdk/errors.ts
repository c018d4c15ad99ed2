/**
 * The SDK's own failures. Callers branch on `code`, so a code is never renamed or reused for a
 * different meaning. These are the client's verdicts (what the agent refused to do, or what went
 * wrong while paying); the gateway's verdicts arrive as its own codes in `details.serverError`.
 */
export const agentErrorCodes = {
  /** The 402 carried no challenge this client can read. */
  invalid_challenge: "the 402 response carries no readable payment challenge",
  /** Nothing offered is on this chain, in an allowed scheme and an allowed token. */
  no_acceptable_offer: "no offer matches the allowed chain, schemes and tokens",
  /** Acceptable offers exist, but every one costs more than the per-request maximum. */
  price_too_high: "every acceptable offer costs more than the maximum price per request",
  /** Paying any acceptable offer would exceed the daily budget of its token. */
  budget_exceeded: "paying would exceed the daily budget",
  /** The wallet (or the escrow deposit) cannot cover any acceptable offer. */
  insufficient_funds: "the wallet or escrow deposit cannot cover any acceptable offer",
  /** The server answered 402 again after being paid: the payment was refused. */
  payment_rejected: "the server refused the payment",
  /** Signing or sending the payment failed on this side. */
  payment_failed: "the payment could not be made",
  /** The configured signer cannot do what the payment needs (e.g. send a transfer). */
  signer_unsupported: "the signer cannot make this kind of payment",
  /** An escrow or token transaction was refused or failed. */
  transaction_failed: "the transaction failed",
  /** The chain could not be reached. */
  chain_unavailable: "the chain cannot be reached",
  /** Bad arguments to an SDK function (amounts, addresses, configuration). */
  invalid_argument: "invalid argument",
} as const;

export type AgentErrorCode = keyof typeof agentErrorCodes;

export class AgentError extends Error {
  override readonly name = "AgentError";
  readonly code: AgentErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: AgentErrorCode, message?: string, details?: Readonly<Record<string, unknown>>, options?: { cause?: unknown }) {
    super(message ?? agentErrorCodes[code], options);
    this.code = code;
    this.details = details;
  }
}

export function isAgentError(value: unknown, code?: AgentErrorCode): value is AgentError {
  return value instanceof AgentError && (code === undefined || value.code === code);
}
