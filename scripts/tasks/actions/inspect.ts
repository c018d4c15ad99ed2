import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { inspectEscrow } from "../../lib/admin.js";
import { splitList } from "../../lib/format.js";
import { runReadAction } from "../run.js";

export default async function inspectAction(args: { accounts: string[]; holds: string }, hre: HardhatRuntimeEnvironment) {
  return runReadAction(hre, async (client, record) => {
    const report = await inspectEscrow(client, record, { accounts: args.accounts, holds: splitList(args.holds) });
    console.log(report);
    return report;
  });
}
