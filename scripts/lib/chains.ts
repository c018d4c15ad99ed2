/**
 * Chain facts and the rules derived from them (which networks get legacy transactions, which
 * count as local, where mocks are allowed). Pure functions: no Hardhat, no network access.
 */
import type { NetworkKind } from "./deployment-record.js";

/** Same values as in hardhat.config.ts (not imported from there: that would load every plugin). */
export const SKALE_BASE_SEPOLIA_CHAIN_ID = 324705682;
export const SKALE_BASE_CHAIN_ID = 1187947933;
export const SKALE_CHAIN_IDS: readonly number[] = [SKALE_BASE_SEPOLIA_CHAIN_ID, SKALE_BASE_CHAIN_ID];

/** Hardhat network names of the production chain; mocks are refused there whatever the chain id. */
export const MAINNET_NETWORK_NAMES: readonly string[] = ["skaleBase"];

export interface ExplorerInfo {
  name: string;
  url: string;
  apiUrl: string;
}

export const SKALE_EXPLORERS: Readonly<Record<number, ExplorerInfo>> = {
  [SKALE_BASE_SEPOLIA_CHAIN_ID]: {
    name: "SKALE Base Sepolia Explorer",
    url: "https://base-sepolia-testnet-explorer.skalenodes.com",
    apiUrl: "https://base-sepolia-testnet-explorer.skalenodes.com/api",
  },
  [SKALE_BASE_CHAIN_ID]: {
    name: "SKALE Base Explorer",
    url: "https://skale-base-explorer.skalenodes.com",
    apiUrl: "https://skale-base-explorer.skalenodes.com/api",
  },
};

/**
 * SKALE chains (and local nodes imitating them) take legacy (type 0) transactions priced with
 * `eth_gasPrice`: they have no EIP-1559 fee market.
 */
export function usesLegacyTransactions(chainId: number): boolean {
  return SKALE_CHAIN_IDS.includes(chainId);
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0"]);

export function isLoopbackUrl(url: string): boolean {
  try {
    return LOOPBACK_HOSTS.has(new URL(url).hostname);
  } catch {
    return false;
  }
}

export interface NetworkDescription {
  networkName: string;
  /** Hardhat network type. */
  networkType: "edr-simulated" | "http";
  /** For http networks. */
  url?: string;
  chainId: number;
  /** What the network's config file says, if it has one. */
  configuredKind?: NetworkKind;
}

/**
 * Classifies a network. A simulated or loopback network is local whatever its chain id (so a
 * local node can imitate SKALE Base Sepolia); SKALE Base's chain id on a remote node is always
 * mainnet whatever the config says; otherwise the config decides, and an unknown remote network
 * without a config counts as mainnet (the strictest rules).
 */
export function classifyNetwork(d: NetworkDescription): NetworkKind {
  if (d.networkType === "edr-simulated") return "local";
  if (d.url !== undefined && isLoopbackUrl(d.url)) return "local";
  if (d.chainId === SKALE_BASE_CHAIN_ID || MAINNET_NETWORK_NAMES.includes(d.networkName)) return "mainnet";
  if (d.chainId === SKALE_BASE_SEPOLIA_CHAIN_ID) return d.configuredKind === "mainnet" ? "mainnet" : "testnet";
  return d.configuredKind ?? "mainnet";
}

/**
 * Mock tokens are for local and test networks only. They are refused on the skaleBase network,
 * on any chain with SKALE Base's chain id (even a local node imitating it, so a record can never
 * pair mainnet's chain id with a mock), and on anything classified as mainnet.
 * Returns the reason for a refusal, or undefined when mocks are allowed.
 */
export function mockRefusalReason(networkName: string, chainId: number | undefined, kind: NetworkKind | undefined): string | undefined {
  if (MAINNET_NETWORK_NAMES.includes(networkName)) {
    return `refusing to deploy mock tokens on ${networkName}: mocks are for local and test networks only`;
  }
  if (chainId === SKALE_BASE_CHAIN_ID) {
    return `refusing to deploy mock tokens on chain ${chainId} (SKALE Base mainnet's chain id), even on a local node`;
  }
  if (kind === "mainnet") {
    return `refusing to deploy mock tokens on ${networkName}: it is classified as a mainnet`;
  }
  return undefined;
}

/** EVM versions in order; SKALE runs up to shanghai (no TSTORE/MCOPY). */
export const EVM_VERSIONS: readonly string[] = [
  "homestead",
  "tangerineWhistle",
  "spuriousDragon",
  "byzantium",
  "constantinople",
  "petersburg",
  "istanbul",
  "berlin",
  "london",
  "paris",
  "shanghai",
  "cancun",
  "prague",
  "osaka",
];
export const SKALE_MAX_EVM_VERSION = "shanghai";

/** Whether bytecode compiled for `evmVersion` runs on SKALE ("solc-default" does not: 0.8.25+ default to cancun). */
export function evmVersionRunsOnSkale(evmVersion: string): boolean {
  const index = EVM_VERSIONS.indexOf(evmVersion);
  return index !== -1 && index <= EVM_VERSIONS.indexOf(SKALE_MAX_EVM_VERSION);
}
