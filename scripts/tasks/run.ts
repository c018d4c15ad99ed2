/**
 * Shared plumbing of the `ppa` task actions: connect, load the record, check it matches the
 * chain, run the action, print anticipated failures as one clear line (exit code 1) instead of
 * Hardhat's "unexpected error" stack trace.
 */
import { existsSync } from "node:fs";
import { errorResult, successfulResult } from "hardhat/utils/result";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { styleText } from "node:util";
import { getAddress, type PublicClient } from "viem";
import { assertRecordMatchesChain } from "../lib/admin.js";
import type { ChainContext } from "../lib/context.js";
import { deploymentRecordPath, deploymentsDir, type DeploymentRecord } from "../lib/deployment-record.js";
import { createChainContext, networkNameOf } from "../lib/hardhat-context.js";
import { RecordStore } from "../lib/journal.js";
import { loadNetworkConfig, networkConfigPath } from "../lib/network-config.js";
import { isExpectedError } from "../lib/report.js";
import { ScriptError } from "../lib/tx.js";

export type TaskResult = { success: true; value: unknown } | { success: false; error: string };

function fail(error: unknown): TaskResult {
  if (!isExpectedError(error)) throw error;
  console.error(`${styleText(["red", "bold"], "Error:")} ${error.message}`);
  return errorResult(error.message);
}

function recordPathFor(hre: HardhatRuntimeEnvironment): string {
  return deploymentRecordPath(deploymentsDir(hre.config.paths.root), networkNameOf(hre));
}

/** Runs a state-changing action with the network's first account as the sender. */
export async function runAdminAction(
  hre: HardhatRuntimeEnvironment,
  options: { yes?: boolean },
  action: (ctx: ChainContext, store: RecordStore) => Promise<unknown>,
): Promise<TaskResult> {
  try {
    const networkName = networkNameOf(hre);
    const configFile = networkConfigPath(hre.config.paths.root, networkName);
    const configuredKind = existsSync(configFile) ? loadNetworkConfig(configFile).kind : undefined;
    const store = RecordStore.load(recordPathFor(hre), networkName);
    const connection = await hre.network.getOrCreate();
    const ctx = await createChainContext(hre, connection, configuredKind === undefined ? {} : { configuredKind });
    await assertRecordMatchesChain(ctx.publicClient, ctx.chainId, store.record, store.path);
    if (ctx.kind === "mainnet" && options.yes !== true) {
      throw new ScriptError(`${networkName} is a mainnet: re-run with --yes to confirm this change`);
    }
    console.log(`${networkName} (chain ${ctx.chainId}) as ${getAddress(ctx.wallet.account.address)}`);
    return successfulResult(await action(ctx, store));
  } catch (error) {
    return fail(error);
  }
}

/** Runs a read-only action: no account needed. */
export async function runReadAction(
  hre: HardhatRuntimeEnvironment,
  action: (client: PublicClient, record: DeploymentRecord) => Promise<unknown>,
): Promise<TaskResult> {
  try {
    const networkName = networkNameOf(hre);
    const store = RecordStore.load(recordPathFor(hre), networkName);
    // Reading needs no key: on an http network, connect without the configured accounts so that
    // DEPLOYER_PRIVATE_KEY is not required. (The in-process network is shared instead, so that
    // tests and the admin tasks see the same chain.)
    const connection =
      hre.config.networks[networkName]?.type === "http"
        ? await hre.network.create({ network: networkName, override: { accounts: "remote" } })
        : await hre.network.getOrCreate();
    const client = (await connection.viem.getPublicClient()) as PublicClient;
    await assertRecordMatchesChain(client, await client.getChainId(), store.record, store.path);
    return successfulResult(await action(client, store.record));
  } catch (error) {
    return fail(error);
  }
}
