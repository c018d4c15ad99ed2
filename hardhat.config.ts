import { createRequire } from "node:module";
import { configVariable, defineConfig } from "hardhat/config";
import hardhatViem from "@nomicfoundation/hardhat-viem";
import hardhatViemAssertions from "@nomicfoundation/hardhat-viem-assertions";
import hardhatMocha from "@nomicfoundation/hardhat-mocha";
import hardhatNetworkHelpers from "@nomicfoundation/hardhat-network-helpers";
import hardhatVerify from "@nomicfoundation/hardhat-verify";
import hardhatKeystore from "@nomicfoundation/hardhat-keystore";
import { ppaTasks } from "./scripts/tasks/index.js";

/** SKALE chains reject Cancun opcodes (TSTORE/MCOPY), so everything targets Shanghai. */
export const EVM_VERSION = "shanghai";
export const SOLC_VERSION = "0.8.28";

/** SKALE Base Sepolia: the chain id local nodes imitate, so signatures made locally look like testnet ones. */
export const SKALE_BASE_SEPOLIA_CHAIN_ID = 324705682;
export const SKALE_BASE_CHAIN_ID = 1187947933;

// The compiler is loaded from the pinned npm `solc` package: Hardhat's own download is unreachable
// on machines without general internet access, and the wasm build gives the same bytecode everywhere.
const solcPath = createRequire(import.meta.url).resolve("solc/soljson.js");

/** 200 runs keeps the escrow under the 24 KiB code-size limit. */
const COMPILER_SETTINGS = {
  evmVersion: EVM_VERSION,
  optimizer: { enabled: true, runs: 200 },
};

export default defineConfig({
  plugins: [hardhatViem, hardhatViemAssertions, hardhatMocha, hardhatNetworkHelpers, hardhatVerify, hardhatKeystore],
  tasks: ppaTasks,
  // Both profiles are spelled out: a single-version config makes Hardhat derive "production" from
  // the version alone, dropping evmVersion, and solc would then emit Cancun opcodes SKALE rejects.
  solidity: {
    profiles: {
      default: { version: SOLC_VERSION, path: solcPath, settings: COMPILER_SETTINGS },
      production: { version: SOLC_VERSION, path: solcPath, settings: COMPILER_SETTINGS },
    },
  },
  paths: {
    tests: {
      mocha: "test",
      solidity: "test/solidity",
    },
  },
  test: {
    mocha: { timeout: 60_000 },
    solidity: {
      fuzz: { runs: 256 },
      invariant: { runs: 64, depth: 64, failOnRevert: false },
    },
  },
  // Blockscout explorers for hardhat-verify (`npx hardhat verify blockscout`, scripts/verify.ts).
  chainDescriptors: {
    [SKALE_BASE_SEPOLIA_CHAIN_ID]: {
      name: "SKALE Base Sepolia",
      chainType: "l1",
      blockExplorers: {
        blockscout: {
          name: "SKALE Base Sepolia Explorer",
          url: "https://base-sepolia-testnet-explorer.skalenodes.com",
          apiUrl: "https://base-sepolia-testnet-explorer.skalenodes.com/api",
        },
      },
    },
    [SKALE_BASE_CHAIN_ID]: {
      name: "SKALE Base",
      chainType: "l1",
      blockExplorers: {
        blockscout: {
          name: "SKALE Base Explorer",
          url: "https://skale-base-explorer.skalenodes.com",
          apiUrl: "https://skale-base-explorer.skalenodes.com/api",
        },
      },
    },
  },
  networks: {
    default: {
      type: "edr-simulated",
      chainType: "l1",
      hardfork: EVM_VERSION,
      chainId: SKALE_BASE_SEPOLIA_CHAIN_ID,
    },
    localhost: {
      type: "http",
      chainType: "l1",
      url: process.env.LOCAL_RPC_URL ?? "http://127.0.0.1:8545",
    },
    skaleBaseSepolia: {
      type: "http",
      chainType: "l1",
      chainId: SKALE_BASE_SEPOLIA_CHAIN_ID,
      url: process.env.SKALE_BASE_SEPOLIA_RPC_URL ?? "https://base-sepolia-testnet.skalenodes.com/v1/base-testnet",
      accounts: [configVariable("DEPLOYER_PRIVATE_KEY")],
    },
    skaleBase: {
      type: "http",
      chainType: "l1",
      chainId: SKALE_BASE_CHAIN_ID,
      url: process.env.SKALE_BASE_RPC_URL ?? "https://skale-base.skalenodes.com/v1/base",
      accounts: [configVariable("DEPLOYER_PRIVATE_KEY")],
    },
  },
});
