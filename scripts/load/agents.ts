/**
 * The load itself: every agent pays for catalogue calls through the agent SDK (`createPayFetch`)
 * in its own loop until the deadline, one request at a time, each request bounded by a timeout
 * and each loop by a request cap. Counts what the agents saw, to compare with the ledger.
 */
import { type PublicClient, createWalletClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { type PayFetch, createPayFetch, isAgentError } from "../../agent/sdk/index.js";
import { type LoadAgentPlan, fundingAmount } from "./fund.js";

export interface AgentTally {
  requests: number;
  /** 2xx answers to a paid request: responses the agents bought. */
  served: number;
  /** Answers by status. */
  statuses: Record<string, number>;
  /** Error codes of non-2xx answers and of SDK failures. */
  errors: Record<string, number>;
  /** Served answers per `scheme:token`. */
  servedBy: Record<string, number>;
  latenciesMs: number[];
  /** The first message seen for each error, to tell what went wrong. */
  samples: Record<string, string>;
}

export interface LoadRunOptions {
  readonly gatewayUrl: string;
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly publicClient: PublicClient;
  readonly agents: readonly LoadAgentPlan[];
  readonly deadline: number;
  /** Catalogue paths the agents call, round robin. */
  readonly paths: readonly string[];
  readonly maxRequestsPerAgent: number;
  readonly requestTimeoutMs: number;
}

export async function runAgents(options: LoadRunOptions): Promise<AgentTally> {
  const tally: AgentTally = { requests: 0, served: 0, statuses: {}, errors: {}, servedBy: {}, latenciesMs: [], samples: {} };
  const count = (table: Record<string, number>, key: string) => (table[key] = (table[key] ?? 0) + 1);
  const transport = http(options.rpcUrl);

  const loop = async (agent: LoadAgentPlan, index: number) => {
    const account = privateKeyToAccount(agent.key);
    const payFetch: PayFetch = createPayFetch({
      account,
      chainId: options.chainId,
      publicClient: options.publicClient as never,
      walletClient: createWalletClient({ account, transport }) as never,
      policy: { schemes: [agent.scheme], tokens: [{ address: agent.token.address, maxPrice: fundingAmount(agent.token), symbol: agent.token.symbol }] },
    });
    for (let i = 0; i < options.maxRequestsPerAgent && Date.now() < options.deadline; i++) {
      const path = options.paths[(index + i) % options.paths.length]!;
      tally.requests += 1;
      const started = performance.now();
      try {
        const { response } = await payFetch(`${options.gatewayUrl}${path}`, { signal: AbortSignal.timeout(options.requestTimeoutMs) });
        count(tally.statuses, String(response.status));
        if (response.ok) {
          await response.arrayBuffer();
          tally.served += 1;
          count(tally.servedBy, `${agent.scheme}:${agent.token.symbol}`);
          tally.latenciesMs.push(performance.now() - started);
        } else {
          const body = (await response.json().catch(() => ({}))) as { error?: string; message?: string };
          const key = `${response.status} ${body.error ?? "?"}`;
          count(tally.errors, key);
          tally.samples[key] ??= `${agent.scheme}/${agent.token.symbol}: ${body.message ?? ""}`.slice(0, 300);
        }
      } catch (error) {
        count(tally.statuses, "thrown");
        const key = isAgentError(error) ? `agent ${error.code}` : `client ${(error as Error).name}`;
        count(tally.errors, key);
        tally.samples[key] ??= `${agent.scheme}/${agent.token.symbol}: ${(error as Error).message}`.slice(0, 300);
      }
    }
  };
  await Promise.all(options.agents.map(loop));
  return tally;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
