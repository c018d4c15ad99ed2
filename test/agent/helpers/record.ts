/**
 * A deployment record (deployments/<network>.json) describing the test's escrow system, written
 * with the project's own writer so it passes the same validation the CLI reads it with. Fields the
 * agent never reads (transaction hashes, bytecode hashes) carry well-formed placeholders.
 */
import path from "node:path";
import { getAddress, zeroHash } from "viem";
import {
  DEPLOYMENT_RECORD_SCHEMA_VERSION,
  type ContractRecord,
  type DeploymentRecord,
  type TokenRecord,
  flagsToMethods,
  writeDeploymentRecord,
} from "../../../scripts/lib/deployment-record.js";
import { LIMITS, TOKEN_METHODS, USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION } from "../../contracts/helpers/escrow.js";
import type { EscrowSystem } from "./gateway.js";

export const TOKEN_KEYS = { usdc: "USDC.e", usdt: "USDT", skl: "SKL", weth: "WETH" } as const;

export async function writeTestRecord(s: EscrowSystem, dir: string): Promise<string> {
  const now = new Date().toISOString();
  const deployer = getAddress(s.admin.account.address);
  const contract = (name: string, address: string): ContractRecord => ({
    contract: `contracts/${name}.sol:${name}`,
    address: getAddress(address),
    txHash: zeroHash,
    blockNumber: 1,
    deployer,
    constructorArgs: [],
    bytecodeHash: zeroHash,
    buildInfoId: null,
    deployedAt: now,
  });
  const token = (name: keyof typeof TOKEN_KEYS, symbol: string, decimals: number, eip712: { name: string; version: string }): TokenRecord => ({
    key: TOKEN_KEYS[name],
    address: getAddress(s[name].address),
    symbol,
    decimals,
    eip712: { ...eip712, source: eip712.name === "" ? "none" : "config", verified: false },
    collectionMethods: TOKEN_METHODS[name],
    methods: flagsToMethods(TOKEN_METHODS[name]),
    minAmount: LIMITS[name].min.toString(),
    maxAmount: LIMITS[name].max.toString(),
    status: "Active",
    mock: true,
    registration: null,
  });
  const none = { name: "", version: "" };
  const record: DeploymentRecord = {
    schemaVersion: DEPLOYMENT_RECORD_SCHEMA_VERSION,
    network: "localhost",
    chainId: s.chainId,
    genesisHash: (await s.publicClient.getBlock({ blockNumber: 0n })).hash,
    kind: "local",
    status: "complete",
    deployer,
    mocks: true,
    compiler: { solcVersion: "0.8.28", solcLongVersion: null, evmVersion: "shanghai", optimizer: { enabled: true, runs: 200 }, viaIR: false, buildProfile: "default" },
    contracts: {
      TokenRegistry: contract("TokenRegistry", s.registry.address),
      SettlementEscrow: contract("SettlementEscrow", s.escrow.address),
    },
    registry: null,
    escrow: null,
    tokens: [
      token("usdc", "USDC", 6, { name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION }),
      token("usdt", "USDT", 6, none),
      token("skl", "SKL", 18, none),
      token("weth", "WETH", 18, none),
    ],
    pendingTransaction: null,
    transactions: [],
    createdAt: now,
    updatedAt: now,
    completedAt: now,
  };
  const file = path.join(dir, "localhost.json");
  writeDeploymentRecord(file, record);
  return file;
}
