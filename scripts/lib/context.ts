/**
 * What the deploy steps and admin actions need from their environment, as plain data and
 * clients. `hardhat-context.ts` builds it from a Hardhat network connection; tests can build it
 * from any viem clients.
 */
import type { Abi, Hex } from "viem";
import type { CompilerRecord, DeployedContractName, NetworkKind } from "./deployment-record.js";
import type { TxContext } from "./tx.js";

export interface LoadedArtifact {
  /** Fully qualified name. */
  contract: string;
  abi: Abi;
  bytecode: Hex;
  buildInfoId: string | null;
  /**
   * `settings.evmVersion` the artifact was really compiled with, from its build info; "solc-default"
   * when the setting was absent (solc then picks its own default, cancun for 0.8.28); null when the
   * build info is unavailable.
   */
  evmVersion: string | null;
}

export interface ArtifactSource {
  load(fullyQualifiedName: string): Promise<LoadedArtifact>;
}

export interface ChainContext extends TxContext {
  networkName: string;
  networkType: "edr-simulated" | "http";
  /** For http networks. */
  url?: string;
  chainId: number;
  kind: NetworkKind;
  artifacts: ArtifactSource;
  compiler: CompilerRecord;
}

export const CONTRACT_FQNS: Readonly<Record<DeployedContractName, string>> = {
  TokenRegistry: "contracts/TokenRegistry.sol:TokenRegistry",
  SettlementEscrow: "contracts/SettlementEscrow.sol:SettlementEscrow",
  MockUSDC: "contracts/mocks/MockUSDC.sol:MockUSDC",
  MockUSDT: "contracts/mocks/MockUSDT.sol:MockUSDT",
  MockSKL: "contracts/mocks/MockSKL.sol:MockSKL",
  WETH9: "contracts/mocks/WETH9.sol:WETH9",
};

/** MockUSDC imitates USDC.e on SKALE: EIP-712 name "Bridged USDC (SKALE Bridge)", version "2". */
export const MOCK_USDC_NAME = "Bridged USDC (SKALE Bridge)";
export const MOCK_USDC_SYMBOL = "USDC.e";
export const MOCK_USDC_EIP712_VERSION = "2";
