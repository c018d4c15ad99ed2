/**
 * Deploys (or resumes deploying) TokenRegistry + SettlementEscrow and registers the network's
 * tokens. See scripts/README.md.
 *
 *   npx hardhat run scripts/deploy.ts --network skaleBaseSepolia
 *   DEPLOY_MOCKS=true npx hardhat run scripts/deploy.ts --network localhost
 *
 * Use the default build profile (no --build-profile): Hardhat 3.18's derived "production" profile
 * drops the configured evmVersion (shanghai) and would emit Cancun opcodes SKALE rejects; the
 * script refuses such artifacts on SKALE chains.
 *
 * Environment:
 *   DEPLOY_MOCKS=true          deploy MockUSDC/MockUSDT/MockSKL/WETH9 and register them instead of
 *                              the real tokens (local and test networks only; refused on skaleBase)
 *   DEPLOYMENTS_DIR            where <network>.json is written (default: deployments/)
 *   DEPLOY_CONFIG              network config file (default: scripts/networks/<network>.json)
 *   DEPLOY_RESET=true          archive the existing record and deploy everything again
 *   CONFIRM_MAINNET=true       required on skaleBase
 *   ESCROW_ADMIN, ESCROW_FEE_RECIPIENT, ESCROW_WITHDRAWAL_DELAY (e.g. 1d), ESCROW_ADMIN_TRANSFER_DELAY (e.g. 2d),
 *   ESCROW_FEE_BPS, ESCROW_PAUSERS, ESCROW_OPERATORS (comma lists), REGISTRY_OWNER
 *                              override the network config file
 *   CONFIRMATIONS (default 1), TX_TIMEOUT_SECONDS (default 180)
 *   DEPLOYER_PRIVATE_KEY       Hardhat configuration variable for the SKALE networks (keystore or env)
 */
import hre from "hardhat";
import { mockRefusalReason } from "./lib/chains.js";
import { deploymentRecordPath, deploymentsDir } from "./lib/deployment-record.js";
import { deploy } from "./lib/deploy.js";
import { createChainContext, networkNameOf } from "./lib/hardhat-context.js";
import { loadNetworkConfig, networkConfigPath } from "./lib/network-config.js";
import { envFlag, formatDeploymentSummary, reportFailure, verifyCommands } from "./lib/report.js";
import { ScriptError } from "./lib/tx.js";

async function main(): Promise<void> {
  const env = process.env;
  const root = hre.config.paths.root;
  const networkName = networkNameOf(hre);
  const deployMocks = envFlag(env, "DEPLOY_MOCKS");

  // Refuse mocks on the production network before connecting to anything.
  if (deployMocks) {
    const reason = mockRefusalReason(networkName, undefined, undefined);
    if (reason) throw new ScriptError(reason);
  }
  const config = loadNetworkConfig(networkConfigPath(root, networkName, env));
  if (deployMocks && config.kind === "mainnet") {
    throw new ScriptError(`refusing to deploy mock tokens: ${config.file} describes a mainnet`);
  }

  const connection = await hre.network.create();
  try {
    const ctx = await createChainContext(hre, connection, { configuredKind: config.kind, env });
    const recordPath = deploymentRecordPath(deploymentsDir(root, env), networkName);
    const result = await deploy(ctx, {
      config,
      recordPath,
      deployMocks,
      reset: envFlag(env, "DEPLOY_RESET"),
      confirmMainnet: envFlag(env, "CONFIRM_MAINNET"),
      env,
    });
    console.log();
    console.log(formatDeploymentSummary(result.record, result.recordPath));
    if (ctx.kind !== "local") {
      console.log();
      const profile = result.record.compiler.buildProfile === "production" ? "" : ` --build-profile ${result.record.compiler.buildProfile}`;
      console.log("Verify on Blockscout with:");
      console.log(`  npx hardhat run${profile} scripts/verify.ts --network ${networkName}`);
      console.log("or contract by contract:");
      for (const command of verifyCommands(result.record)) console.log(`  ${command}`);
    }
  } finally {
    await connection.close();
  }
}

await main().catch(reportFailure);
