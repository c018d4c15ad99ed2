import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { setPaused } from "../../lib/admin.js";
import { runAdminAction } from "../run.js";

export default async function pauseAction(args: { yes: boolean }, hre: HardhatRuntimeEnvironment) {
  return runAdminAction(hre, args, async (ctx, store) => {
    const changed = await setPaused(ctx, store, true);
    if (changed) console.log(`The escrow is now paused; record: ${store.path}`);
    return changed;
  });
}
