import { getAddress, isAddress } from "viem";
import { formatAmount, parseAmount } from "../../sdk/index.js";
import type { CliContext } from "../context.js";
import { CliError, EXIT, type ExitCode } from "../errors.js";
import { details } from "../table.js";
import { escrowAccountOf } from "./deposit.js";

/** `commit <token> <amount> <payee>`: reserve part of the deposit for one gateway (faster, async-settled payments). */
export async function commitCommand(ctx: CliContext, tokenRef: string, amountText: string, payeeText: string): Promise<ExitCode> {
  if (!isAddress(payeeText, { strict: false })) throw new CliError(`payee "${payeeText}" is not an address`);
  const payee = getAddress(payeeText);
  const token = await ctx.token(tokenRef);
  const amount = parseAmount(amountText, token.decimals);
  const account = escrowAccountOf(ctx);
  const hash = await account.commit(token.address, payee, amount);
  const b = await account.balance(token.address, payee);
  const fmt = (v: bigint) => `${formatAmount(v, token.decimals)} ${token.symbol}`;
  ctx.io.stderr(
    `Committed\n${details([
      ["Token", `${token.symbol} ${token.address}`],
      ["Payee", payee],
      ["Amount", fmt(amount)],
      ["Committed now", fmt(b.commitment?.amount ?? 0n)],
      ["Transaction", hash],
    ]).replace(/^/gm, "  ")}`,
  );
  return EXIT.ok;
}
