import { readFileSync } from "node:fs";
import { type PaymentReceipt, budgetKey, createPayFetch, formatAmount, isAgentError } from "../../sdk/index.js";
import type { CliContext, CliToken } from "../context.js";
import { CliError, EXIT, type ExitCode } from "../errors.js";
import { buildPolicy, flagList } from "../policy.js";
import { details } from "../table.js";

export interface PayFlags {
  readonly method?: string;
  readonly data?: string;
  readonly header?: readonly string[];
  readonly maxPrice?: string;
  readonly dailyBudget?: string;
  readonly token?: readonly string[];
  readonly scheme?: readonly string[];
}

/**
 * `pay <url>`: the request, paid per the policy if the server asks. The response body goes to
 * stdout untouched (so it can be piped); the payment table goes to stderr.
 */
export async function payCommand(ctx: CliContext, url: string, flags: PayFlags): Promise<ExitCode> {
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw new CliError(`"${url}" is not an http(s) URL`);
  const { policy, tokens } = await buildPolicy(ctx, {
    tokens: flagList(flags.token),
    schemes: flagList(flags.scheme),
    ...(flags.maxPrice === undefined ? {} : { maxPrice: flags.maxPrice }),
    ...(flags.dailyBudget === undefined ? {} : { dailyBudget: flags.dailyBudget }),
  });
  const init: RequestInit = { method: (flags.method ?? (flags.data === undefined ? "GET" : "POST")).toUpperCase(), headers: headers(flags.header) };
  if (flags.data !== undefined) init.body = flags.data.startsWith("@") ? readFileSync(flags.data.slice(1)) : flags.data;

  const payFetch = createPayFetch({
    account: ctx.account,
    chainId: ctx.chainId,
    publicClient: ctx.publicClient,
    walletClient: ctx.walletClient,
    policy,
    budget: ctx.budget,
  });
  let result;
  try {
    result = await payFetch(url, init);
  } catch (error) {
    const receipt = isAgentError(error) ? (error.details?.["receipt"] as PaymentReceipt | undefined) : undefined;
    if (receipt !== undefined) ctx.io.stderr(await describeReceipt(ctx, url, undefined, receipt, tokens));
    throw error;
  }
  const { response, receipt } = result;
  const status = `${response.status} ${response.statusText}`.trim();
  ctx.io.stderr(receipt === undefined ? `No payment needed (${status})\n` : await describeReceipt(ctx, url, status, receipt, tokens));
  const body = Buffer.from(await response.arrayBuffer());
  if (body.length > 0) ctx.io.stdout(body.toString("utf8"));
  return response.ok ? EXIT.ok : EXIT.httpError;
}

function headers(values: readonly string[] | undefined): Headers {
  const result = new Headers();
  for (const value of values ?? []) {
    const colon = value.indexOf(":");
    if (colon <= 0) throw new CliError(`--header "${value}" is not "Name: value"`);
    result.append(value.slice(0, colon).trim(), value.slice(colon + 1).trim());
  }
  return result;
}

async function describeReceipt(ctx: CliContext, url: string, status: string | undefined, receipt: PaymentReceipt, tokens: readonly CliToken[]): Promise<string> {
  const token = tokens.find((t) => t.address.toLowerCase() === receipt.token.toLowerCase());
  const amount = (atomic: bigint) => (token === undefined ? `${atomic} units` : `${formatAmount(atomic, token.decimals)} ${token.symbol}`);
  const settlement = receipt.settlement;
  const rows: [string, string][] = [
    ["URL", url],
    ...(status === undefined ? [] : ([["Status", status]] as [string, string][])),
    ["Scheme", `${receipt.scheme} (x402 v${receipt.version}, ${receipt.network})`],
    ["Token", `${token?.symbol ?? "?"} ${receipt.token}`],
    ["Price", amount(receipt.amount)],
    ["Pay to", receipt.payTo],
  ];
  if (receipt.transaction !== undefined) rows.push(["Transfer", receipt.transaction]);
  rows.push([
    "Settlement",
    settlement === undefined
      ? receipt.settlementError ?? (status === undefined ? "none (the payment was not accepted)" : "none reported (settled later)")
      : settlement.success
        ? `${settlement.transaction} (success)`
        : `not charged: ${settlement.errorReason}`,
  ]);
  rows.push(["Charged", receipt.charged ? "yes" : "no"]);
  const policy = token === undefined ? undefined : await ctx.budget.usedToday(budgetKey(ctx.chainId, token.address));
  if (policy !== undefined) rows.push(["Spent today", amount(policy)]);
  return `Payment\n${details(rows).replace(/^/gm, "  ")}`;
}
