import { type Address, getAddress, isAddress } from "viem";
import { budgetKey, formatAmount } from "../../sdk/index.js";
import type { CliContext } from "../context.js";
import { CliError, EXIT, type ExitCode } from "../errors.js";
import { table } from "../table.js";
import { escrowAccountOf } from "./deposit.js";

/** A Unix time for humans, in UTC; "-" for none. */
export function when(seconds: bigint): string {
  return seconds === 0n ? "-" : new Date(Number(seconds) * 1000).toISOString().replace(".000Z", "Z");
}

/**
 * `balance [token] [--payee address]`: wallet, escrow deposit, pending withdrawal (and commitment to
 * a payee) per token, with what the daily budget has counted today.
 */
export async function balanceCommand(ctx: CliContext, tokenRef: string | undefined, payeeText: string | undefined): Promise<ExitCode> {
  let payee: Address | undefined;
  if (payeeText !== undefined) {
    if (!isAddress(payeeText, { strict: false })) throw new CliError(`--payee "${payeeText}" is not an address`);
    payee = getAddress(payeeText);
  }
  const tokens = tokenRef === undefined ? await ctx.recordTokens() : [await ctx.token(tokenRef)];
  const account = escrowAccountOf(ctx);
  const header = ["Token", "Wallet", "Escrow", "Withdrawing", "Unlocks (UTC)", ...(payee ? ["Committed", "Spendable"] : []), "Spent today"];
  const rows: string[][] = [];
  for (const token of tokens) {
    const b = await account.balance(token.address, payee);
    const fmt = (v: bigint) => formatAmount(v, token.decimals);
    const spent = await ctx.budget.usedToday(budgetKey(ctx.chainId, token.address));
    rows.push([
      token.symbol,
      fmt(b.wallet),
      fmt(b.deposited),
      fmt(b.pendingWithdrawal.amount),
      when(b.pendingWithdrawal.unlockAt),
      ...(payee ? [fmt(b.commitment?.amount ?? 0n), fmt(b.spendable ?? 0n)] : []),
      fmt(spent),
    ]);
  }
  ctx.io.stdout(`Account ${ctx.account.address} on chain ${ctx.chainId}\n${table(header, rows)}`);
  return EXIT.ok;
}
