import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { setTokenStatus } from "../../lib/admin.js";
import { runAdminAction } from "../run.js";

export default async function setTokenStatusAction(args: { token: string; yes: boolean }, hre: HardhatRuntimeEnvironment) {
  return runAdminAction(hre, args, async (ctx, store) => {
    const changed = await setTokenStatus(ctx, store, args.token, "Active");
    if (changed) console.log(`${args.token} is now Active; record: ${store.path}`);
    return changed;
  });
}
