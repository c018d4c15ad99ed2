import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { setPaused } from "../../lib/admin.js";
import { runAdminAction } from "../run.js";

export default async function unpauseAction(args: { yes: boolean }, hre: HardhatRuntimeEnvironment) {
  return runAdminAction(hre, args, async (ctx, store) => {
    const changed = await setPaused(ctx, store, false);
    if (changed) console.log(`The escrow is now unpaused; record: ${store.path}`);
    return changed;
  });
}
