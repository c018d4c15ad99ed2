import { formatAmount, parseAmount } from "../../sdk/index.js";
import type { CliContext } from "../context.js";
import { CliError, EXIT, type ExitCode } from "../errors.js";
import { details } from "../table.js";
import { when } from "./balance.js";
import { escrowAccountOf } from "./deposit.js";

/**
 * `withdraw request <token> <amount|all>` starts the escrow's withdrawal delay;
 * `withdraw complete <token>` collects the whole pending withdrawal once unlocked.
 */
export async function withdrawCommand(ctx: CliContext, action: string | undefined, tokenRef: string | undefined, amountText: string | undefined): Promise<ExitCode> {
  if (action !== "request" && action !== "complete") throw new CliError("usage: withdraw request <token> <amount|all> | withdraw complete <token>");
  if (tokenRef === undefined) throw new CliError(`usage: withdraw ${action} <token>${action === "request" ? " <amount|all>" : ""}`);
  const token = await ctx.token(tokenRef);
  const account = escrowAccountOf(ctx);
  const fmt = (v: bigint) => `${formatAmount(v, token.decimals)} ${token.symbol}`;

  if (action === "request") {
    if (amountText === undefined) throw new CliError("usage: withdraw request <token> <amount|all>");
    const amount = amountText === "all" ? (await account.balance(token.address)).deposited : parseAmount(amountText, token.decimals);
    if (amount === 0n) throw new CliError(`nothing deposited in ${token.symbol} to withdraw`, EXIT.refused);
    const { hash, unlockAt } = await account.requestWithdrawal(token.address, amount);
    ctx.io.stderr(
      `Withdrawal requested\n${details([
        ["Token", `${token.symbol} ${token.address}`],
        ["Amount", fmt(amount)],
        ["Unlocks (UTC)", when(unlockAt)],
        ["Transaction", hash],
        ["Then run", `withdraw complete ${token.symbol}`],
      ]).replace(/^/gm, "  ")}`,
    );
    return EXIT.ok;
  }

  if (amountText !== undefined) throw new CliError("withdraw complete takes no amount: it collects the whole pending withdrawal");
  const pending = (await account.balance(token.address)).pendingWithdrawal;
  if (pending.amount === 0n) throw new CliError(`no pending withdrawal in ${token.symbol}: run "withdraw request ${token.symbol} <amount>" first`, EXIT.refused);
  const now = BigInt(Math.floor(Date.now() / 1000));
  const block = (await ctx.publicClient.getBlock()).timestamp;
  if (pending.unlockAt > (block > now ? block : now)) {
    throw new CliError(`the withdrawal of ${fmt(pending.amount)} unlocks at ${when(pending.unlockAt)}`, EXIT.refused);
  }
  const { hash, amount } = await account.withdraw(token.address);
  ctx.io.stderr(`Withdrawn\n${details([["Token", `${token.symbol} ${token.address}`], ["Amount", fmt(amount)], ["Transaction", hash]]).replace(/^/gm, "  ")}`);
  return EXIT.ok;
}
