/**
 * Glue between Hardhat 3 and the pure-ish modules: builds a ChainContext from the HRE and a
 * network connection. The only module under scripts/lib that imports Hardhat types.
 */
import { readFile } from "node:fs/promises";
import type { Abi, Hex } from "viem";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import type { NetworkConnection } from "hardhat/types/network";
import { classifyNetwork } from "./chains.js";
import { CONTRACT_FQNS, type ArtifactSource, type ChainContext, type LoadedArtifact } from "./context.js";
import type { CompilerRecord, NetworkKind } from "./deployment-record.js";
import { consoleLogger, ScriptError, txPolicyFor, type Logger, type SignerWallet } from "./tx.js";

/** The build profile this Hardhat invocation uses (`--build-profile`, default "default"). */
export function buildProfileOf(hre: HardhatRuntimeEnvironment): string {
  return hre.globalOptions.buildProfile ?? "default";
}

/** The network this Hardhat invocation targets (`--network`, default "default"). */
export function networkNameOf(hre: HardhatRuntimeEnvironment): string {
  return hre.globalOptions.network ?? "default";
}

interface BuildInfoSummary {
  solcLongVersion: string | null;
  evmVersion: string;
}

/** The parts of a build info the scripts need, cached per id (build infos are large). */
async function readBuildInfo(hre: HardhatRuntimeEnvironment, buildInfoId: string, cache: Map<string, BuildInfoSummary | null>): Promise<BuildInfoSummary | null> {
  if (cache.has(buildInfoId)) return cache.get(buildInfoId) ?? null;
  let summary: BuildInfoSummary | null = null;
  try {
    const file = await hre.artifacts.getBuildInfoPath(buildInfoId);
    if (file !== undefined) {
      const buildInfo = JSON.parse(await readFile(file, "utf8")) as { solcLongVersion?: string; input?: { settings?: { evmVersion?: string } } };
      summary = { solcLongVersion: buildInfo.solcLongVersion ?? null, evmVersion: buildInfo.input?.settings?.evmVersion ?? "solc-default" };
    }
  } catch {
    summary = null;
  }
  cache.set(buildInfoId, summary);
  return summary;
}

export function artifactSource(hre: HardhatRuntimeEnvironment): ArtifactSource {
  const buildInfos = new Map<string, BuildInfoSummary | null>();
  return {
    async load(fullyQualifiedName: string): Promise<LoadedArtifact> {
      const artifact = await hre.artifacts.readArtifact(fullyQualifiedName);
      if (artifact.bytecode === "0x" || artifact.bytecode === "") throw new ScriptError(`${fullyQualifiedName} has no bytecode (abstract?)`);
      const unlinked = Object.keys(artifact.linkReferences).length > 0;
      if (unlinked) throw new ScriptError(`${fullyQualifiedName} needs linked libraries, which these scripts do not support`);
      const buildInfoId = artifact.buildInfoId ?? null;
      const buildInfo = buildInfoId === null ? null : await readBuildInfo(hre, buildInfoId, buildInfos);
      return {
        contract: `${artifact.sourceName}:${artifact.contractName}`,
        abi: artifact.abi as Abi,
        bytecode: artifact.bytecode as Hex,
        buildInfoId,
        evmVersion: buildInfo?.evmVersion ?? null,
      };
    },
  };
}

/** Compiler version and settings of the build profile in use, read from the Hardhat config. */
export async function compilerRecord(hre: HardhatRuntimeEnvironment, profileName = buildProfileOf(hre)): Promise<CompilerRecord> {
  const profile = hre.config.solidity.profiles[profileName];
  if (profile === undefined) throw new ScriptError(`unknown build profile "${profileName}"`);
  const compiler = profile.compilers[0];
  if (compiler === undefined) throw new ScriptError(`build profile "${profileName}" has no compiler`);
  const settings = (compiler.settings ?? {}) as { evmVersion?: string; optimizer?: { enabled?: boolean; runs?: number }; viaIR?: boolean };
  let solcLongVersion: string | null = null;
  const buildInfoId = await hre.artifacts.getBuildInfoId(CONTRACT_FQNS.TokenRegistry).catch(() => undefined);
  if (buildInfoId !== undefined) solcLongVersion = (await readBuildInfo(hre, buildInfoId, new Map()))?.solcLongVersion ?? null;
  return {
    solcVersion: compiler.version,
    solcLongVersion,
    // Absent: solc picks its own default (cancun for 0.8.28). Hardhat 3.18 drops the configured
    // evmVersion from the "production" profile it derives from a single-version config.
    evmVersion: settings.evmVersion ?? "solc-default",
    optimizer: { enabled: settings.optimizer?.enabled ?? false, runs: settings.optimizer?.runs ?? 200 },
    viaIR: settings.viaIR ?? false,
    buildProfile: profileName,
  };
}

export interface ChainContextOptions {
  /** `kind` from the network's deployment config, when there is one. */
  configuredKind?: NetworkKind;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
}

/** Builds the context for `connection`; the first configured account signs. */
export async function createChainContext(
  hre: HardhatRuntimeEnvironment,
  connection: NetworkConnection,
  options: ChainContextOptions = {},
): Promise<ChainContext> {
  const publicClient = await connection.viem.getPublicClient();
  let wallets: SignerWallet[];
  try {
    wallets = (await connection.viem.getWalletClients()) as SignerWallet[];
  } catch (error) {
    throw new ScriptError(
      `no usable account for network ${connection.networkName}: ${(error as Error).message}. ` +
        `Set DEPLOYER_PRIVATE_KEY (npx hardhat keystore set DEPLOYER_PRIVATE_KEY, or the environment variable).`,
    );
  }
  const wallet = wallets[0];
  if (wallet === undefined) {
    throw new ScriptError(`network ${connection.networkName} has no account configured: set DEPLOYER_PRIVATE_KEY (npx hardhat keystore set DEPLOYER_PRIVATE_KEY, or the environment variable)`);
  }
  const chainId = await publicClient.getChainId();
  const config = connection.networkConfig;
  const url = config.type === "http" ? await config.url.getUrl() : undefined;
  const description: Parameters<typeof classifyNetwork>[0] = { networkName: connection.networkName, networkType: config.type, chainId };
  if (url !== undefined) description.url = url;
  if (options.configuredKind !== undefined) description.configuredKind = options.configuredKind;
  const kind = classifyNetwork(description);
  const artifacts = artifactSource(hre);
  const errorAbis: Abi[] = [];
  for (const fqn of [CONTRACT_FQNS.TokenRegistry, CONTRACT_FQNS.SettlementEscrow]) {
    try {
      errorAbis.push((await artifacts.load(fqn)).abi);
    } catch {
      // explanations get poorer, nothing breaks
    }
  }
  const ctx: ChainContext = {
    networkName: connection.networkName,
    networkType: config.type,
    chainId,
    kind,
    publicClient: publicClient as ChainContext["publicClient"],
    wallet,
    policy: txPolicyFor(chainId, kind, options.env),
    log: options.log ?? consoleLogger,
    errorAbis,
    artifacts,
    compiler: await compilerRecord(hre),
  };
  if (url !== undefined) ctx.url = url;
  return ctx;
}
