/**
 * How the token probe decides decimals, symbol, EIP-712 domain and collection methods, against
 * stub tokens that answer exactly the calls each case needs, and against the real mocks.
 */
import { expect } from "chai";
import hre, { network } from "hardhat";
import { domainSeparator, getAddress, type Address, type Hex } from "viem";
import { CONTRACT_FQNS } from "../../scripts/lib/context.js";
import type { TokenConfig } from "../../scripts/lib/network-config.js";
import { detectMethods, planTokenRegistration, probeToken, TokenProbeError, type TokenProbeClient } from "../../scripts/lib/token-probe.js";

const CHAIN_ID = 324705682;
const TOKEN: Address = getAddress("0x2e08028e3c4c2356572e096d8ef835cd5c6030bd");

/** A client whose token answers only the functions in `answers` (others revert). */
function stubClient(answers: Record<string, unknown>, code: Hex | undefined = "0x6080"): TokenProbeClient {
  return {
    getCode: async () => code,
    readContract: (async ({ functionName }: { functionName: string }) => {
      if (!(functionName in answers)) throw new Error(`execution reverted: ${functionName}`);
      return answers[functionName];
    }) as unknown as TokenProbeClient["readContract"],
  };
}

function separator(name: string, version: string, verifyingContract: Address = TOKEN): Hex {
  return domainSeparator({ domain: { name, version, chainId: CHAIN_ID, verifyingContract } });
}

function tokenConfig(overrides: Partial<TokenConfig> = {}): TokenConfig {
  return {
    key: "USDC.e",
    address: TOKEN,
    mock: "MockUSDC",
    expectedSymbols: ["USDC.e", "USDC"],
    collectionMethods: "auto",
    limits: { min: "0.01", max: "1000" },
    fallback: { decimals: 6, eip712Name: "Bridged USDC (SKALE Bridge)", eip712Version: "2" },
    ...overrides,
  };
}

const USDC_NAME = "Bridged USDC (SKALE Bridge)";

async function plan(answers: Record<string, unknown>, config: Partial<TokenConfig> = {}) {
  return planTokenRegistration(await probeToken(stubClient(answers), TOKEN), tokenConfig(config), CHAIN_ID, false);
}

describe("token probe", function () {
  it("refuses an address without code", async function () {
    const error = await probeToken(stubClient({}, "0x"), TOKEN).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(TokenProbeError);
    expect((error as Error).message).to.match(/no contract at 0x2e08/);
  });

  it("uses ERC-5267 eip712Domain() and verifies it against DOMAIN_SEPARATOR()", async function () {
    const p = await plan({
      decimals: 6,
      symbol: "USDC.e",
      name: USDC_NAME,
      eip712Domain: ["0x0f", USDC_NAME, "2", BigInt(CHAIN_ID), TOKEN, `0x${"00".repeat(32)}`, []],
      DOMAIN_SEPARATOR: separator(USDC_NAME, "2"),
      nonces: 0n,
      authorizationState: false,
    });
    expect(p.eip712).to.deep.equal({ name: USDC_NAME, version: "2", source: "erc5267", verified: true });
    expect(p.methods).to.deep.equal(["eip3009", "permit", "erc20"]);
    expect(p.collectionMethods).to.equal(7);
    expect([p.decimals, p.symbol, p.minAmount, p.maxAmount]).to.deep.equal([6, "USDC.e", 10_000n, 1_000_000_000n]);
    expect(p.notes).to.deep.equal([]);
  });

  it("uses name() and version() (FiatToken style) when there is no eip712Domain()", async function () {
    const p = await plan({ decimals: 6, symbol: "USDC.e", name: USDC_NAME, version: "2", DOMAIN_SEPARATOR: separator(USDC_NAME, "2"), nonces: 0n, authorizationState: false });
    expect(p.eip712).to.deep.equal({ name: USDC_NAME, version: "2", source: "name-version", verified: true });
  });

  it("accepts EIP712_VERSION() as the version getter", async function () {
    const p = await plan({ decimals: 6, symbol: "USDC", name: "USD Coin", EIP712_VERSION: "1", DOMAIN_SEPARATOR: separator("USD Coin", "1"), nonces: 0n });
    expect(p.eip712).to.deep.equal({ name: "USD Coin", version: "1", source: "name-version", verified: true });
    expect(p.methods).to.deep.equal(["permit", "erc20"]);
  });

  it("finds the version that reproduces DOMAIN_SEPARATOR() when the token has no version getter, whatever the config says", async function () {
    const p = await plan({ decimals: 6, symbol: "USDC.e", name: USDC_NAME, DOMAIN_SEPARATOR: separator(USDC_NAME, "1"), authorizationState: false });
    expect(p.eip712).to.deep.equal({ name: USDC_NAME, version: "1", source: "domain-separator", verified: true });
    expect(p.methods).to.deep.equal(["eip3009", "erc20"]);
  });

  it("prefers the token's answer over the config file's fallback", async function () {
    const p = await plan(
      { decimals: 6, symbol: "USDC.e", name: USDC_NAME, version: "1", DOMAIN_SEPARATOR: separator(USDC_NAME, "1") },
      { fallback: { decimals: 6, eip712Name: USDC_NAME, eip712Version: "2" } },
    );
    expect(p.eip712.version).to.equal("1");
    expect(p.eip712.source).to.equal("name-version");
  });

  it("falls back to the config, and says so, only when the chain cannot answer", async function () {
    const p = await plan({ authorizationState: false, symbol: "USDC.e" }, { collectionMethods: ["eip3009", "erc20"] });
    expect(p.decimals).to.equal(6);
    expect(p.eip712).to.deep.equal({ name: USDC_NAME, version: "2", source: "config", verified: false });
    expect(p.notes.join("\n")).to.match(/decimals\(\) did not answer; using 6 from the config file/);
    expect(p.notes.join("\n")).to.match(/EIP-712 domain .* taken from the config file/);
  });

  it("fails when no name/version reproduces DOMAIN_SEPARATOR() and the config has no fallback", async function () {
    const error = await plan(
      { decimals: 6, symbol: "USDC.e", name: USDC_NAME, version: "2", DOMAIN_SEPARATOR: separator("Something else", "9") },
      { fallback: { decimals: 6 } },
    ).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(TokenProbeError);
    expect((error as Error).message).to.match(/no EIP-712 name\/version reproduces its DOMAIN_SEPARATOR/);
  });

  it("uses a non-matching config domain only with a loud warning", async function () {
    const p = await plan({ decimals: 6, symbol: "USDC.e", name: USDC_NAME, version: "2", DOMAIN_SEPARATOR: separator("Something else", "9") });
    expect(p.eip712).to.deep.include({ source: "config", verified: false });
    expect(p.notes.join("\n")).to.match(/WARNING: no candidate reproduces the token's DOMAIN_SEPARATOR .*UNVERIFIED/);
  });

  it("registers no EIP-712 domain for a plain ERC-20", async function () {
    const p = await plan({ decimals: 18, symbol: "SKL", name: "SKALE" }, { key: "SKL", expectedSymbols: ["SKL"], fallback: {} });
    expect(p.eip712).to.deep.equal({ name: "", version: "", source: "none", verified: false });
    expect(p.methods).to.deep.equal(["erc20"]);
  });

  it("refuses a token whose symbol is not the expected one (wrong address)", async function () {
    const error = await plan({ decimals: 18, symbol: "WETH", name: "Wrapped Ether" }).catch((e: unknown) => e);
    expect((error as Error).message).to.match(/reports symbol "WETH", expected one of "USDC.e", "USDC"\. Wrong address/);
  });

  it("takes explicit collection methods from the config and warns about unconfirmed ones", async function () {
    const p = await plan({ decimals: 6, symbol: "USDC.e", name: USDC_NAME }, { collectionMethods: ["erc20", "permit"] });
    expect(p.methods).to.deep.equal(["permit", "erc20"]);
    expect(p.notes.join("\n")).to.match(/config declares "permit" but the probe could not confirm it/);
  });

  it("converts limits with the on-chain decimals and rejects bad ones", async function () {
    const answers = { decimals: 18, symbol: "WETH", name: "Wrapped Ether" };
    const weth = { key: "WETH", expectedSymbols: ["WETH"], fallback: {} };
    expect((await plan(answers, { ...weth, limits: { min: "0.00000001", max: "1" } })).minAmount).to.equal(10_000_000_000n);
    for (const [limits, pattern] of [
      [{ min: "0", max: "1" }, /limits\.min must be more than zero/],
      [{ min: "2", max: "1" }, /exceeds limits\.max/],
      [{ min: "0.0000000000000000001", max: "1" }, /more than 18 decimal places/],
    ] as const) {
      const error = await plan(answers, { ...weth, limits }).catch((e: unknown) => e);
      expect((error as Error).message).to.match(pattern);
    }
  });

  it("detects methods from what the token answers", function () {
    const base = { address: TOKEN, decimals: 6, symbol: "X", name: "X", version: null, eip5267: null, domainSeparator: null, hasNonces: false, hasAuthorizationState: false };
    expect(detectMethods(base)).to.deep.equal(["erc20"]);
    expect(detectMethods({ ...base, hasNonces: true })).to.deep.equal(["erc20"]);
    expect(detectMethods({ ...base, domainSeparator: `0x${"11".repeat(32)}`, hasNonces: true })).to.deep.equal(["permit", "erc20"]);
    expect(detectMethods({ ...base, domainSeparator: `0x${"11".repeat(32)}`, hasAuthorizationState: true })).to.deep.equal(["eip3009", "erc20"]);
  });

  it("reads the local mocks on chain like the real tokens", async function () {
    const { viem } = await network.create();
    const client = await viem.getPublicClient();
    const [wallet] = await viem.getWalletClients();
    const deployMock = async (fqn: string, args: readonly unknown[]) => {
      const artifact = await hre.artifacts.readArtifact(fqn);
      const hash = await wallet!.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode as Hex, args } as never);
      return getAddress((await client.waitForTransactionReceipt({ hash })).contractAddress!);
    };
    const usdc = await probeToken(client, await deployMock(CONTRACT_FQNS.MockUSDC, [USDC_NAME, "USDC.e", "2"]));
    expect(usdc).to.deep.include({ decimals: 6, symbol: "USDC.e", name: USDC_NAME, version: "2", hasNonces: true, hasAuthorizationState: true });
    expect(usdc.eip5267).to.deep.include({ name: USDC_NAME, version: "2", fields: 15 });
    const usdt = await probeToken(client, await deployMock(CONTRACT_FQNS.MockUSDT, []));
    expect(usdt).to.deep.include({ decimals: 6, symbol: "USDT", eip5267: null, domainSeparator: null, hasNonces: false, hasAuthorizationState: false });
    const weth = await probeToken(client, await deployMock(CONTRACT_FQNS.WETH9, []));
    expect(detectMethods(weth)).to.deep.equal(["erc20"]);
  });
});
