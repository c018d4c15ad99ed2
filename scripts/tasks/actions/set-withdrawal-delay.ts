import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { setWithdrawalDelay } from "../../lib/admin.js";
import { formatDuration, parseDuration } from "../../lib/format.js";
import { ScriptError } from "../../lib/tx.js";
import { runAdminAction } from "../run.js";

export default async function setWithdrawalDelayAction(args: { delay: string; yes: boolean }, hre: HardhatRuntimeEnvironment) {
  return runAdminAction(hre, args, async (ctx, store) => {
    let seconds: number;
    try {
      seconds = parseDuration(args.delay, "delay");
    } catch (error) {
      throw new ScriptError((error as Error).message);
    }
    const changed = await setWithdrawalDelay(ctx, store, seconds);
    if (changed) console.log(`The withdrawal delay is now ${formatDuration(seconds)}; record: ${store.path}`);
    return changed;
  });
}
