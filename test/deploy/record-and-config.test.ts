/**
 * The record's validation and writer, the network config files and their env overrides, and
 * the small pure rules (chain classification, mock policy, parsing helpers).
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { getAddress } from "viem";
import {
  classifyNetwork,
  mockRefusalReason,
  SKALE_BASE_CHAIN_ID,
  SKALE_BASE_SEPOLIA_CHAIN_ID,
  usesLegacyTransactions,
} from "../../scripts/lib/chains.js";
import {
  deploymentRecordPath,
  deploymentsDir,
  DeploymentRecordError,
  findToken,
  flagsToMethods,
  methodsToFlags,
  parseDeploymentRecord,
  readDeploymentRecord,
  writeDeploymentRecord,
  type DeploymentRecord,
} from "../../scripts/lib/deployment-record.js";
import { formatDuration, parseDuration, parseTokenAmount, renderTable } from "../../scripts/lib/format.js";
import { loadNetworkConfig, NetworkConfigError, parseNetworkConfig, resolveDeployParams } from "../../scripts/lib/network-config.js";
import { verifyCommands } from "../../scripts/lib/report.js";
import { loadConfigFile, PROJECT_ROOT, tempDir } from "./helpers/fixtures.js";

const A = getAddress("0x70997970c51812dc3a010c7d01b54ccd9d3bc0ab");
const B = getAddress("0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc");
const H = `0x${"ab".repeat(32)}` as const;

function sampleRecord(): DeploymentRecord {
  const now = new Date().toISOString();
  return {
    schemaVersion: 1,
    network: "skaleBaseSepolia",
    chainId: SKALE_BASE_SEPOLIA_CHAIN_ID,
    genesisHash: H,
    kind: "testnet",
    status: "complete",
    deployer: A,
    mocks: false,
    compiler: { solcVersion: "0.8.28", solcLongVersion: "0.8.28+commit.7893614a", evmVersion: "shanghai", optimizer: { enabled: true, runs: 200 }, viaIR: false, buildProfile: "production" },
    contracts: {
      TokenRegistry: { contract: "contracts/TokenRegistry.sol:TokenRegistry", address: B, txHash: H, blockNumber: 7, deployer: A, constructorArgs: [A], bytecodeHash: H, buildInfoId: "solc-x", deployedAt: now },
      SettlementEscrow: {
        contract: "contracts/SettlementEscrow.sol:SettlementEscrow",
        address: A,
        txHash: H,
        blockNumber: 8,
        deployer: A,
        constructorArgs: [B, A, 172800, 86400, A],
        bytecodeHash: H,
        buildInfoId: null,
        deployedAt: now,
      },
    },
    registry: { owner: A, pendingOwner: null },
    escrow: { admin: A, feeRecipient: A, withdrawalDelay: 86400, adminTransferDelay: 172800, feeBps: 0, paused: false, pausers: [A], operators: [] },
    tokens: [
      {
        key: "USDC.e",
        address: B,
        symbol: "USDC.e",
        decimals: 6,
        eip712: { name: "Bridged USDC (SKALE Bridge)", version: "2", source: "erc5267", verified: true },
        collectionMethods: 7,
        methods: ["eip3009", "permit", "erc20"],
        minAmount: "100",
        maxAmount: "1000000000",
        status: "Active",
        mock: false,
        registration: { txHash: H, blockNumber: 9 },
      },
    ],
    pendingTransaction: null,
    transactions: [{ step: "deploy:TokenRegistry", hash: H, blockNumber: 7, type: "legacy", gasUsed: "1", gasPrice: "100000", at: now }],
    createdAt: now,
    updatedAt: now,
    completedAt: now,
  };
}

describe("deployment record", function () {
  it("round-trips through the atomic writer", function () {
    const file = deploymentRecordPath(tempDir(), "skaleBaseSepolia");
    const record = sampleRecord();
    writeDeploymentRecord(file, record);
    expect(readDeploymentRecord(file)).to.deep.equal(record);
    expect(readDeploymentRecord(file).contracts.SettlementEscrow!.constructorArgs).to.deep.equal([B, A, 172800, 86400, A]);
    expect(readdirSync(path.dirname(file))).to.deep.equal(["skaleBaseSepolia.json"]);
  });

  it("names the first bad field", function () {
    const cases: [(r: Record<string, any>) => void, RegExp][] = [
      [(r) => (r.schemaVersion = 2), /schemaVersion: expected 1/],
      [(r) => (r.chainId = "1"), /chainId: expected an integer/],
      [(r) => (r.contracts.TokenRegistry.address = "0x1234"), /contracts\.TokenRegistry\.address: expected a 20-byte 0x address/],
      [(r) => (r.contracts.Unknown = r.contracts.TokenRegistry), /contracts \(key\): expected one of/],
      [(r) => (r.tokens[0].methods = ["erc20"]), /collectionMethods does not match methods/],
      [(r) => (r.tokens[0].minAmount = "2000000000"), /minAmount exceeds maxAmount/],
      [(r) => (r.tokens[0].status = "Paused"), /tokens\[0\]\.status: expected one of None, Active, Deprecated, Removed/],
      [(r) => r.tokens.push({ ...r.tokens[0] }), /duplicate token key:USDC\.e/],
      [(r) => (r.transactions[0].type = "type2"), /transactions\[0\]\.type/],
      [(r) => (r.escrow.feeBps = 20000), /escrow\.feeBps: expected at most 10000/],
    ];
    for (const [mutate, pattern] of cases) {
      const r = JSON.parse(JSON.stringify(sampleRecord()));
      mutate(r);
      expect(() => parseDeploymentRecord(r), String(pattern)).to.throw(DeploymentRecordError, pattern);
    }
  });

  it("refuses to write an invalid record", function () {
    const r = sampleRecord();
    r.tokens[0]!.decimals = 300;
    expect(() => writeDeploymentRecord(deploymentRecordPath(tempDir(), "x"), r)).to.throw(/decimals: expected at most 255/);
  });

  it("finds tokens by key, symbol or address; maps method flags", function () {
    const r = sampleRecord();
    expect(findToken(r, "usdc.e")?.key).to.equal("USDC.e");
    expect(findToken(r, B.toLowerCase())?.key).to.equal("USDC.e");
    expect(findToken(r, "DAI")).to.equal(undefined);
    expect(methodsToFlags(["erc20", "eip3009"])).to.equal(5);
    expect(flagsToMethods(6)).to.deep.equal(["permit", "erc20"]);
  });

  it("lives in DEPLOYMENTS_DIR when set, else deployments/", function () {
    expect(deploymentsDir("/repo", {})).to.equal("/repo/deployments");
    expect(deploymentsDir("/repo", { DEPLOYMENTS_DIR: "/tmp/x" })).to.equal("/tmp/x");
    expect(deploymentsDir("/repo", { DEPLOYMENTS_DIR: "out" })).to.equal("/repo/out");
    expect(() => deploymentRecordPath("/tmp", "../etc")).to.throw(/unsafe network name/);
  });

  it("prints one hardhat verify command per contract, with its constructor arguments", function () {
    expect(verifyCommands(sampleRecord())).to.deep.equal([
      `npx hardhat verify blockscout --network skaleBaseSepolia --contract contracts/TokenRegistry.sol:TokenRegistry ${B} ${A}`,
      `npx hardhat verify blockscout --network skaleBaseSepolia --contract contracts/SettlementEscrow.sol:SettlementEscrow ${A} ${B} ${A} 172800 86400 ${A}`,
    ]);
  });
});

describe("network config files", function () {
  it("all parse, and the SKALE ones carry real token addresses with their source", function () {
    const dir = path.join(PROJECT_ROOT, "scripts", "networks");
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
      const config = loadNetworkConfig(path.join(dir, file));
      expect(config.tokens.map((t) => t.key), file).to.deep.equal(["USDC.e", "USDT", "WETH", "SKL"]);
    }
    for (const [name, chainId, kind] of [["skaleBaseSepolia", SKALE_BASE_SEPOLIA_CHAIN_ID, "testnet"], ["skaleBase", SKALE_BASE_CHAIN_ID, "mainnet"]] as const) {
      const config = loadConfigFile(name);
      expect([config.chainId, config.kind]).to.deep.equal([chainId, kind]);
      for (const t of config.tokens) {
        expect(t.address, `${name} ${t.key}`).to.match(/^0x[0-9a-fA-F]{40}$/);
        expect(t.source, `${name} ${t.key}`).to.match(/^https:\/\/github\.com\/skalenetwork\/portal\/blob\/[0-9a-f]{40}\//);
      }
    }
    expect(loadConfigFile("localhost").tokens.every((t) => t.address === null && t.comment !== undefined)).to.equal(true);
  });

  it("rejects unknown fields, bad addresses, bad limits and bad durations", function () {
    const base = () => JSON.parse(readFileSync(path.join(PROJECT_ROOT, "scripts", "networks", "skaleBaseSepolia.json"), "utf8"));
    const cases: [(c: any) => void, RegExp][] = [
      [(c) => (c.escrow.admn = null), /unknown field "admn"/],
      [(c) => (c.tokens[0].address = "0x123"), /tokens\[0\]\.address: expected an address/],
      [(c) => (c.tokens[0].address = "0x0000000000000000000000000000000000000000"), /zero address/],
      [(c) => (c.tokens[0].limits.min = 1), /limits\.min: expected a decimal string/],
      [(c) => (c.escrow.withdrawalDelay = "1 day"), /withdrawalDelay: .*expected seconds/],
      [(c) => (c.tokens[1].key = "USDC.e"), /duplicate key USDC\.e/],
      [(c) => (c.tokens[0].mock = "MockDAI"), /mock: expected one of MockUSDC/],
      [(c) => (c.tokens[0].collectionMethods = ["eip2612"]), /unknown method "eip2612"/],
      [(c) => (c.kind = "prod"), /kind: expected one of local, testnet, mainnet/],
    ];
    for (const [mutate, pattern] of cases) {
      const c = base();
      mutate(c);
      expect(() => parseNetworkConfig(c, "cfg"), String(pattern)).to.throw(NetworkConfigError, pattern);
    }
  });

  it("resolves escrow parameters: defaults, config, then environment", function () {
    const config = loadConfigFile("skaleBaseSepolia");
    expect(resolveDeployParams(config, A, {})).to.deep.equal({
      admin: A,
      feeRecipient: A,
      withdrawalDelay: 86_400,
      adminTransferDelay: 172_800,
      feeBps: null,
      pausers: [A],
      operators: [],
      registryOwner: A,
    });
    const fromEnv = resolveDeployParams(config, A, {
      ESCROW_ADMIN: B.toLowerCase(),
      ESCROW_WITHDRAWAL_DELAY: "12h",
      ESCROW_ADMIN_TRANSFER_DELAY: "3600",
      ESCROW_PAUSERS: `${A}, ${B}`,
      ESCROW_FEE_BPS: "10",
    });
    expect(fromEnv).to.deep.include({ admin: B, feeRecipient: B, registryOwner: B, withdrawalDelay: 43_200, adminTransferDelay: 3_600, feeBps: 10, pausers: [A, B] });
    expect(() => resolveDeployParams(config, A, { ESCROW_WITHDRAWAL_DELAY: "30m" })).to.throw(/outside the escrow's bounds/);
    expect(() => resolveDeployParams(config, A, { ESCROW_FEE_BPS: "1001" })).to.throw(/ESCROW_FEE_BPS: expected 0\.\.1000/);
    expect(() => resolveDeployParams(config, A, { ESCROW_ADMIN: "alice" })).to.throw(/env ESCROW_ADMIN: expected an address/);
  });
});

describe("chain rules", function () {
  it("has the SKALE Blockscout explorers configured for hardhat-verify", async function () {
    const { default: hre } = await import("hardhat");
    for (const [chainId, url] of [
      [SKALE_BASE_SEPOLIA_CHAIN_ID, "https://base-sepolia-testnet-explorer.skalenodes.com"],
      [SKALE_BASE_CHAIN_ID, "https://skale-base-explorer.skalenodes.com"],
    ] as const) {
      const blockscout = hre.config.chainDescriptors.get(BigInt(chainId))?.blockExplorers.blockscout;
      expect(blockscout, String(chainId)).to.deep.include({ url, apiUrl: `${url}/api` });
    }
  });

  it("sends legacy transactions on SKALE chain ids only", function () {
    expect(usesLegacyTransactions(SKALE_BASE_SEPOLIA_CHAIN_ID)).to.equal(true);
    expect(usesLegacyTransactions(SKALE_BASE_CHAIN_ID)).to.equal(true);
    expect(usesLegacyTransactions(31337)).to.equal(false);
  });

  it("classifies networks", function () {
    const d = { networkName: "x", networkType: "http" as const, chainId: SKALE_BASE_SEPOLIA_CHAIN_ID };
    expect(classifyNetwork({ ...d, networkType: "edr-simulated", chainId: SKALE_BASE_CHAIN_ID })).to.equal("local");
    expect(classifyNetwork({ ...d, url: "http://127.0.0.1:8545" })).to.equal("local");
    expect(classifyNetwork({ ...d, url: "https://base-sepolia-testnet.skalenodes.com/v1/base-testnet" })).to.equal("testnet");
    expect(classifyNetwork({ ...d, chainId: SKALE_BASE_CHAIN_ID, url: "https://skale-base.skalenodes.com/v1/base", configuredKind: "testnet" })).to.equal("mainnet");
    expect(classifyNetwork({ ...d, networkName: "skaleBase", url: "https://rpc.example" })).to.equal("mainnet");
    expect(classifyNetwork({ ...d, chainId: 5, url: "https://rpc.example" })).to.equal("mainnet");
    expect(classifyNetwork({ ...d, chainId: 5, url: "https://rpc.example", configuredKind: "testnet" })).to.equal("testnet");
  });

  it("refuses mocks on skaleBase, on SKALE Base's chain id and on mainnets", function () {
    expect(mockRefusalReason("skaleBase", undefined, undefined)).to.match(/refusing to deploy mock tokens on skaleBase/);
    expect(mockRefusalReason("localhost", SKALE_BASE_CHAIN_ID, "local")).to.match(/chain 1187947933/);
    expect(mockRefusalReason("other", 5, "mainnet")).to.match(/classified as a mainnet/);
    expect(mockRefusalReason("skaleBaseSepolia", SKALE_BASE_SEPOLIA_CHAIN_ID, "testnet")).to.equal(undefined);
    expect(mockRefusalReason("localhost", SKALE_BASE_SEPOLIA_CHAIN_ID, "local")).to.equal(undefined);
  });
});

describe("parsing and printing helpers", function () {
  it("parses durations and amounts", function () {
    expect([parseDuration("86400"), parseDuration("1d"), parseDuration("90m"), parseDuration("2w"), parseDuration(60)]).to.deep.equal([86_400, 86_400, 5_400, 1_209_600, 60]);
    expect(() => parseDuration("1.5h")).to.throw(/expected seconds/);
    expect(formatDuration(90_061)).to.equal("1d 1h 1m 1s");
    expect(parseTokenAmount("0.0001", 6)).to.equal(100n);
    expect(parseTokenAmount("1000", 18)).to.equal(10n ** 21n);
    expect(() => parseTokenAmount("0.0000001", 6)).to.throw(/more than 6 decimal places/);
    expect(() => parseTokenAmount("-1", 6)).to.throw(/expected a decimal number/);
  });

  it("renders aligned tables", function () {
    expect(renderTable(["a", "bb"], [["xxx", "y"]])).to.equal("a    bb\n---  --\nxxx  y");
  });
});
