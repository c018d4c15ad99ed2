/**
 * `npx hardhat ppa <task>`: admin tasks for a recorded deployment (deployments/<network>.json).
 * Registered in hardhat.config.ts. Only the definitions live here; each action is imported
 * lazily, so loading the config stays cheap.
 *
 *   npx hardhat ppa --help
 *   npx hardhat ppa register-token 0x… --min 0.0001 --max 1000 --network skaleBaseSepolia
 *   npx hardhat ppa deprecate-token USDT --network skaleBaseSepolia
 *   npx hardhat ppa set-fee 25 --network skaleBaseSepolia
 *   npx hardhat ppa inspect 0xAgent… --network localhost
 */
import { emptyTask, task } from "hardhat/config";
import { ArgumentType } from "hardhat/types/arguments";

const yesFlag = { name: "yes", description: "Confirm a state change on a mainnet (skaleBase)" } as const;

export const ppaTasks = [
  emptyTask("ppa", "PayPerAgent admin tasks on the deployment recorded in deployments/<network>.json").build(),

  task(["ppa", "register-token"], "Register a token; decimals, symbol and EIP-712 domain are read from the token")
    .addPositionalArgument({ name: "token", description: "Token address" })
    .addOption({ name: "min", description: "Per-payment minimum in whole tokens, e.g. 0.0001", type: ArgumentType.STRING_WITHOUT_DEFAULT, defaultValue: undefined })
    .addOption({ name: "max", description: "Per-payment maximum in whole tokens, e.g. 1000", type: ArgumentType.STRING_WITHOUT_DEFAULT, defaultValue: undefined })
    .addOption({ name: "key", description: "Name in the deployment record (default: the token's symbol)", type: ArgumentType.STRING_WITHOUT_DEFAULT, defaultValue: undefined })
    .addOption({ name: "methods", description: "auto (probe the token) or a comma list of eip3009,permit,erc20", defaultValue: "auto" })
    .addOption({ name: "eip712Name", description: "EIP-712 name, used only if the token cannot tell", type: ArgumentType.STRING_WITHOUT_DEFAULT, defaultValue: undefined })
    .addOption({ name: "eip712Version", description: "EIP-712 version, used only if the token cannot tell", type: ArgumentType.STRING_WITHOUT_DEFAULT, defaultValue: undefined })
    .addFlag(yesFlag)
    .setAction(() => import("./actions/register-token.js"))
    .build(),

  task(["ppa", "deprecate-token"], "Deprecate a token: no new deposits or holds; signed payments still settle, exits stay open")
    .addPositionalArgument({ name: "token", description: "Record key (e.g. USDC.e), symbol or address" })
    .addFlag(yesFlag)
    .setAction(() => import("./actions/deprecate-token.js"))
    .build(),

  task(["ppa", "remove-token"], "Remove a token: settlement stops too; exits (withdrawals, claims, refunds) stay open")
    .addPositionalArgument({ name: "token", description: "Record key (e.g. USDC.e), symbol or address" })
    .addFlag(yesFlag)
    .setAction(() => import("./actions/remove-token.js"))
    .build(),

  task(["ppa", "activate-token"], "Make a deprecated or removed token Active again")
    .addPositionalArgument({ name: "token", description: "Record key (e.g. USDC.e), symbol or address" })
    .addFlag(yesFlag)
    .setAction(() => import("./actions/activate-token.js"))
    .build(),

  task(["ppa", "set-fee"], "Set the operator fee taken from every settled payment")
    .addPositionalArgument({ name: "bps", description: "Basis points, 0..MAX_FEE_BPS (1000 = 10%)", type: ArgumentType.INT })
    .addFlag(yesFlag)
    .setAction(() => import("./actions/set-fee.js"))
    .build(),

  task(["ppa", "set-withdrawal-delay"], "Set the delay between requestWithdrawal and withdraw (future requests only)")
    .addPositionalArgument({ name: "delay", description: "Seconds, or a duration like 90m, 12h, 1d (bounds: 1h..30d)" })
    .addFlag(yesFlag)
    .setAction(() => import("./actions/set-withdrawal-delay.js"))
    .build(),

  task(["ppa", "pause"], "Pause the escrow: deposits, settlements and new holds stop; exits stay open")
    .addFlag(yesFlag)
    .setAction(() => import("./actions/pause.js"))
    .build(),

  task(["ppa", "unpause"], "Unpause the escrow")
    .addFlag(yesFlag)
    .setAction(() => import("./actions/unpause.js"))
    .build(),

  task(["ppa", "fund-agent"], "Local networks only: mint mock tokens to an agent and deposit some into the escrow for it")
    .addPositionalArgument({ name: "agent", description: "Agent address (or set AGENT_PRIVATE_KEY to let the agent deposit itself)", defaultValue: "" })
    .addOption({ name: "tokens", description: "Comma list of tokens (default: every mock token)", defaultValue: "" })
    .addOption({ name: "wallet", description: "Whole tokens to leave in the agent's wallet", defaultValue: "1000" })
    .addOption({ name: "deposit", description: "Whole tokens to deposit into the escrow for the agent", defaultValue: "100" })
    .addOption({ name: "native", description: "Top the agent's native (gas) balance up to this many whole units", defaultValue: "10" })
    .setAction(() => import("./actions/fund-agent.js"))
    .build(),

  task(["ppa", "inspect"], "Show the escrow's state per token, and per given account and hold")
    .addVariadicArgument({ name: "accounts", description: "Accounts to show balances, pending withdrawals and earnings for", defaultValue: [] })
    .addOption({ name: "holds", description: "Comma list of hold ids to show", defaultValue: "" })
    .setAction(() => import("./actions/inspect.js"))
    .build(),
];
