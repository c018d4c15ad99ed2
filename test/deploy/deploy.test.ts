/**
 * The deploy steps against Hardhat's in-process network configured like SKALE Base Sepolia
 * (chain 324705682, shanghai): legacy transactions, the record's content, resuming after an
 * interruption at any point, and the refusals.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { expect } from "chai";
import hre, { network } from "hardhat";
import { getAddress, keccak256, toHex, type Address, type PublicClient } from "viem";
import { settlementEscrowAbi, tokenRegistryAbi } from "../../scripts/lib/abis.js";
import { SKALE_BASE_CHAIN_ID, SKALE_BASE_SEPOLIA_CHAIN_ID } from "../../scripts/lib/chains.js";
import { CONTRACT_FQNS } from "../../scripts/lib/context.js";
import { deploy, type DeployOptions } from "../../scripts/lib/deploy.js";
import { parseDeploymentRecord, readDeploymentRecord, type DeploymentRecord } from "../../scripts/lib/deployment-record.js";
import { ScriptError } from "../../scripts/lib/tx.js";
import { configWithTokens, loadConfigFile, recordPathIn, tempDir, testContext, type TestContext } from "./helpers/fixtures.js";

/** Transactions of a complete mock deployment: 4 mocks, registry, escrow, 1 pauser grant, 4 registrations. */
const FULL_MOCK_DEPLOYMENT_TXS = 11;

async function freshChain(override: Record<string, unknown> = {}): Promise<TestContext & { publicClient: PublicClient }> {
  const connection = await network.create({ override });
  const t = await testContext(hre, connection);
  return { ...t, publicClient: t.ctx.publicClient };
}

function mockOptions(dir: string, extra: Partial<DeployOptions> = {}): DeployOptions {
  return { config: loadConfigFile("default"), recordPath: recordPathIn(dir, "default"), deployMocks: true, env: {}, ...extra };
}

async function nonceOf(client: PublicClient, address: Address): Promise<number> {
  return client.getTransactionCount({ address });
}

/** Every recorded contract has code and was created by its recorded transaction; the token table equals the registry. */
async function expectRecordConsistentWithChain(client: PublicClient, record: DeploymentRecord): Promise<void> {
  expect(record.status).to.equal("complete");
  expect(record.pendingTransaction).to.equal(null);
  for (const c of Object.values(record.contracts)) {
    expect(await client.getCode({ address: c.address })).to.not.equal(undefined);
    const receipt = await client.getTransactionReceipt({ hash: c.txHash });
    expect(getAddress(receipt.contractAddress!)).to.equal(c.address);
    expect(Number(receipt.blockNumber)).to.equal(c.blockNumber);
  }
  const onChain = await client.readContract({ address: record.contracts.TokenRegistry!.address, abi: tokenRegistryAbi, functionName: "allTokens" });
  expect(onChain.map((t) => getAddress(t.token))).to.deep.equal(record.tokens.map((t) => t.address));
  for (const [i, t] of onChain.entries()) {
    const r = record.tokens[i]!;
    expect([t.symbol, t.decimals, t.collectionMethods, t.eip712Name, t.eip712Version, t.minAmount.toString(), t.maxAmount.toString()]).to.deep.equal([
      r.symbol,
      r.decimals,
      r.collectionMethods,
      r.eip712.name,
      r.eip712.version,
      r.minAmount,
      r.maxAmount,
    ]);
  }
}

describe("deploy (in-process network imitating SKALE Base Sepolia)", function () {
  describe("a full deployment with mocks", function () {
    let chain: Awaited<ReturnType<typeof freshChain>>;
    let dir: string;
    let record: DeploymentRecord;

    before(async function () {
      chain = await freshChain();
      dir = tempDir();
      const result = await deploy(chain.ctx, mockOptions(dir));
      record = result.record;
      expect(result.transactionsSent).to.equal(FULL_MOCK_DEPLOYMENT_TXS);
    });

    it("runs on chain 324705682 with legacy (type 0) transactions priced by eth_gasPrice", async function () {
      expect(chain.ctx.chainId).to.equal(SKALE_BASE_SEPOLIA_CHAIN_ID);
      expect(chain.ctx.policy.legacy).to.equal(true);
      expect(record.transactions).to.have.length(FULL_MOCK_DEPLOYMENT_TXS);
      for (const t of record.transactions) {
        const tx = await chain.publicClient.getTransaction({ hash: t.hash });
        expect(tx.type, t.step).to.equal("legacy");
        expect(tx.gasPrice, t.step).to.be.a("bigint");
        expect(tx.maxFeePerGas, t.step).to.equal(undefined);
        expect(t.type).to.equal("legacy");
      }
    });

    it("writes a valid record with addresses, blocks, tx hashes, compiler settings, deployer and timestamps", async function () {
      const onDisk = readDeploymentRecord(recordPathIn(dir, "default"));
      expect(onDisk).to.deep.equal(record);
      expect(() => parseDeploymentRecord(JSON.parse(readFileSync(recordPathIn(dir, "default"), "utf8")))).to.not.throw();
      expect(record.network).to.equal("default");
      expect(record.chainId).to.equal(SKALE_BASE_SEPOLIA_CHAIN_ID);
      expect(record.kind).to.equal("local");
      expect(record.mocks).to.equal(true);
      expect(record.deployer).to.equal(getAddress(chain.wallets[0]!.account.address));
      expect(Object.keys(record.contracts).sort()).to.deep.equal(["MockSKL", "MockUSDC", "MockUSDT", "SettlementEscrow", "TokenRegistry", "WETH9"]);
      expect(record.genesisHash).to.equal((await chain.publicClient.getBlock({ blockNumber: 0n })).hash);

      const solc = hre.config.solidity.profiles.default!.compilers[0]!;
      const settings = solc.settings as { evmVersion: string; optimizer: { enabled: boolean; runs: number } };
      expect(record.compiler).to.include({ solcVersion: solc.version, evmVersion: settings.evmVersion, buildProfile: "default", viaIR: false });
      expect(record.compiler.evmVersion).to.equal("shanghai");
      expect(record.compiler.optimizer).to.deep.equal({ enabled: settings.optimizer.enabled, runs: settings.optimizer.runs });
      expect(record.compiler.solcLongVersion).to.match(/^0\.8\.28\+commit\./);

      const escrowArtifact = await hre.artifacts.readArtifact(CONTRACT_FQNS.SettlementEscrow);
      expect(record.contracts.SettlementEscrow!.bytecodeHash).to.equal(keccak256(escrowArtifact.bytecode as `0x${string}`));
      expect(record.contracts.SettlementEscrow!.contract).to.equal(CONTRACT_FQNS.SettlementEscrow);
      expect(record.contracts.SettlementEscrow!.constructorArgs).to.deep.equal([
        record.contracts.TokenRegistry!.address,
        record.deployer,
        2 * 86_400,
        86_400,
        record.deployer,
      ]);
      for (const stamp of [record.createdAt, record.updatedAt, record.completedAt!]) expect(Date.parse(stamp)).to.be.greaterThan(0);
      await expectRecordConsistentWithChain(chain.publicClient, record);
    });

    it("records the token table with what the tokens say on chain", async function () {
      const byKey = Object.fromEntries(record.tokens.map((t) => [t.key, t]));
      expect(Object.keys(byKey)).to.deep.equal(["USDC.e", "USDT", "WETH", "SKL"]);
      expect(byKey["USDC.e"]).to.deep.include({
        address: record.contracts.MockUSDC!.address,
        symbol: "USDC.e",
        decimals: 6,
        methods: ["eip3009", "permit", "erc20"],
        collectionMethods: 7,
        minAmount: "100",
        maxAmount: "1000000000",
        status: "Active",
        mock: true,
      });
      expect(byKey["USDC.e"]!.eip712).to.deep.equal({ name: "Bridged USDC (SKALE Bridge)", version: "2", source: "erc5267", verified: true });
      expect(byKey.USDT).to.deep.include({ symbol: "USDT", decimals: 6, methods: ["erc20"], eip712: { name: "", version: "", source: "none", verified: false } });
      expect(byKey.WETH).to.deep.include({ symbol: "WETH", decimals: 18, methods: ["erc20"], minAmount: "10000000000", maxAmount: "1000000000000000000" });
      expect(byKey.SKL).to.deep.include({ symbol: "SKL", decimals: 18, methods: ["erc20"] });
      for (const t of record.tokens) {
        expect(t.registration, t.key).to.not.equal(null);
        expect(record.transactions.find((x) => x.step === `register:${t.key}`)?.hash).to.equal(t.registration!.txHash);
      }
    });

    it("sets up the escrow as configured: admin, delays, fee recipient, pauser", async function () {
      const escrow = record.contracts.SettlementEscrow!.address;
      const read = <F extends "registry" | "defaultAdmin" | "withdrawalDelay" | "defaultAdminDelay" | "feeRecipient">(functionName: F) =>
        chain.publicClient.readContract({ address: escrow, abi: settlementEscrowAbi, functionName } as never) as Promise<unknown>;
      expect(await read("registry")).to.equal(record.contracts.TokenRegistry!.address);
      expect(await read("defaultAdmin")).to.equal(record.deployer);
      expect(await read("withdrawalDelay")).to.equal(86_400n);
      expect(await read("defaultAdminDelay")).to.equal(172_800);
      expect(await read("feeRecipient")).to.equal(record.deployer);
      expect(record.escrow).to.deep.include({ admin: record.deployer, pausers: [record.deployer], operators: [], paused: false, feeBps: 0 });
      expect(record.registry).to.deep.equal({ owner: record.deployer, pendingOwner: null });
    });

    it("sends nothing when run again, and leaves the record's content unchanged", async function () {
      const nonce = await nonceOf(chain.publicClient, record.deployer);
      const again = await deploy(chain.ctx, mockOptions(dir));
      expect(again.transactionsSent).to.equal(0);
      expect(await nonceOf(chain.publicClient, record.deployer)).to.equal(nonce);
      const { updatedAt: _a, ...before } = record;
      const { updatedAt: _b, ...after } = again.record;
      expect(after).to.deep.equal(before);
      expect(chain.log.lines.some((l) => l.includes("Nothing to do"))).to.equal(true);
    });

    it("refuses to continue when the record does not match the chain", async function () {
      const file = recordPathIn(dir, "default");
      const tampered = readDeploymentRecord(file);
      tampered.contracts.TokenRegistry!.address = getAddress(toHex(1234, { size: 20 }));
      const otherDir = tempDir();
      writeFileSync(recordPathIn(otherDir, "default"), JSON.stringify(tampered));
      const error = await deploy(chain.ctx, mockOptions(otherDir)).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ScriptError);
      expect((error as Error).message).to.match(/does not match chain 324705682: TokenRegistry at 0x0+4[dD]2 has no code.*DEPLOY_RESET=true/);
    });

    it("refuses to switch between mock and real tokens within one record", async function () {
      const real = configWithTokens({
        "USDC.e": record.contracts.MockUSDC!.address,
        USDT: record.contracts.MockUSDT!.address,
        WETH: record.contracts.WETH9!.address,
        SKL: record.contracts.MockSKL!.address,
      });
      const error = await deploy(chain.ctx, mockOptions(dir, { deployMocks: false, config: real })).catch((e: unknown) => e);
      expect((error as Error).message).to.match(/was made with mock tokens; run again with DEPLOY_MOCKS=true/);
    });
  });

  describe("resuming an interrupted deployment", function () {
    for (const failAfter of [1, 5, 6, 9]) {
      it(`picks up after a failure following transaction ${failAfter} without redeploying anything`, async function () {
        const chain = await freshChain();
        const dir = tempDir();
        const deployer = getAddress(chain.wallets[0]!.account.address);
        let sent = 0;
        const error = await deploy(
          chain.ctx,
          mockOptions(dir, {
            hooks: {
              afterTransaction: () => {
                sent += 1;
                if (sent === failAfter) throw new Error("injected failure");
              },
            },
          }),
        ).catch((e: unknown) => e);
        expect((error as Error).message).to.equal("injected failure");

        const partial = readDeploymentRecord(recordPathIn(dir, "default"));
        expect(partial.status).to.equal("in-progress");
        expect(partial.pendingTransaction).to.equal(null);
        expect(partial.transactions).to.have.length(failAfter);
        expect(await nonceOf(chain.publicClient, deployer)).to.equal(failAfter);

        const resumed = await deploy(chain.ctx, mockOptions(dir));
        expect(resumed.transactionsSent).to.equal(FULL_MOCK_DEPLOYMENT_TXS - failAfter);
        expect(await nonceOf(chain.publicClient, deployer)).to.equal(FULL_MOCK_DEPLOYMENT_TXS);
        for (const [name, c] of Object.entries(partial.contracts)) {
          expect(resumed.record.contracts[name as keyof typeof partial.contracts]).to.deep.equal(c, name);
        }
        expect(resumed.record.transactions.slice(0, failAfter)).to.deep.equal(partial.transactions);
        expect(new Set(resumed.record.transactions.map((t) => t.step)).size).to.equal(FULL_MOCK_DEPLOYMENT_TXS);
        await expectRecordConsistentWithChain(chain.publicClient, resumed.record);
      });
    }

    it("completes a step whose transaction was broadcast but whose receipt was never recorded", async function () {
      const chain = await freshChain();
      const dir = tempDir();
      const deployer = getAddress(chain.wallets[0]!.account.address);
      const error = await deploy(
        chain.ctx,
        mockOptions(dir, {
          hooks: {
            afterBroadcast: (step) => {
              if (step === "deploy:SettlementEscrow") throw new Error("killed after broadcast");
            },
          },
        }),
      ).catch((e: unknown) => e);
      expect((error as Error).message).to.equal("killed after broadcast");
      const partial = readDeploymentRecord(recordPathIn(dir, "default"));
      expect(partial.pendingTransaction?.step).to.equal("deploy:SettlementEscrow");
      expect(partial.contracts.SettlementEscrow).to.equal(undefined);
      const pendingHash = partial.pendingTransaction!.hash;

      const resumed = await deploy(chain.ctx, mockOptions(dir));
      expect(resumed.record.contracts.SettlementEscrow!.txHash).to.equal(pendingHash);
      expect(await nonceOf(chain.publicClient, deployer)).to.equal(FULL_MOCK_DEPLOYMENT_TXS);
      expect(resumed.transactionsSent).to.equal(FULL_MOCK_DEPLOYMENT_TXS - 6);
      await expectRecordConsistentWithChain(chain.publicClient, resumed.record);
    });

    it("resends a step whose recorded transaction was dropped (its nonce still unused)", async function () {
      const chain = await freshChain();
      const dir = tempDir();
      let sent = 0;
      await deploy(chain.ctx, mockOptions(dir, { hooks: { afterTransaction: () => { if (++sent === 2) throw new Error("stop"); } } })).catch(() => {});
      const file = recordPathIn(dir, "default");
      const partial = readDeploymentRecord(file);
      partial.pendingTransaction = { step: "deploy:WETH9", hash: keccak256(toHex("never sent")), nonce: 2, sentAt: new Date().toISOString(), deployment: null };
      writeFileSync(file, JSON.stringify(partial));

      const resumed = await deploy(chain.ctx, mockOptions(dir));
      expect(chain.log.lines.some((l) => l.includes("was dropped"))).to.equal(true);
      expect(resumed.record.transactions.map((t) => t.hash)).to.not.include(partial.pendingTransaction.hash);
      await expectRecordConsistentWithChain(chain.publicClient, resumed.record);
    });

    it("stops when a recorded transaction is unknown but its nonce was used by something else", async function () {
      const chain = await freshChain();
      const dir = tempDir();
      await deploy(chain.ctx, mockOptions(dir));
      const file = recordPathIn(dir, "default");
      const done = readDeploymentRecord(file);
      done.pendingTransaction = { step: "deploy:WETH9", hash: keccak256(toHex("lost")), nonce: 0, sentAt: new Date().toISOString(), deployment: null };
      writeFileSync(file, JSON.stringify(done));
      const error = await deploy(chain.ctx, mockOptions(dir)).catch((e: unknown) => e);
      expect((error as Error).message).to.match(/unknown to the node, yet nonce 0 .* was used by another transaction/);
    });

    it("archives the record of a restarted local chain and deploys from scratch", async function () {
      const first = await freshChain({ initialDate: new Date("2030-01-01T00:00:00Z") });
      const dir = tempDir();
      await deploy(first.ctx, mockOptions(dir));
      const second = await freshChain({ initialDate: new Date("2031-01-01T00:00:00Z") });
      const result = await deploy(second.ctx, mockOptions(dir));
      expect(result.archivedRecord).to.be.a("string");
      expect(existsSync(result.archivedRecord!)).to.equal(true);
      expect(result.transactionsSent).to.equal(FULL_MOCK_DEPLOYMENT_TXS);
      expect(readdirSync(dir).filter((f) => f.endsWith(".stale.json"))).to.have.length(1);
    });
  });

  describe("real tokens and refusals", function () {
    it("stops with a clear message, before sending anything, when a real token address is missing", async function () {
      const chain = await freshChain();
      const dir = tempDir();
      const error = await deploy(chain.ctx, mockOptions(dir, { deployMocks: false })).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ScriptError);
      const message = (error as Error).message;
      expect(message).to.match(/Missing real token address\(es\) in .*default\.json/);
      for (const key of ["USDC.e", "USDT", "WETH", "SKL"]) expect(message).to.include(`- ${key}`);
      expect(message).to.include("DEPLOY_MOCKS=true");
      expect(await nonceOf(chain.publicClient, chain.wallets[0]!.account.address)).to.equal(0);
      expect(existsSync(recordPathIn(dir, "default"))).to.equal(false);
    });

    it("stops before sending anything when a configured token address has no contract", async function () {
      const chain = await freshChain();
      const dir = tempDir();
      const eoa = getAddress(chain.wallets[5]!.account.address);
      const config = configWithTokens({ "USDC.e": eoa, USDT: eoa, WETH: eoa, SKL: eoa });
      const error = await deploy(chain.ctx, mockOptions(dir, { deployMocks: false, config })).catch((e: unknown) => e);
      expect((error as Error).message).to.match(/no contract at 0x/);
      expect(await nonceOf(chain.publicClient, chain.wallets[0]!.account.address)).to.equal(0);
    });

    it("registers existing tokens from the config, reading decimals and EIP-712 domains from them", async function () {
      const chain = await freshChain();
      const tokenDeployer = chain.wallets[1]!;
      const deployToken = async (name: string, args: readonly unknown[]) => {
        const artifact = await hre.artifacts.readArtifact(CONTRACT_FQNS[name as keyof typeof CONTRACT_FQNS]);
        const hash = await tokenDeployer.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode as `0x${string}`, args } as never);
        return getAddress((await chain.publicClient.waitForTransactionReceipt({ hash })).contractAddress!);
      };
      // A USDC.e look-alike whose EIP-712 version is "1": the record must say "1", not the config's "2".
      const usdc = await deployToken("MockUSDC", ["Bridged USDC (SKALE Bridge)", "USDC.e", "1"]);
      const config = configWithTokens({
        "USDC.e": usdc,
        USDT: await deployToken("MockUSDT", []),
        WETH: await deployToken("WETH9", []),
        SKL: await deployToken("MockSKL", []),
      });
      const dir = tempDir();
      const result = await deploy(chain.ctx, mockOptions(dir, { deployMocks: false, config }));
      expect(result.transactionsSent).to.equal(7);
      expect(result.record.mocks).to.equal(false);
      expect(Object.keys(result.record.contracts).sort()).to.deep.equal(["SettlementEscrow", "TokenRegistry"]);
      const usdcRecord = result.record.tokens.find((t) => t.key === "USDC.e")!;
      expect(usdcRecord).to.deep.include({ address: usdc, mock: false, decimals: 6 });
      expect(usdcRecord.eip712).to.deep.equal({ name: "Bridged USDC (SKALE Bridge)", version: "1", source: "erc5267", verified: true });
      await expectRecordConsistentWithChain(chain.publicClient, result.record);
    });

    it("refuses mock tokens on a chain with SKALE Base's chain id, even a local one", async function () {
      const chain = await freshChain({ chainId: SKALE_BASE_CHAIN_ID });
      const dir = tempDir();
      const config = loadConfigFile("default", (raw) => {
        raw.chainId = SKALE_BASE_CHAIN_ID;
      });
      const error = await deploy(chain.ctx, mockOptions(dir, { config })).catch((e: unknown) => e);
      expect((error as Error).message).to.match(/refusing to deploy mock tokens on chain 1187947933/);
      expect(await nonceOf(chain.publicClient, chain.wallets[0]!.account.address)).to.equal(0);
    });

    it("refuses mock tokens when the network config describes a mainnet", async function () {
      const chain = await freshChain();
      const config = loadConfigFile("default", (raw) => {
        raw.kind = "mainnet";
      });
      const error = await deploy(chain.ctx, mockOptions(tempDir(), { config })).catch((e: unknown) => e);
      expect((error as Error).message).to.match(/refusing to deploy mock tokens/);
    });

    it("refuses a config written for another chain", async function () {
      const chain = await freshChain();
      const config = loadConfigFile("skaleBase");
      const error = await deploy(chain.ctx, mockOptions(tempDir(), { config, deployMocks: false })).catch((e: unknown) => e);
      expect((error as Error).message).to.match(/is for chain 1187947933, but network default is chain 324705682/);
    });

    it("refuses, on a SKALE chain, a build profile that does not target shanghai (Hardhat's derived production profile)", async function () {
      const chain = await freshChain();
      const ctx = { ...chain.ctx, compiler: { ...chain.ctx.compiler, buildProfile: "production", evmVersion: "solc-default" } };
      const error = await deploy(ctx, mockOptions(tempDir())).catch((e: unknown) => e);
      expect((error as Error).message).to.match(/build profile "production" compiles for EVM "solc-default", but SKALE runs up to shanghai/);
      expect(await nonceOf(chain.publicClient, chain.wallets[0]!.account.address)).to.equal(0);
    });

    it("refuses artifacts compiled for another EVM than the build profile says (stale artifacts)", async function () {
      const chain = await freshChain();
      const artifacts = {
        load: async (fqn: string) => ({ ...(await chain.ctx.artifacts.load(fqn)), evmVersion: "cancun" }),
      };
      const error = await deploy({ ...chain.ctx, artifacts }, mockOptions(tempDir())).catch((e: unknown) => e);
      expect((error as Error).message).to.match(/the MockUSDC artifact was compiled for EVM "cancun", but build profile "default" says "shanghai"/);
      expect(await nonceOf(chain.publicClient, chain.wallets[0]!.account.address)).to.equal(0);
    });

    it("uses EIP-1559 transactions on a chain that is not SKALE", async function () {
      const chain = await freshChain({ chainId: 31337 });
      const config = loadConfigFile("default", (raw) => {
        raw.chainId = 31337;
      });
      const result = await deploy(chain.ctx, mockOptions(tempDir(), { config }));
      expect(chain.ctx.policy.legacy).to.equal(false);
      expect(new Set(result.record.transactions.map((t) => t.type))).to.deep.equal(new Set(["eip1559"]));
    });
  });

  describe("configuration overrides", function () {
    it("takes admin, fee recipient, delays, fee and registry owner from the environment", async function () {
      const chain = await freshChain();
      const [deployer, admin, feeRecipient, operator] = chain.wallets.map((w) => getAddress(w.account.address)) as [Address, Address, Address, Address];
      const result = await deploy(
        chain.ctx,
        mockOptions(tempDir(), {
          env: {
            ESCROW_ADMIN: admin,
            ESCROW_FEE_RECIPIENT: feeRecipient,
            ESCROW_WITHDRAWAL_DELAY: "2h",
            ESCROW_ADMIN_TRANSFER_DELAY: "3d",
            ESCROW_OPERATORS: operator,
            ESCROW_FEE_BPS: "30",
          },
        }),
      );
      const escrow = result.record.contracts.SettlementEscrow!;
      expect(escrow.constructorArgs).to.deep.equal([result.record.contracts.TokenRegistry!.address, admin, 3 * 86_400, 7_200, feeRecipient]);
      expect(result.record.escrow).to.deep.include({ admin, feeRecipient, withdrawalDelay: 7_200, adminTransferDelay: 259_200, feeBps: 0, pausers: [], operators: [] });
      // The deployer is not the escrow admin, so it can grant no roles and set no fee: it says so.
      expect(chain.log.lines.filter((l) => l.startsWith("WARN")).join("\n")).to.match(/PAUSER_ROLE .*not granted[\s\S]*OPERATOR_ROLE .*not granted[\s\S]*setFee\(30\)/);
      // The registry goes to the admin in two steps.
      expect(result.record.registry).to.deep.equal({ owner: deployer, pendingOwner: admin });
    });

    it("applies the configured fee when the deployer is the admin", async function () {
      const chain = await freshChain();
      const result = await deploy(chain.ctx, mockOptions(tempDir(), { env: { ESCROW_FEE_BPS: "25" } }));
      expect(result.record.escrow!.feeBps).to.equal(25);
      expect(result.record.transactions.map((t) => t.step)).to.include("set-fee:25");
    });

    it("rejects a withdrawal delay outside the escrow's bounds before deploying", async function () {
      const chain = await freshChain();
      const error = await deploy(chain.ctx, mockOptions(tempDir(), { env: { ESCROW_WITHDRAWAL_DELAY: "31d" } })).catch((e: unknown) => e);
      expect((error as Error).message).to.match(/withdrawal delay 2678400s is outside the escrow's bounds/);
    });
  });

  describe("the ABIs the scripts use", function () {
    it("match the compiled contracts", async function () {
      const { tokenRegistryAbi: registryAbi, settlementEscrowAbi: escrowAbi } = await import("../../scripts/lib/abis.js");
      const { toFunctionSignature } = await import("viem");
      for (const [fqn, abi] of [
        [CONTRACT_FQNS.TokenRegistry, registryAbi],
        [CONTRACT_FQNS.SettlementEscrow, escrowAbi],
      ] as const) {
        const artifact = await hre.artifacts.readArtifact(fqn);
        const compiled = new Set(
          (artifact.abi as { type: string }[]).filter((i) => i.type === "function").map((i) => toFunctionSignature(i as never)),
        );
        for (const item of abi.filter((i) => i.type === "function")) {
          expect(compiled.has(toFunctionSignature(item as never)), `${fqn}: ${toFunctionSignature(item as never)}`).to.equal(true);
        }
      }
    });
  });
});
