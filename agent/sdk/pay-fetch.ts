import { encodeHeaderJson, type JsonObject } from "../../gateway/x402/index.js";
import type { AgentChain } from "./chain.js";
import { describe } from "./chain.js";
import { PAYMENT_HEADER, type PaymentChallenge, type PaymentOption, readChallenge, serverError } from "./challenge.js";
import { AgentError, isAgentError } from "./errors.js";
import { type PaymentPolicy, type Rejection, checkPolicy, rankOptions, refusal } from "./policy.js";
import { type PaymentReceipt, isCharged, readSettlement } from "./receipt.js";
import { DailyBudget, type Reservation, budgetKey } from "./budget.js";
import { escrowClient } from "./schemes/escrow.js";
import { exactClient } from "./schemes/exact.js";
import { transferClient } from "./schemes/transfer.js";
import type { SchemeClient } from "./schemes/types.js";

export interface PayFetchOptions extends AgentChain {
  readonly policy: PaymentPolicy;
  /** Shared by every call of this payFetch (and by whoever else holds it); default in memory. */
  readonly budget?: DailyBudget;
  /** Default `globalThis.fetch`. */
  readonly fetch?: typeof fetch;
}

export interface PayFetchResult {
  readonly response: Response;
  /** Undefined when the server asked for no payment. */
  readonly receipt: PaymentReceipt | undefined;
}

export type PayFetch = (input: string | URL | Request, init?: RequestInit) => Promise<PayFetchResult>;

/**
 * `fetch` that pays. A request answered with 402 is paid once, by the policy's most preferred
 * offer the agent can afford, and sent again with the payment; the second answer is returned
 * with a receipt whatever it is, except a second 402, which means the payment was refused and is
 * thrown (`payment_rejected`) rather than paid again. Never more than one payment per call.
 */
export function createPayFetch(options: PayFetchOptions): PayFetch {
  checkPolicy(options.policy);
  const fetchFn = options.fetch ?? globalThis.fetch;
  const budget = options.budget ?? new DailyBudget();
  const clients: readonly SchemeClient[] = [exactClient(), escrowClient(), transferClient()];
  let chainChecked: Promise<void> | undefined;

  // A reader on another chain would make every balance check and transfer meaningless.
  const checkChain = () =>
    (chainChecked ??= (async () => {
      if (options.publicClient === undefined) return;
      const actual = await options.publicClient.getChainId();
      if (actual !== options.chainId) {
        throw new AgentError("invalid_argument", `the RPC serves chain ${actual}, the agent is configured for ${options.chainId}`);
      }
    })().catch((error: unknown) => {
      chainChecked = undefined;
      throw isAgentError(error) ? error : new AgentError("chain_unavailable", describe(error), undefined, { cause: error });
    }));

  return async (input, init) => {
    const request = new Request(input, init);
    const retry = request.clone();
    const first = await fetchFn(request);
    if (first.status !== 402) return { response: first, receipt: undefined };

    const challenge = await readChallenge(first);
    await checkChain();
    const { candidates, rejected } = rankOptions(challenge.options, options.policy, options.chainId, clients);
    const chosen = await choose(options, budget, candidates, rejected);
    if (chosen === undefined) throw refusal(rejected, challenge.error);
    const { option, client, reservation } = chosen;

    let moved = false;
    const moneyMoved = async () => {
      moved = true;
      await reservation.commit();
    };
    let made;
    try {
      made = await client.pay(options, option, moneyMoved);
    } catch (error) {
      if (!moved) await reservation.release();
      if (isAgentError(error)) throw error;
      throw new AgentError("payment_failed", `paying with ${option.scheme} failed: ${describe(error)}`, undefined, { cause: error });
    }

    retry.headers.set(PAYMENT_HEADER[option.version], encodeHeaderJson(envelope(challenge, option, made.payload)));
    const base = {
      version: option.version,
      scheme: option.scheme,
      network: option.network,
      chainId: option.chainId as number,
      token: option.asset,
      amount: option.amount,
      payTo: option.payTo,
      payer: options.account.address,
      ...(made.transaction === undefined ? {} : { transaction: made.transaction }),
    };

    let second: Response;
    try {
      second = await fetchFn(retry);
    } catch (error) {
      // The payment left; whether the server used it is unknown, so it counts.
      if (!moved) await reservation.commit();
      throw new AgentError("payment_failed", `the paid request failed: ${describe(error)}; the payment may have been charged`, {
        receipt: { ...base, charged: true },
      }, { cause: error });
    }

    const settlement = readSettlement(second, option.version);
    const charged = moved || isCharged(second.status, settlement.settlement);
    if (!moved) await (charged ? reservation.commit() : reservation.release());
    const receipt: PaymentReceipt = { ...base, ...settlement, charged };

    if (second.status === 402) {
      const body = await second.text().catch(() => "");
      let parsed: JsonObject | undefined;
      try {
        parsed = JSON.parse(body) as JsonObject;
      } catch {
        parsed = undefined;
      }
      const code = serverError(parsed);
      const message = typeof parsed?.["message"] === "string" ? `: ${parsed["message"]}` : "";
      throw new AgentError("payment_rejected", `the server refused the ${option.scheme} payment (${code ?? "no code"})${message}`, {
        serverError: code,
        receipt,
      });
    }
    return { response: second, receipt };
  };
}

/**
 * The first candidate whose token budget has room and whose funds cover it; its amount stays
 * reserved until the payment is decided. Turned-down candidates join `rejected`.
 */
async function choose(
  agent: AgentChain,
  budget: DailyBudget,
  candidates: ReturnType<typeof rankOptions>["candidates"],
  rejected: Rejection[],
): Promise<{ option: PaymentOption; client: SchemeClient; reservation: Reservation } | undefined> {
  for (const { option, token, client } of candidates) {
    const key = budgetKey(agent.chainId, token.address);
    const reservation = await budget.reserve(key, option.amount, token.dailyBudget);
    if (reservation === undefined) {
      rejected.push({ option, stage: "budget_exceeded", reason: `${option.amount} would exceed today's budget ${token.dailyBudget} of ${token.symbol ?? token.address}` });
      continue;
    }
    let funded: boolean;
    try {
      funded = await client.canFund(agent, option);
    } catch (error) {
      await reservation.release();
      throw new AgentError("chain_unavailable", `could not read the funds for ${option.scheme}: ${describe(error)}`, undefined, { cause: error });
    }
    if (!funded) {
      await reservation.release();
      rejected.push({ option, stage: "insufficient_funds", reason: `${option.scheme} funds do not cover ${option.amount}` });
      continue;
    }
    return { option, client, reservation };
  }
  return undefined;
}

/** The payment header's JSON: v2 echoes the chosen entry and the resource verbatim. */
function envelope(challenge: PaymentChallenge, option: PaymentOption, payload: JsonObject): JsonObject {
  if (option.version === 1) return { x402Version: 1, scheme: option.scheme, network: option.network, payload };
  return {
    x402Version: 2,
    ...(challenge.resource === undefined ? {} : { resource: challenge.resource }),
    accepted: option.raw,
    payload,
  };
}
