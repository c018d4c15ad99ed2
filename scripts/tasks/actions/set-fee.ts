import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { setFee } from "../../lib/admin.js";
import { runAdminAction } from "../run.js";

export default async function setFeeAction(args: { bps: number; yes: boolean }, hre: HardhatRuntimeEnvironment) {
  return runAdminAction(hre, args, async (ctx, store) => {
    const changed = await setFee(ctx, store, args.bps);
    if (changed) console.log(`The fee is now ${args.bps} bps; record: ${store.path}`);
    return changed;
  });
}
