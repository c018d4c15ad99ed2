import { type Address, isAddressEqual } from "viem";
import type { PaymentOption } from "./challenge.js";
import { AgentError, type AgentErrorCode } from "./errors.js";
import { SCHEME_NAMES, type SchemeClient, type SchemeName, isSchemeName } from "./schemes/types.js";

/** What the agent may pay with one token. */
export interface TokenPolicy {
  readonly address: Address;
  /** The most one request may cost, in atomic units. Required: there is no "any price". */
  readonly maxPrice: bigint;
  /** The most all payments of one UTC day may cost, in atomic units; omit for no daily limit. */
  readonly dailyBudget?: bigint;
  /** For messages and tables ("USDC"). */
  readonly symbol?: string;
}

export interface PaymentPolicy {
  /** The only tokens the agent pays with, most preferred first. */
  readonly tokens: readonly TokenPolicy[];
  /** The schemes it uses, most preferred first; default {@link DEFAULT_SCHEMES}. */
  readonly schemes?: readonly SchemeName[];
}

/**
 * `exact` first (no deposit, no gas), then `escrow` (needs a deposit; no gas per payment), then
 * `transfer` (the agent sends a transaction and pays its gas).
 */
export const DEFAULT_SCHEMES: readonly SchemeName[] = SCHEME_NAMES;

/**
 * How far an offer got before it was turned down, in the order the checks run. The furthest stage
 * any offer reached names the refusal: an agent whose budget is spent hears "budget", not "no
 * acceptable offer".
 */
export const REJECTION_STAGES = ["not_acceptable", "price_too_high", "budget_exceeded", "insufficient_funds"] as const;
export type RejectionStage = (typeof REJECTION_STAGES)[number];

export interface Rejection {
  readonly option: PaymentOption;
  readonly stage: RejectionStage;
  readonly reason: string;
}

export interface Candidate {
  readonly option: PaymentOption;
  readonly token: TokenPolicy;
  readonly client: SchemeClient;
}

export function checkPolicy(policy: PaymentPolicy): void {
  if (policy.tokens.length === 0) throw new AgentError("invalid_argument", "the policy allows no token");
  for (const t of policy.tokens) {
    if (t.maxPrice < 0n) throw new AgentError("invalid_argument", `maxPrice of ${t.symbol ?? t.address} is negative`);
    if (t.dailyBudget !== undefined && t.dailyBudget < 0n) {
      throw new AgentError("invalid_argument", `dailyBudget of ${t.symbol ?? t.address} is negative`);
    }
  }
  for (const s of policy.schemes ?? []) {
    if (!isSchemeName(s)) throw new AgentError("invalid_argument", `unknown scheme ${String(s)}`);
  }
}

/**
 * The offers the policy allows, most preferred first (token preference, then scheme preference),
 * and why each other offer was turned down. Pure: budget and funds are checked afterwards, in
 * this order, because they cost a file lock or an RPC.
 */
export function rankOptions(
  options: readonly PaymentOption[],
  policy: PaymentPolicy,
  chainId: number,
  clients: readonly SchemeClient[],
): { candidates: Candidate[]; rejected: Rejection[] } {
  const schemes = policy.schemes ?? DEFAULT_SCHEMES;
  const candidates: (Candidate & { rank: number })[] = [];
  const rejected: Rejection[] = [];
  for (const option of options) {
    const reject = (stage: RejectionStage, reason: string) => rejected.push({ option, stage, reason });
    if (option.chainId !== chainId) {
      reject("not_acceptable", `network ${option.network} is not chain ${chainId}`);
      continue;
    }
    const schemeRank = schemes.indexOf(option.scheme as SchemeName);
    const client = clients.find((c) => c.name === option.scheme);
    if (schemeRank < 0 || client === undefined) {
      reject("not_acceptable", `scheme ${option.scheme} is not allowed`);
      continue;
    }
    const tokenRank = policy.tokens.findIndex((t) => isAddressEqual(t.address, option.asset));
    const token = policy.tokens[tokenRank];
    if (token === undefined) {
      reject("not_acceptable", `token ${option.asset} is not allowed`);
      continue;
    }
    const unpayable = client.unpayable(option);
    if (unpayable !== undefined) {
      reject("not_acceptable", unpayable);
      continue;
    }
    if (option.amount > token.maxPrice) {
      reject("price_too_high", `${option.amount} exceeds the maximum price ${token.maxPrice} of ${token.symbol ?? token.address}`);
      continue;
    }
    candidates.push({ option, token, client, rank: tokenRank * schemes.length + schemeRank });
  }
  // Stable: among equal ranks the server's own order decides.
  candidates.sort((a, b) => a.rank - b.rank);
  return { candidates: candidates.map(({ rank: _rank, ...c }) => c), rejected };
}

const codeByStage: Record<RejectionStage, AgentErrorCode> = {
  not_acceptable: "no_acceptable_offer",
  price_too_high: "price_too_high",
  budget_exceeded: "budget_exceeded",
  insufficient_funds: "insufficient_funds",
};

/** The refusal when nothing can be paid: named after the furthest stage any offer reached. */
export function refusal(rejected: readonly Rejection[], serverError: string | undefined): AgentError {
  let furthest = 0;
  for (const r of rejected) furthest = Math.max(furthest, REJECTION_STAGES.indexOf(r.stage));
  const stage = REJECTION_STAGES[furthest] as RejectionStage;
  const reasons = rejected.filter((r) => r.stage === stage).map((r) => `${r.option.scheme}/${r.option.asset}: ${r.reason}`);
  const message = rejected.length === 0 ? "the server offered nothing this client can read" : `refused to pay: ${reasons.join("; ")}`;
  return new AgentError(codeByStage[stage], message, {
    serverError,
    rejected: rejected.map((r) => ({
      scheme: r.option.scheme,
      network: r.option.network,
      asset: r.option.asset,
      amount: r.option.amount.toString(),
      stage: r.stage,
      reason: r.reason,
    })),
  });
}
