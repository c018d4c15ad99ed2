import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { registerToken, type RegisterTokenArgs } from "../../lib/admin.js";
import { ScriptError } from "../../lib/tx.js";
import { runAdminAction } from "../run.js";

interface Args {
  token: string;
  min: string | undefined;
  max: string | undefined;
  key: string | undefined;
  methods: string;
  eip712Name: string | undefined;
  eip712Version: string | undefined;
  yes: boolean;
}

export default async function registerTokenAction(args: Args, hre: HardhatRuntimeEnvironment) {
  return runAdminAction(hre, args, async (ctx, store) => {
    if (args.min === undefined || args.max === undefined) throw new ScriptError("give the per-payment limits: --min <tokens> --max <tokens>");
    const request: RegisterTokenArgs = { token: args.token, min: args.min, max: args.max, methods: args.methods };
    if (args.key !== undefined) request.key = args.key;
    if (args.eip712Name !== undefined) request.eip712Name = args.eip712Name;
    if (args.eip712Version !== undefined) request.eip712Version = args.eip712Version;
    const token = await registerToken(ctx, store, request);
    console.log(`Registered ${token.key} (${token.address}) as ${token.status}; record: ${store.path}`);
    return token;
  });
}
