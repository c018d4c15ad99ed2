import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import type { Hex } from "viem";
import { formatFundAgentResult, fundAgent, type FundAgentArgs } from "../../lib/admin.js";
import { splitList } from "../../lib/format.js";
import { runAdminAction } from "../run.js";

interface Args {
  agent: string;
  tokens: string;
  wallet: string;
  deposit: string;
  native: string;
}

/** The agent's key, if any, comes only from the environment and is never printed. */
export default async function fundAgentAction(args: Args, hre: HardhatRuntimeEnvironment) {
  return runAdminAction(hre, {}, async (ctx, store) => {
    const request: FundAgentArgs = { tokens: splitList(args.tokens), walletAmount: args.wallet, depositAmount: args.deposit, nativeAmount: args.native };
    if (args.agent !== "") request.agent = args.agent;
    const key = process.env.AGENT_PRIVATE_KEY?.trim();
    if (key) request.agentPrivateKey = (key.startsWith("0x") ? key : `0x${key}`) as Hex;
    const result = await fundAgent(ctx, store, request);
    console.log(formatFundAgentResult(result));
    return result;
  });
}
