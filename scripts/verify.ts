/**
 * Verifies every contract of deployments/<network>.json on the network's Blockscout explorer
 * (SKALE Base Sepolia / SKALE Base, configured as chainDescriptors in hardhat.config.ts).
 *
 *   npx hardhat run --build-profile default scripts/verify.ts --network skaleBaseSepolia
 *
 * Verify with the build profile the contracts were deployed with (recorded in the deployment
 * record; the deploy script prints the exact command). hardhat-verify otherwise uses the
 * "production" profile, which in Hardhat 3.18 lacks the configured evmVersion, so its compiler
 * input would not reproduce the deployed bytecode.
 *
 * Environment: DEPLOYMENTS_DIR (default deployments/), VERIFY_FORCE=true to re-verify,
 * VERIFY_CONTRACTS=TokenRegistry,SettlementEscrow to verify only some.
 */
import hre from "hardhat";
import { verifyContract } from "@nomicfoundation/hardhat-verify/verify";
import { deploymentRecordPath, deploymentsDir, readDeploymentRecord, type ContractRecord } from "./lib/deployment-record.js";
import { splitList } from "./lib/format.js";
import { networkNameOf } from "./lib/hardhat-context.js";
import { envFlag, reportFailure, verifyCommands } from "./lib/report.js";
import { ScriptError } from "./lib/tx.js";

async function main(): Promise<void> {
  const networkName = networkNameOf(hre);
  const recordPath = deploymentRecordPath(deploymentsDir(hre.config.paths.root), networkName);
  const record = readDeploymentRecord(recordPath);
  if (record.kind === "local") throw new ScriptError(`${networkName} is a local network: there is no explorer to verify on`);
  const profile = hre.globalOptions.buildProfile ?? "production";
  if (profile !== record.compiler.buildProfile) {
    throw new ScriptError(
      `the contracts were built with the "${record.compiler.buildProfile}" profile; verify with the same one: ` +
        `npx hardhat run --build-profile ${record.compiler.buildProfile} scripts/verify.ts --network ${networkName}`,
    );
  }
  const only = splitList(process.env.VERIFY_CONTRACTS);
  const targets = (Object.entries(record.contracts) as [string, ContractRecord][]).filter(([name]) => only.length === 0 || only.includes(name));
  if (targets.length === 0) throw new ScriptError(`nothing to verify in ${recordPath}${only.length > 0 ? ` matching ${only.join(", ")}` : ""}`);

  console.log(`Verifying ${targets.length} contract(s) of ${recordPath} on Blockscout (build profile ${profile}).`);
  const failures: string[] = [];
  for (const [name, c] of targets) {
    console.log(`\n${name} at ${c.address}`);
    try {
      await verifyContract(
        {
          address: c.address,
          constructorArgs: c.constructorArgs.map((a) => (typeof a === "number" ? BigInt(a) : a)),
          contract: c.contract,
          provider: "blockscout",
          creationTxHash: c.txHash,
          force: envFlag(process.env, "VERIFY_FORCE"),
        },
        hre,
      );
    } catch (error) {
      failures.push(`${name}: ${(error as Error).message}`);
      console.error(`  failed: ${(error as Error).message}`);
    }
  }
  if (failures.length > 0) {
    console.error("\nSome verifications failed. To retry one by hand:");
    for (const command of verifyCommands(record)) console.error(`  ${command}`);
    throw new ScriptError(`${failures.length} of ${targets.length} verification(s) failed`);
  }
}

await main().catch(reportFailure);
