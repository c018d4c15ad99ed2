import { createEscrowAccount, formatAmount, parseAmount } from "../../sdk/index.js";
import type { CliContext } from "../context.js";
import { EXIT, type ExitCode } from "../errors.js";
import { details } from "../table.js";

export function escrowAccountOf(ctx: CliContext) {
  return createEscrowAccount({
    account: ctx.account,
    chainId: ctx.chainId,
    publicClient: ctx.publicClient,
    walletClient: ctx.walletClient,
    escrow: ctx.escrow(),
  });
}

/** `deposit <token> <amount>`: wallet → escrow, by permit when the token has one. */
export async function depositCommand(ctx: CliContext, tokenRef: string, amountText: string): Promise<ExitCode> {
  const token = await ctx.token(tokenRef);
  const amount = parseAmount(amountText, token.decimals);
  const account = escrowAccountOf(ctx);
  const result = await account.deposit(token.address, amount);
  const balance = await account.balance(token.address);
  const fmt = (v: bigint) => `${formatAmount(v, token.decimals)} ${token.symbol}`;
  ctx.io.stderr(
    `Deposited\n${details([
      ["Token", `${token.symbol} ${token.address}`],
      ["Amount", fmt(amount)],
      ["Method", result.method === "permit" ? "permit (one transaction)" : "approve + deposit"],
      ["Transactions", result.transactions.join(", ")],
      ["In escrow", fmt(balance.deposited)],
      ["In wallet", fmt(balance.wallet)],
    ]).replace(/^/gm, "  ")}`,
  );
  return EXIT.ok;
}
