import { createRequire } from "node:module";
import { configVariable, defineConfig } from "hardhat/config";
import hardhatViem from "@nomicfoundation/hardhat-viem";
import hardhatViemAssertions from "@nomicfoundation/hardhat-viem-assertions";
import hardhatMocha from "@nomicfoundation/hardhat-mocha";
import hardhatNetworkHelpers from "@nomicfoundation/hardhat-network-helpers";
import hardhatVerify from "@nomicfoundation/hardhat-verify";
import hardhatKeystore from "@nomicfoundation/hardhat-keystore";

/** SKALE chains reject Cancun opcodes (TSTORE/MCOPY), so everything targets Shanghai. */
export const EVM_VERSION = "shanghai";
export const SOLC_VERSION = "0.8.28";

/** SKALE Base Sepolia: the chain id local nodes imitate, so signatures made locally look like testnet ones. */
export const SKALE_BASE_SEPOLIA_CHAIN_ID = 324705682;
export const SKALE_BASE_CHAIN_ID = 1187947933;

// The compiler is loaded from the pinned npm `solc` package: Hardhat's own download is unreachable
// on machines without general internet access, and the wasm build gives the same bytecode everywhere.
const solcPath = createRequire(import.meta.url).resolve("solc/soljson.js");

export default defineConfig({
  plugins: [hardhatViem, hardhatViemAssertions, hardhatMocha, hardhatNetworkHelpers, hardhatVerify, hardhatKeystore],
  solidity: {
    version: SOLC_VERSION,
    path: solcPath,
    settings: {
      evmVersion: EVM_VERSION,
      optimizer: { enabled: true, runs: 200 },
    },
  },
  paths: {
    tests: {
      mocha: "test/contracts",
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
