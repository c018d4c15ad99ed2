import { parseArgs } from "node:util";
import { isAgentError } from "../sdk/index.js";
import { balanceCommand } from "./commands/balance.js";
import { commitCommand } from "./commands/commit.js";
import { depositCommand } from "./commands/deposit.js";
import { payCommand } from "./commands/pay.js";
import { withdrawCommand } from "./commands/withdraw.js";
import { type CliIo, loadContext } from "./context.js";
import { CliError, EXIT, type ExitCode, exitCodeOf } from "./errors.js";

export const USAGE = `Usage: agent <command> [options]

Commands:
  pay <url> [--method M] [--data TEXT|@FILE] [--header "Name: value"]...
            [--token T[,T...]] [--scheme S[,S...]] [--max-price P] [--daily-budget B]
      Fetch <url>, paying its 402 per the policy. Body to stdout, payment table to stderr.
      P and B are human amounts: "0.01" with one token, or "USDC=0.01,SKL=2".
  deposit <token> <amount>              Move tokens from the wallet into the escrow.
  commit <token> <amount> <payee>       Reserve part of the deposit for one payee.
  balance [token] [--payee ADDRESS]     Wallet, escrow and withdrawal balances.
  withdraw request <token> <amount|all> Start the escrow's withdrawal delay.
  withdraw complete <token>             Collect an unlocked withdrawal.

Environment:
  AGENT_PRIVATE_KEY   the agent's key (required; never printed)
  RPC_URL             JSON-RPC endpoint of the chain (required)
  DEPLOYMENTS_FILE    deployments/<network>.json: escrow and token addresses
  AGENT_TOKENS        tokens to pay with, preferred first (e.g. USDC.e,USDT)
  AGENT_SCHEMES       schemes, preferred first (default exact,escrow,transfer)
  AGENT_MAX_PRICE     maximum price per request, as --max-price
  AGENT_DAILY_BUDGET  maximum spent per UTC day, as --daily-budget
  AGENT_BUDGET_FILE   where today's spending is kept (default ~/.payperagent/agent-budget.json)

Exit codes: 0 ok, 1 HTTP error status, 2 usage or configuration, 3 refused by policy,
            4 payment or transaction failed, 5 chain or server unreachable.
`;

/** Runs one CLI invocation; never throws, never calls process.exit (tests call it in-process). */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<ExitCode> {
  try {
    return await dispatch(argv, env, io);
  } catch (error) {
    const code = exitCodeOf(error);
    io.stderr(`error: ${message(error)}\n`);
    if (code === EXIT.usage && error instanceof CliError && /^usage:/.test(error.message)) io.stderr(`\n${USAGE}`);
    return code;
  }
}

function message(error: unknown): string {
  if (isAgentError(error)) {
    const server = error.details?.["serverError"];
    return `${error.message}${typeof server === "string" && !error.message.includes(server) ? ` (server: ${server})` : ""} [${error.code}]`;
  }
  if (error instanceof CliError) return error.message;
  if (error instanceof TypeError && /fetch failed/i.test(error.message)) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return `cannot reach the server${cause ? ` (${cause})` : ""}`;
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

async function dispatch(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<ExitCode> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        method: { type: "string", short: "X" },
        data: { type: "string", short: "d" },
        header: { type: "string", short: "H", multiple: true },
        token: { type: "string", multiple: true },
        scheme: { type: "string", multiple: true },
        "max-price": { type: "string" },
        "daily-budget": { type: "string" },
        payee: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new CliError(`usage: ${(error as Error).message}`);
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  if (values.help === true || command === "help") {
    io.stdout(USAGE);
    return EXIT.ok;
  }
  if (command === undefined) {
    io.stderr(USAGE);
    return EXIT.usage;
  }
  const arity = (min: number, max: number, usage: string) => {
    if (args.length < min || args.length > max) throw new CliError(`usage: ${usage}`);
  };

  switch (command) {
    case "pay": {
      arity(1, 1, "pay <url> [options]");
      const ctx = await loadContext(env, io, { record: false });
      return payCommand(ctx, args[0]!, {
        ...(values.method === undefined ? {} : { method: values.method }),
        ...(values.data === undefined ? {} : { data: values.data }),
        ...(values.header === undefined ? {} : { header: values.header }),
        ...(values.token === undefined ? {} : { token: values.token }),
        ...(values.scheme === undefined ? {} : { scheme: values.scheme }),
        ...(values["max-price"] === undefined ? {} : { maxPrice: values["max-price"] }),
        ...(values["daily-budget"] === undefined ? {} : { dailyBudget: values["daily-budget"] }),
      });
    }
    case "deposit":
      arity(2, 2, "deposit <token> <amount>");
      return depositCommand(await loadContext(env, io, { record: true }), args[0]!, args[1]!);
    case "commit":
      arity(3, 3, "commit <token> <amount> <payee>");
      return commitCommand(await loadContext(env, io, { record: true }), args[0]!, args[1]!, args[2]!);
    case "balance":
      arity(0, 1, "balance [token] [--payee ADDRESS]");
      return balanceCommand(await loadContext(env, io, { record: true }), args[0], values.payee);
    case "withdraw":
      arity(2, 3, "withdraw request <token> <amount|all> | withdraw complete <token>");
      if (args[0] !== "request" && args[0] !== "complete") throw new CliError("usage: withdraw request <token> <amount|all> | withdraw complete <token>");
      return withdrawCommand(await loadContext(env, io, { record: true }), args[0], args[1], args[2]);
    default:
      throw new CliError(`usage: unknown command "${command}"`);
  }
}
